"""Shared by the custody, verify, signing and report tests: a real triaged workspace, copied
per test so each attack starts from the same honest state."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

CLI = [sys.executable, "-m", "osint_video.cli"]
HOSTILE_TITLE = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'


def run(
    home: Path, *args: str, check: bool = True, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OSINT_VIDEO_HOME": str(home), "OSINT_VIDEO_OPERATOR": "tester"}
    proc = subprocess.run(
        [*CLI, *args], capture_output=True, text=True, env=env, timeout=300, cwd=cwd
    )
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def titled_clip(path: Path, title: str = HOSTILE_TITLE) -> Path:
    """A 3 s synthetic clip with two hard cuts and a hostile title tag."""
    srcs = [
        "testsrc2=size=320x240:rate=10",
        "mandelbrot=size=320x240:rate=10",
        "smptebars=size=320x240:rate=10",
    ]
    cmd = ["ffmpeg", "-v", "error", "-y"]
    for s in srcs:
        cmd += ["-f", "lavfi", "-t", "1", "-i", s]
    cmd += [
        "-filter_complex",
        "[0:v][1:v][2:v]concat=n=3:v=1[v]",
        "-map",
        "[v]",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        "-metadata",
        f"title={title}",
        str(path),
    ]
    subprocess.run(cmd, check=True, capture_output=True, timeout=60)
    return path


def make_workspace(home: Path, media: Path, *, keys: bool = True) -> dict[str, Path]:
    """keys init (optional), then triage a real shared clip and a hostile synthetic one."""
    clip = titled_clip(home.parent / "hostile title.mp4")
    if keys:
        run(home, "keys", "init")
    run(home, "triage", str(media / "with-gps.mov"), str(clip), "--case", "kursk")
    dirs = sorted((home / "derived").iterdir())
    return {d.name: d for d in dirs if d.is_dir()}


def copy_workspace(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)
    return dst


def sql(home: Path, statement: str, *params: object) -> list[tuple]:
    con = sqlite3.connect(home / "cases.sqlite")
    try:
        rows = con.execute(statement, params).fetchall()
        con.commit()
        return rows
    finally:
        con.close()


def clip_sha(home: Path, clip_id: int) -> str:
    return sql(home, "SELECT sha256 FROM clips WHERE id = ?", clip_id)[0][0]

"""Nothing is written outside the workspace: compiled templates live in WORKSPACE/cache.

Before, Jinja2's bytecode cache went to ~/.cache/osint-video/templates, outside `--home`: a
desk that keeps a case on an encrypted volume left traces in the user's home.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from custody_helpers import CLI, titled_clip


def test_triage_and_every_report_format_leave_home_empty(
    tmp_path: Path, shared_media: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    ws = tmp_path / "ws"
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")}
    env.update(HOME=str(home), OSINT_VIDEO_HOME=str(ws), OSINT_VIDEO_OPERATOR="tester")

    def cli(*args: str) -> None:
        proc = subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr

    clip = titled_clip(tmp_path / "clip.mp4", "plain")
    cli("keys", "init")
    cli("triage", str(shared_media / "with-gps.mov"), str(clip), "--case", "kursk")
    for fmt in ("html", "pdf", "md", "json"):
        cli("report", "1", "--format", fmt)
        cli("report", "--case", "kursk", "--format", fmt)
    cli("verify", "--all")
    cli("verify-report", str(next(ws.glob("derived/*/report.json"))))
    assert sorted(p.relative_to(home).as_posix() for p in home.rglob("*")) == []
    assert any((ws / "cache" / "templates").iterdir())  # the cache still works, inside

"""Issue 13, class 5: a folder walk does not leave the folder, and a link is recorded as a link.

The tree (`in/` is what the user gives; `outside/` is any other place on the machine):

    in/real.mp4           a clip
    in/alias.mp4       -> real.mp4         inside: not followed (real.mp4 is walked anyway)
    in/secret.mp4      -> ../outside/o.mp4  outside: refused, one line
    in/elsewhere       -> ../outside        outside folder: refused, one line
    in/self            -> .                 loop: must not hang
    in/sub/up          -> ..                loop: must not hang
    in/sub/gone.mp4    -> nowhere.mp4       broken: one line
    outside/o.mp4, outside/o2.mp4, outside/back -> ../in (a loop through the outside)
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from synth import make_clips

from osint_video.paths import BROKEN, OUTSIDE

CLI = [sys.executable, "-m", "osint_video.cli"]


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("tree")
    clips = make_clips(base / "clips", 3)
    inside, outside = base / "in", base / "outside"
    (inside / "sub").mkdir(parents=True)
    outside.mkdir()
    shutil.copyfile(clips[0], inside / "real.mp4")
    shutil.copyfile(clips[1], outside / "o.mp4")
    shutil.copyfile(clips[2], outside / "o2.mp4")
    links = {
        inside / "alias.mp4": "real.mp4",
        inside / "secret.mp4": "../outside/o.mp4",
        inside / "elsewhere": "../outside",
        inside / "self": ".",
        inside / "sub" / "up": "..",
        inside / "sub" / "gone.mp4": "nowhere.mp4",
        outside / "back": "../in",
    }
    for link, target in links.items():
        link.symlink_to(target)
    return base


def run(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full = {**os.environ, "OSINT_VIDEO_HOME": str(home), "OSINT_VIDEO_OPERATOR": "tester"}
    full.pop("OSINT_VIDEO_CONFIG", None)
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, env={**full, **(env or {})}, timeout=120
    )


def errors(proc: subprocess.CompletedProcess) -> list[str]:
    return [ln for ln in proc.stderr.splitlines() if ln.startswith("error")]


@pytest.mark.parametrize("command", [["triage"], ["queue", "add"]])
def test_a_walk_stays_inside_the_folder(tree: Path, tmp_path: Path, command: list[str]) -> None:
    inside = tree / "in"
    proc = run(tmp_path / "ws", *command, str(inside))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert errors(proc) == [
        f"error: {inside}/elsewhere: {OUTSIDE}",
        f"error: {inside}/secret.mp4: {OUTSIDE}",
        f"error: {inside}/sub/gone.mp4: {BROKEN}",
    ], proc.stderr
    assert "real.mp4 -> clip 1" in proc.stderr and "clip 2" not in proc.stderr
    listing = json.loads(run(tmp_path / "ws", "queue", "list", "--json").stdout)
    assert [r["filename"] for r in listing] == ["real.mp4"]


def test_following_links_out_of_the_folder_is_a_setting(tree: Path, tmp_path: Path) -> None:
    """With [intake] follow_symlinks the links to outside are followed: each file once, however
    many links lead to it (secret.mp4 and elsewhere/o.mp4 are one file), and loops end."""
    home, inside = tmp_path / "ws", tree / "in"
    env = {"OSINT_VIDEO__INTAKE__FOLLOW_SYMLINKS": "true"}
    proc = run(home, "triage", str(inside), "--json", env=env)
    assert proc.returncode == 1 and errors(proc) == [f"error: {inside}/sub/gone.mp4: {BROKEN}"]
    inputs = [json.loads(ln)["input"] for ln in proc.stdout.splitlines()]
    assert inputs == [
        f"{inside}/real.mp4",
        f"{inside}/secret.mp4",
        f"{inside}/elsewhere/o2.mp4",
        f"{inside}/sub/gone.mp4",
    ]
    reports = {Path(r["input"]).name: r for r in map(json.loads, proc.stdout.splitlines())}
    acq = reports["secret.mp4"]["acquisitions"][0]
    assert acq["source_name"] == "secret.mp4" and acq["link_target_name"] == "o.mp4"


def test_a_link_given_directly_is_followed_and_recorded_as_a_link(
    tree: Path, tmp_path: Path
) -> None:
    link = tree / "in" / "secret.mp4"
    target = (tree / "outside" / "o.mp4").resolve()
    proc = run(tmp_path / "ws", "triage", str(link), "--json")
    assert proc.returncode == 0, proc.stderr
    rep = json.loads(proc.stdout)
    assert rep["clip"]["filename"] == "secret.mp4"
    acq = rep["acquisitions"][0]
    assert acq["source_name"] == "secret.mp4"
    assert acq["source_path_sha256"] == hashlib.sha256(str(link).encode()).hexdigest()
    assert acq["link_target_name"] == "o.mp4"
    assert acq["link_target_path_sha256"] == hashlib.sha256(str(target).encode()).hexdigest()
    acquired = rep["custody"][0]["details"]
    assert acquired["source_name"] == "secret.mp4" and acquired["link_target_name"] == "o.mp4"
    md = run(tmp_path / "ws", "report", "1", "--format", "md").stdout
    assert "secret.mp4 (symbolic link to o.mp4)" in md
    html = Path(run(tmp_path / "ws", "report", "1", "--format", "html").stdout.strip())
    assert "symbolic link to o.mp4" in html.read_text("utf-8")
    plain = run(tmp_path / "ws2", "triage", str(tree / "in" / "real.mp4"), "--json")
    assert "link_target_name" not in json.loads(plain.stdout)["acquisitions"][0]

"""Shared fixtures: the real shared media, real ffmpeg, synthetic clips.

Under CI=true a missing real component fails the test instead of skipping it: a green CI must
mean the real thing was exercised.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_MEDIA = Path(os.environ.get("OSINT_VIDEO_SHARED_MEDIA", REPO.parent / "shared" / "media"))
# Real servers the tests start themselves: Label Studio and PostgreSQL (tests/ is on sys.path).
pytest_plugins = ["lsserver", "pgserver"]

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(what: str) -> None:
    """Fail under CI, skip on a developer's machine."""
    if IN_CI:
        pytest.fail(f"{what} is missing (CI=true: real components must be present)")
    pytest.skip(f"{what} is missing")


@pytest.fixture(scope="session", autouse=True)
def _ffmpeg_present() -> None:
    for tool in ("ffmpeg", "ffprobe"):
        if shutil.which(tool) is None:
            missing(f"the {tool} binary")


@pytest.fixture(scope="session")
def shared_media() -> Path:
    if not (SHARED_MEDIA / "truth.json").is_file():
        missing(f"shared media at {SHARED_MEDIA}")
    return SHARED_MEDIA


@pytest.fixture(scope="session")
def truth(shared_media: Path) -> dict:
    return json.loads((shared_media / "truth.json").read_text())["files"]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty workspace, selected the way a user would (OSINT_VIDEO_HOME)."""
    ws = tmp_path / "ws"
    monkeypatch.setenv("OSINT_VIDEO_HOME", str(ws))
    monkeypatch.setenv("OSINT_VIDEO_OPERATOR", "tester")
    monkeypatch.delenv("OSINT_VIDEO_DB", raising=False)
    monkeypatch.delenv("OSINT_VIDEO_CONFIG", raising=False)
    return ws


@pytest.fixture
def cli(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., tuple[int, str, str]]:
    """`main()` in this process (fast): returns (exit code, stdout, stderr)."""
    from osint_video import cli as cli_module

    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["osint-video", *args])
        capsys.readouterr()
        with pytest.raises(SystemExit) as stop:
            cli_module.main()
        got = capsys.readouterr()
        return int(stop.value.code or 0), got.out, got.err

    return run

"""Tool versions in custody events are asked of the tools themselves, and only the tools a step
names are listed (a report step does not claim ffmpeg)."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from pathlib import Path

import av
import cv2
import pytest
from conftest import missing

from osint_video.tools import BASE, MISSING, TOOLS, UNKNOWN, tessdata_fingerprints, tool_versions


def _first_line(argv: list[str]) -> str:
    return subprocess.run(argv, capture_output=True, check=True).stdout.decode().splitlines()[0]


def test_binaries_report_their_own_version() -> None:
    for tool in ("ffmpeg", "ffprobe"):
        line = _first_line([tool, "-version"])
        assert line.startswith(f"{tool} version {tool_versions([tool])[tool]} ")


def test_pyav_and_opencv_are_the_loaded_libraries() -> None:
    got = tool_versions(["pyav", "opencv"])
    assert got["pyav"].startswith(av.__version__ + " (libavcodec ")
    assert got["opencv"] == cv2.__version__


def test_a_step_gets_only_the_tools_it_names() -> None:
    assert list(tool_versions(["weasyprint"])) == [*BASE, "weasyprint"]
    assert "ffmpeg" not in tool_versions(["jinja2"])


def test_every_known_tool_is_installed_here() -> None:
    """The venv and the Makefile's Debian packages provide every tool a step may name."""
    if shutil.which("tesseract") is None:
        missing("the tesseract binary (Debian package tesseract-ocr)")
    got = tool_versions(TOOLS)
    assert [k for k, v in got.items() if v in (MISSING, UNKNOWN)] == []
    assert re.fullmatch(r"\d+\.\d+\.\d+", got["tesseract"])
    assert re.search(r"\(sdk \d+\.\d+", got["c2pa-python"])


def test_language_models_are_named_by_their_digest() -> None:
    if shutil.which("tesseract") is None:
        missing("the tesseract binary (Debian package tesseract-ocr)")
    out = subprocess.run(["tesseract", "--list-langs"], capture_output=True, check=True)
    folder = Path(re.search(r'"([^"]+)"', out.stdout.decode()).group(1))  # type: ignore[union-attr]
    want = hashlib.sha256((folder / "rus.traineddata").read_bytes()).hexdigest()[:12]
    assert tessdata_fingerprints(["rus", "nope"]) == f"rus:{want} nope:{MISSING}"


def test_unknown_tool_is_a_programming_error() -> None:
    with pytest.raises(KeyError):
        tool_versions(["photoshop"])

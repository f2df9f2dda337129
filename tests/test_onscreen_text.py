"""On-screen text as a triage step, end to end: the demo sample's Russian instructions flash for
one second inside a shot; triage reads them with their time range from the decode's samples,
records the reading in custody, shows it in every report format, `queue list --text` finds
the clip, and `annotate push` reuses the reading instead of running tesseract again."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytesseract
import pytest
from conftest import missing

from osint_video.annotate.push import _predictions, clip_items
from osint_video.config import load_config
from osint_video.errors import OcrError
from osint_video.report.validation import validate_report
from osint_video.sample import CAPTION, HANDLE, make_sample
from osint_video.workspace import Workspace

CLI = [sys.executable, "-m", "osint_video.cli"]
FPS = 25  # the sample's frame rate


def run(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "OSINT_VIDEO_HOME": str(home),
        "OSINT_VIDEO_OPERATOR": "tester",
        **(env or {}),
    }
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture(scope="module")
def triaged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    if shutil.which("tesseract") is None:
        missing("the tesseract binary (Debian package tesseract-ocr)")
    sample = make_sample(tmp_path_factory.mktemp("sample") / "sudzha.mp4")
    home = tmp_path_factory.mktemp("ws")
    proc = run(home, "triage", str(sample), "--case", "kursk", "--json")
    assert proc.returncode == 0, proc.stderr
    return home, json.loads(proc.stdout)


def test_flashed_instructions_are_read_with_their_time_range(triaged: tuple[Path, dict]) -> None:
    _home, rep = triaged
    validate_report({k: v for k, v in rep.items() if k not in ("input", "error")})
    texts = {t["text"]: t for t in rep["onscreen_text"]}
    text, first, last = CAPTION
    caption = texts[text]
    assert caption["language"] == "ru" and caption["confidence"] >= 0.9
    # on screen from frame 100 to 125: the samples (4 a second) bound it within a sample
    assert abs(caption["start_s"] - first / FPS) <= 0.26
    assert abs(caption["end_s"] - last / FPS) <= 0.26
    assert caption["end_s"] - caption["start_s"] >= 0.5  # a range, not one keyframe's instant
    x, y, w, h = caption["box"]
    assert 0 < y < 360 and w > 300  # the caption bar across the lower middle
    words = [wd["text"] for wd in caption["words"]]
    assert " ".join(words) == text and all(len(wd["box"]) == 4 for wd in caption["words"])
    handle = texts[HANDLE]
    assert handle["start_s"] == 0.0 and handle["end_s"] > 3.0 and handle["language"] == "en"


def test_the_reading_is_in_custody(triaged: tuple[Path, dict]) -> None:
    _home, rep = triaged
    [read] = [e for e in rep["custody"] if e["action"] == "text_read"]
    d = read["details"]
    assert d["engine"].startswith("tesseract 5.") and d["languages"] == "rus+ukr+eng"
    assert [part.split(":")[0] for part in d["language_data"].split()] == ["rus", "ukr", "eng"]
    assert d["lines"] == len(rep["onscreen_text"]) and d["samples"] >= 40
    assert set(d["tools"]) == {"osint-video", "python", "tesseract", "opencv", "numpy"}


def test_every_report_format_shows_it(triaged: tuple[Path, dict]) -> None:
    home, rep = triaged
    html = (home / rep["derived"]["html_report"]).read_text("utf-8")
    assert 'id="onscreen-text"' in html and CAPTION[0] in html
    md = run(home, "report", "1", "--format", "md")
    assert md.returncode == 0, md.stderr
    assert "## On-screen text" in md.stdout and "КОЛОННА НА ДОРОГЕ" in md.stdout


def test_queue_list_filters_on_it(triaged: tuple[Path, dict]) -> None:
    home, _rep = triaged
    found = json.loads(run(home, "queue", "list", "--text", "колонна", "--json").stdout)
    assert [c["id"] for c in found] == [1]  # lower case finds upper-case Cyrillic
    none = json.loads(run(home, "queue", "list", "--text", "ЦЕЛЬ", "--json").stdout)
    assert none == []


def test_annotate_push_reuses_the_reading(
    triaged: tuple[Path, dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With tesseract gone, the predictions still come: from what triage stored."""
    home, rep = triaged
    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", "/nonexistent/tesseract")
    ws = Workspace.open(load_config(home=home, environ={}))
    try:
        clip = ws.cases.record(1)
        frames, _verdict = clip_items(ws, clip, "kursk")
        preds = _predictions(ws, frames)
        texts = [
            r["value"]["text"][0]
            for p in preds.values()
            for r in p["result"]
            if r["from_name"] == "transcription"
        ]
        assert any(CAPTION[0] in t for t in texts)
        assert all("(triage)" in p["model_version"] for p in preds.values())
        # a clip triaged before text was read at triage: read now (and fail, no tesseract)
        frames, _verdict = clip_items(ws, dataclasses.replace(clip, onscreen_text=None), "kursk")
        with pytest.raises(OcrError):
            _predictions(ws, frames)
    finally:
        ws.close()


def test_a_reading_failure_is_recorded(tmp_path: Path) -> None:
    """A missing language pack: the text step fails alone, recorded as such."""
    if shutil.which("tesseract") is None:
        missing("the tesseract binary (Debian package tesseract-ocr)")
    sample = make_sample(tmp_path / "s.mp4")
    home = tmp_path / "ws"
    proc = run(
        home, "triage", str(sample), "--json", env={"OSINT_VIDEO__OCR__LANGUAGES": "rus+xyz"}
    )
    assert proc.returncode == 1
    rep = json.loads(proc.stdout)
    assert (
        rep["status"] == "failed" and "text failed: tesseract language pack 'xyz'" in rep["error"]
    )
    failed = [e for e in rep["custody"] if e["action"] == "text_failed"]
    assert len(failed) == 1 and "xyz" in failed[0]["details"]["error"]
    assert rep["keyframes"] and rep["matches"] == []  # the other steps did their work
    assert rep["onscreen_text"] == []

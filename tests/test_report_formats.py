"""Reports as a reader gets them: JSON (schema 1.1), HTML, PDF (pixels and text), Markdown, case."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import missing
from custody_helpers import HOSTILE_TITLE, clip_sha, make_workspace, run
from PIL import Image

from osint_video.errors import ReportError
from osint_video.report import formats
from osint_video.report.case import validate_case_report
from osint_video.report.markdown import esc, render_markdown
from osint_video.report.render import render_html
from osint_video.report.text import duration_text, seen_before_line
from osint_video.report.validation import validate_report


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory, shared_media: Path) -> Path:
    home = tmp_path_factory.mktemp("fmt") / "ws"
    make_workspace(home, shared_media)
    return home


def report_of(home: Path, clip_id: int) -> dict:
    return json.loads((home / "derived" / clip_sha(home, clip_id) / "report.json").read_text())


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        missing(f"the {tool} binary (poppler-utils)")
    return str(path)


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_every_report_validates_against_its_schema(ws: Path) -> None:
    for clip_id in (1, 2):
        report = report_of(ws, clip_id)
        assert report["schema_version"] == "1.4"
        validate_report(report)
        assert all(e["hash"] and e["prev_hash"] for e in report["custody"])


def test_schema_refuses_leaks_and_bad_chain_fields(ws: Path) -> None:
    report = report_of(ws, 1)
    leaky = copy.deepcopy(report)
    leaky["acquisitions"][0]["source_path"] = "/home/ann/clip.mov"
    nohash = copy.deepcopy(report)
    del nohash["custody"][0]["hash"]
    badkey = copy.deepcopy(report)
    badkey["signature"]["key_fingerprint"] = "md5:abc"
    for bad in (leaky, nohash, badkey):
        with pytest.raises(ReportError):
            validate_report(bad)


def test_matches_key_validates_and_renders(ws: Path) -> None:
    report = report_of(ws, 1)
    report["matches"] = [
        {
            "clip_id": 2,
            "sha256": "ab" * 32,
            "score": 0.91,
            "ranges": [
                {"this_start_s": 0, "this_end_s": 2, "other_start_s": 41, "other_end_s": 43}
            ],
            "keyframe_pairs": 4,
            "distance_min": 2,
            "distance_median": 5,
            "earliest_acquired_at": "2024-01-01T00:00:00Z",
            "earliest_created_at": None,
        }
    ]
    validate_report(report)
    html = render_html(report, ws)
    assert "<dt>Seen before</dt><dd>1 earlier clip(s)" in html
    assert "first seen as clip #2, acquired 2024-01-01T00:00:00Z</dd>" in html
    # the best match is not always the first appearance: the summary names the earliest
    earlier = {
        **report["matches"][0],
        "clip_id": 3,
        "score": 0.4,
        "filename": "repost.mp4",
        "source_url": "https://t.me/x/1",
        "earliest_acquired_at": "2023-06-01T10:00:00Z",
    }
    report["matches"].append(earlier)
    validate_report(report)
    html = render_html(report, ws)
    assert (
        "2 earlier clip(s) share footage with this one; first seen as clip #3 (repost.mp4), "
        "acquired 2023-06-01T10:00:00Z from https://t.me/x/1</dd>"
    ) in html
    report["acquisitions"][0]["at"] = "2023-06-04T10:00:00Z"
    assert seen_before_line(report) == (
        "seen before: clip 3 (repost.mp4), acquired 3.0 days earlier from https://t.me/x/1; "
        "1 more earlier clip(s) share footage"
    )
    md = render_markdown(report)
    assert (
        "First seen as clip #3 (repost.mp4), acquired 2023-06-01T10:00:00Z from "
        "https://t.me/x/1." in md
    )
    report["seen_later"] = [
        {
            "clip_id": 9,
            "sha256": "cd" * 32,
            "filename": "mirror.mp4",
            "case": "kursk",
            "source_url": "https://t.me/y/2",
            "first_acquired_at": "2024-02-01T00:00:00Z",
            "score": 0.7,
            "ranges": [
                {"this_start_s": 41, "this_end_s": 43, "other_start_s": 0, "other_end_s": 2}
            ],
            "duplicate": False,
        }
    ]
    validate_report(report)
    html = render_html(report, ws)
    assert "<dt>Seen later</dt><dd>1 later clip(s) share footage with this one" in html
    assert "<h3>Seen later</h3>" in html and "mirror.mp4" in html
    assert "00:00:41.000 – 00:00:43.000 ~ 00:00:00.000 – 00:00:02.000" in html
    assert "| 9 | mirror.mp4 | https://t.me/y/2 | 2024-02-01T00:00:00Z |" in render_markdown(report)
    report["seen_later"][0]["duplicate"] = "no"
    with pytest.raises(ReportError):
        validate_report(report)
    report["seen_later"] = []
    report["matches"][0]["score"] = "high"
    with pytest.raises(ReportError):
        validate_report(report)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (4, "4 s"),
        (59.4, "59 s"),
        (60, "1 min"),
        (3599, "60 min"),
        (7200, "2 h"),
        (86400, "1.0 days"),
        (3 * 86400 + 3600, "3.0 days"),
        (40 * 86400, "40 days"),
    ],
)
def test_earlier_by(seconds: float, text: str) -> None:
    assert duration_text(seconds) == text


def test_no_seen_before_line_without_matches() -> None:
    assert seen_before_line({"matches": []}) is None and seen_before_line({}) is None


def test_html_shows_chain_signature_and_no_paths(ws: Path) -> None:
    report = report_of(ws, 1)
    html = (ws / "derived" / clip_sha(ws, 1) / "report.html").read_text()
    for e in report["custody"]:
        assert e["hash"] in html
    assert report["signature"]["key_fingerprint"] in html
    assert str(ws.parent) not in html and "/tmp/" not in html


def test_hostile_title_is_escaped_everywhere(ws: Path) -> None:
    html = (ws / "derived" / clip_sha(ws, 2) / "report.html").read_text()
    assert "window.__pwned" in html  # the title is shown...
    assert "<script>window" not in html and "<img src=x" not in html  # ...as text
    report = report_of(ws, 2)
    report["metadata"]["make"] = HOSTILE_TITLE + "|x|"
    md = render_markdown(report)
    assert "<script>" not in md and "<img" not in md
    row = next(line for line in md.splitlines() if line.startswith("| Device"))
    assert row.count(" | ") == 1  # the pipes in the value did not add table cells
    assert esc("a|b") == "a\\|b" and esc(None) == "\u2014"


def test_markdown_report(ws: Path) -> None:
    proc = run(ws, "report", "1", "--format", "md")
    report = report_of(ws, 1)
    md = proc.stdout
    assert md.startswith("# Provenance report: with\\-gps.mov") or md.startswith(
        "# Provenance report: with-gps.mov"
    )
    assert report["clip"]["sha256"] in md
    assert report["custody"][-1]["hash"] in md
    assert "## Chain of custody" in md and "## Seen before" in md
    assert (ws / "derived" / clip_sha(ws, 1) / "report.md").is_file()


def test_pdf_is_painted_and_says_what_the_json_says(ws: Path, tmp_path: Path) -> None:
    pdftoppm, pdftotext = need("pdftoppm"), need("pdftotext")
    out = tmp_path / "r.pdf"
    run(ws, "report", "1", "--format", "pdf", "--out", str(out))
    assert out.read_bytes()[:5] == b"%PDF-"
    subprocess.run(
        [pdftoppm, "-r", "40", "-png", "-f", "1", "-l", "1", str(out), str(tmp_path / "page")],
        check=True,
        timeout=60,
    )
    (png,) = tmp_path.glob("page*.png")
    with Image.open(png) as img:
        colours = img.convert("RGB").getcolors(1 << 20)
    assert colours is not None and len(colours) > 50  # text and a keyframe, not a blank page
    text = subprocess.run(
        [pdftotext, str(out), "-"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    flat = squash(text)
    report = report_of(ws, 1)
    assert report["clip"]["sha256"] in flat and "with-gps.mov" in text
    assert report["signature"]["key_fingerprint"] in flat
    for k in report["keyframes"]:
        assert k["hashes"]["phash"] in flat
    for e in report["custody"]:
        assert e["hash"] in flat
    assert "32.092900, 34.862000" in text
    assert "/tmp/" not in text


def test_pdf_render_is_recorded_and_verified(ws: Path) -> None:
    run(ws, "report", "2", "--format", "pdf")
    sha = clip_sha(ws, 2)
    result = json.loads(run(ws, "verify", "2", "--json").stdout)
    files = {f["relpath"]: f for f in result["clips"][0]["files"]}
    assert files[f"derived/{sha}/report.pdf"]["action"] == "report_rendered"


def test_case_report_all_formats(ws: Path, tmp_path: Path) -> None:
    data = json.loads(run(ws, "report", "--case", "kursk", "--format", "json").stdout)
    validate_case_report(data)
    assert [c["id"] for c in data["clips"]] == [1, 2]
    assert {c["status"] for c in data["clips"]} == {"processed"}
    assert {a["code"] for a in data["clips"][1]["key_anomalies"]} >= {"no_metadata"}
    html = ws / "reports" / "case-kursk.html"
    run(ws, "report", "--case", "kursk", "--format", "html")
    page = html.read_text()
    assert page.count('class="case-clip"') == 2 and "<script" not in page
    md = run(ws, "report", "--case", "kursk", "--format", "md").stdout
    assert md.count(data["clips"][0]["sha256"]) == 1
    out = tmp_path / "case.pdf"
    run(ws, "report", "--case", "kursk", "--format", "pdf", "--out", str(out))
    text = subprocess.run(
        [need("pdftotext"), str(out), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "kursk" in text and data["clips"][1]["sha256"][:16] in squash(text)
    missing = run(ws, "report", "--case", "nope", "--format", "html", check=False)
    assert missing.returncode != 0 and "no clip" in missing.stderr


def test_report_argument_errors(ws: Path) -> None:
    assert run(ws, "report", check=False).returncode != 0
    assert run(ws, "report", "1", "--case", "kursk", check=False).returncode != 0
    line = "error: unknown report format 'docx': use one of html, pdf, md, json"
    for which in (["1"], ["--case", "kursk"]):
        bad = run(ws, "report", *which, "--format", "docx", check=False)
        assert bad.returncode != 0 and bad.stderr.strip().splitlines() == [line]
        assert bad.stdout == ""


MAGIC = {
    "application/pdf": b"%PDF-",
    "text/html; charset=utf-8": b"<!DOCTYPE html>",
    "application/json": b"{",
    "text/markdown; charset=utf-8": b"# ",
}


def test_every_format_of_the_registry_renders_a_clip_and_a_case(ws: Path, tmp_path: Path) -> None:
    """One registry (report/formats.py) drives the command: each format's clip file is named
    by its suffix in the clip's folder, its case file too, and holds what its media type says."""
    assert formats.names() == ("html", "pdf", "md", "json")
    folder = ws / "derived" / clip_sha(ws, 1)
    for name in formats.names():
        renderer = formats.get(name)
        out = tmp_path / f"clip{renderer.suffix}"
        run(ws, "report", "1", "--format", name, "--out", str(out))
        assert (folder / f"report{renderer.suffix}").read_bytes() == out.read_bytes()
        assert out.read_bytes().startswith(MAGIC[renderer.media_type])
        printed = run(ws, "report", "--case", "kursk", "--format", name).stdout
        case = ws / "reports" / f"case-kursk{renderer.suffix}"
        assert case.read_bytes().startswith(MAGIC[renderer.media_type])
        assert (printed == case.read_text()) if renderer.text else (printed.strip() == str(case))

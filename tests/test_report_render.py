"""report.json schema, the self-contained HTML report and the contact sheet."""

from __future__ import annotations

import base64
import copy
import io
import json
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from osint_video.errors import OsintVideoError, ReportError
from osint_video.hashing.hashes import compute_hashes
from osint_video.report.render import render_html
from osint_video.report.sheet import make_contact_sheet, thumbnail
from osint_video.report.text import timecode
from osint_video.report.validation import report_schema, validate_report

SCHEMA_PATH = (
    Path(__file__).resolve().parents[1] / "osint_video/report/schema/report-1.0.schema.json"
)
HOSTILE_SCRIPT = "<script>alert(1)</script>"
HOSTILE_ATTR = '"><img src=x onerror=alert(1)>'
SHA = "3b" * 32


class Tags(HTMLParser):
    """Every start tag with its attributes, and all text, as the browser would see them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def find(self, tag: str, cls: str | None = None) -> list[dict[str, str | None]]:
        return [
            a
            for t, a in self.tags
            if t == tag and (cls is None or cls in (a.get("class") or "").split())
        ]


def parse(html: str) -> Tags:
    p = Tags()
    p.feed(html)
    p.close()
    return p


def _frames(ws: Path, sources: list[str]) -> list[str]:
    """Real keyframe PNGs (ffmpeg lavfi) written into the workspace; returns relative paths."""
    out = []
    for i, src in enumerate(sources):
        rel = f"derived/{SHA}/keyframes/kf{i:04d}.png"
        (ws / rel).parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "ffmpeg",
                "-v",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                src,
                "-frames:v",
                "1",
                str(ws / rel),
            ],
            check=True,
            timeout=60,
        )
        out.append(rel)
    return out


def _keyframe(
    ws: Path, kid: int, rel: str, shot: int, frame: int, dup: int | None
) -> dict[str, Any]:
    hashes = compute_hashes([Image.open(ws / rel)])[0]
    return {
        "id": kid,
        "shot": shot,
        "frame": frame,
        "time_s": frame / 25,
        "path": rel,
        "hashes": {a: str(h) for a, h in hashes.items()},
        "duplicate_of": dup,
        "informative": True,
        "sharpness": 123.4,
    }


def video_report(ws: Path) -> dict[str, Any]:
    """A realistic phone clip: GPS, device clock, anomalies, hostile strings in tags."""
    rels = _frames(
        ws,
        [
            "testsrc2=size=640x360",
            "mandelbrot=size=640x360",
            "testsrc2=size=640x360",
            "smptehdbars=size=640x360",
        ],
    )
    kfs = [
        _keyframe(ws, 0, rels[0], 0, 10, None),
        _keyframe(ws, 1, rels[1], 1, 60, None),
        _keyframe(ws, 2, rels[2], 2, 130, 0),
        _keyframe(ws, 3, rels[3], 2, 170, None),
    ]
    return {
        "schema_version": "1.0",
        "clip": {
            "id": 7,
            "sha256": SHA,
            "size_bytes": 439391,
            "filename": "with gps\u00e9.mov",
            "kind": "video",
        },
        "acquisitions": [
            {
                "at": "2024-05-01T10:00:00Z",
                "operator": "tester",
                "case": "kursk",
                "source_path": "/home/desk/in/with gps.mov",
                "source_url": "https://t.me/somechannel/123",
                "note": "from Telegram",
            }
        ],
        "status": "triaged",
        "media": {
            "duration_s": 8.0,
            "width": 640,
            "height": 360,
            "fps": 25.0,
            "fps_nominal": 25.0,
            "codec": "h264",
            "rotation_deg": 90,
            "frame_count": 200,
            "frames_decoded": 200,
            "variable_frame_rate": False,
        },
        "metadata": {
            "creation_time": "2019-07-24T08:25:57Z",
            "creation_time_source": "mvhd",
            "creation_time_local": "2019-07-24T11:25:40+03:00",
            "creation_utc_offset": "+03:00",
            "location": {
                "lat": 32.0929,
                "lon": 34.862,
                "alt_m": 28.516,
                "source": "com.apple.quicktime.location.ISO6709",
            },
            "make": HOSTILE_SCRIPT,
            "model": HOSTILE_ATTR,
            "software": "12.3",
            "encoder": "Lavf59.27.100",
            "handler_names": ["Core Media Video", HOSTILE_SCRIPT],
            "raw": {
                "format": {"tags": {"comment": HOSTILE_SCRIPT, "title": HOSTILE_ATTR}},
                "streams": [{"codec_name": "h264"}],
            },
        },
        "anomalies": [
            {
                "code": "reencoded_lavf",
                "message": "Encoder Lavf: re-encoded by ffmpeg.",
                "severity": "warning",
            },
            {"code": "rotation", "message": "Rotated 90\u00b0 for display.", "severity": "info"},
            {"code": "gps_null_island", "message": HOSTILE_ATTR, "severity": "critical"},
        ],
        "shots": [
            {"index": 0, "start_frame": 0, "end_frame": 49, "start_s": 0.0, "end_s": 1.96},
            {"index": 1, "start_frame": 50, "end_frame": 119, "start_s": 2.0, "end_s": 4.76},
            {"index": 2, "start_frame": 120, "end_frame": 199, "start_s": 4.8, "end_s": 7.96},
        ],
        "keyframes": kfs,
        "derived": {
            "stripped_copy": f"derived/{SHA}/stripped.mov",
            "contact_sheet": f"derived/{SHA}/contact_sheet.png",
            "html_report": f"derived/{SHA}/report.html",
        },
        "custody": [
            {
                "seq": 1,
                "at": "2024-05-01T10:00:00Z",
                "actor": "tester",
                "action": "ingest",
                "details": {"sha256": SHA, "source": HOSTILE_SCRIPT},
            },
            {
                "seq": 2,
                "at": "2024-05-01T10:00:01.250000+00:00",
                "actor": "tester",
                "action": "keyframes",
                "details": {"method": "shots", "count": 4},
            },
        ],
        "generated_at": "2024-05-01T10:00:02Z",
        "tool": {"name": "osint-video", "version": "0.1.0"},
        "matches": [],  # a later issue's key: allowed at top level
    }


def still_report(ws: Path) -> dict[str, Any]:
    rel = _frames(ws, ["testsrc2=size=320x240"])[0]
    report = video_report_skeleton("image", "ela_original.jpg")
    report["media"].update(width=902, height=770, codec="mjpeg")
    report["keyframes"] = [_keyframe(ws, 0, rel, 0, 0, None)]
    report["keyframes"][0]["shot"] = None
    return report


def video_report_skeleton(kind: str, filename: str) -> dict[str, Any]:
    """Header-only shape: every required key present, nearly every value null or empty."""
    return {
        "schema_version": "1.0",
        "clip": {"id": "c1", "sha256": SHA, "size_bytes": 3871, "filename": filename, "kind": kind},
        "acquisitions": [
            {
                "at": "2024-05-01T10:00:00Z",
                "operator": "tester",
                "case": None,
                "source_path": None,
                "source_url": None,
                "note": None,
            }
        ],
        "status": "partial",
        "media": {
            "duration_s": None,
            "width": None,
            "height": None,
            "fps": None,
            "fps_nominal": None,
            "codec": None,
            "rotation_deg": 0,
            "frame_count": None,
            "frames_decoded": None,
            "variable_frame_rate": None,
        },
        "metadata": {
            "creation_time": None,
            "creation_time_source": None,
            "creation_time_local": None,
            "creation_utc_offset": None,
            "location": None,
            "make": None,
            "model": None,
            "software": None,
            "encoder": None,
            "handler_names": [],
            "raw": {},
        },
        "anomalies": [],
        "shots": [],
        "keyframes": [],
        "derived": {"stripped_copy": None, "contact_sheet": None, "html_report": None},
        "custody": [],
        "generated_at": "2024-05-01T10:00:02Z",
        "tool": {"name": "osint-video", "version": "0.1.0"},
    }


def header_only_report() -> dict[str, Any]:
    report = video_report_skeleton("video", "QuickTime.mov")
    report["media"].update(
        duration_s=4.966667,
        width=320,
        height=240,
        fps=30.0,
        codec="mjpeg",
        frame_count=149,
        frames_decoded=0,
    )
    report["metadata"].update(
        creation_time="2005-08-11T14:03:54Z",
        make="PENTAX DIGITAL CAMERA",
        raw={"Artist": "\u00e5rtist"},
    )
    report["anomalies"] = [
        {"code": "header_only", "message": "No frame decodes.", "severity": "critical"}
    ]
    return report


# --- schema ---------------------------------------------------------------------------------


def test_schema_file_is_valid_draft_2020_12() -> None:
    from jsonschema import Draft202012Validator

    schema = json.loads(SCHEMA_PATH.read_text())
    Draft202012Validator.check_schema(schema)
    assert report_schema("1.0") == schema
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_realistic_reports_validate(tmp_path: Path) -> None:
    validate_report(video_report(tmp_path))
    validate_report(still_report(tmp_path))
    validate_report(header_only_report())
    json.dumps(video_report(tmp_path))  # plain JSON, nothing exotic


@pytest.mark.parametrize(
    "path",
    [
        ("clip",),
        ("keyframes",),
        ("custody",),
        ("schema_version",),
        ("clip", "sha256"),
        ("media", "frames_decoded"),
        ("metadata", "raw"),
        ("derived", "html_report"),
    ],
)
def test_missing_required_key_fails(path: tuple[str, ...]) -> None:
    report = header_only_report()
    parent = report
    for key in path[:-1]:
        parent = parent[key]
    del parent[path[-1]]
    with pytest.raises(ReportError, match=path[-1]):
        validate_report(report)


@pytest.mark.parametrize(
    "change",
    [
        lambda r: r.update(schema_version="2.0"),
        lambda r: r["clip"].update(kind="audio"),
        lambda r: r["clip"].update(sha256="ABC"),
        lambda r: r["metadata"].update(
            location={"lat": 91.0, "lon": 0.0, "alt_m": None, "source": None}
        ),
        lambda r: r["anomalies"].append({"code": "x", "message": "y", "severity": "fatal"}),
        lambda r: r["derived"].update(stripped_copy="/etc/passwd"),
        lambda r: r["derived"].update(contact_sheet="../outside.png"),
        lambda r: r.update(generated_at="yesterday"),
    ],
)
def test_bad_values_fail(change: Any) -> None:
    report = header_only_report()
    change(report)
    with pytest.raises(ReportError):
        validate_report(report)


def test_keyframe_references_are_checked(tmp_path: Path) -> None:
    report = video_report(tmp_path)
    bad_hash = copy.deepcopy(report)
    bad_hash["keyframes"][0]["hashes"]["phash"] = (
        "ba8c84536bd3c366"  # bare hex: not self-describing
    )
    dangling = copy.deepcopy(report)
    dangling["keyframes"][2]["duplicate_of"] = 99
    chained = copy.deepcopy(report)
    chained["keyframes"][3]["duplicate_of"] = 2  # 2 is itself a duplicate
    twice = copy.deepcopy(report)
    twice["keyframes"][1]["id"] = 0
    no_shot = copy.deepcopy(report)
    no_shot["keyframes"][1]["shot"] = 9
    for broken in (bad_hash, dangling, chained, twice, no_shot):
        with pytest.raises(ReportError) as err:
            validate_report(broken)
        assert isinstance(err.value, OsintVideoError)


# --- HTML -----------------------------------------------------------------------------------


def _external_refs(tags: Tags) -> list[str]:
    refs = []
    for _, attrs in tags.tags:
        for name in ("src", "href", "action", "poster", "srcset", "data"):
            value = attrs.get(name) or ""
            if "://" in value or value.startswith("//"):
                refs.append(value)
    return refs


def test_html_is_self_contained_and_escaped(tmp_path: Path) -> None:
    report = video_report(tmp_path)
    html = render_html(report, tmp_path)
    tags = parse(html)
    assert "<script" not in html.lower()
    assert not [t for t, _ in tags.tags if t in ("script", "iframe", "object", "embed", "link")]
    assert _external_refs(tags) == [
        "https://www.openstreetmap.org/?mlat=32.092900&mlon=34.862000#map=16/32.092900/34.862000"
    ]
    assert "t.me" not in " ".join(a.get("href") or "" for _, a in tags.tags)  # source URL is text
    # hostile strings arrive as text, never as markup
    assert not any(a.get("onerror") for _, a in tags.tags)
    assert [a.get("src") for a in tags.find("img") if a.get("src") == "x"] == []
    text = "".join(tags.text)
    assert HOSTILE_SCRIPT in text and HOSTILE_ATTR in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_images_are_data_uris_of_thumbnails(tmp_path: Path) -> None:
    html = render_html(video_report(tmp_path), tmp_path, thumb_width=200)
    imgs = parse(html).find("img")
    assert len(imgs) == 4
    for attrs in imgs:
        src = attrs["src"] or ""
        assert src.startswith("data:image/jpeg;base64,")
        thumb = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))
        assert thumb.width == 200 and abs(thumb.height - 112.5) <= 1  # 640x360, aspect kept
    assert len(html) < 200_000


def test_thumbnails_come_from_the_cached_small_file(tmp_path: Path) -> None:
    """The triage step's `thumbs/<name>` serves its own width and narrower ones (the matches'
    pairs); only a wider picture needs the full keyframe."""
    full = tmp_path / "kf.png"
    Image.new("RGB", (1280, 720), (200, 0, 0)).save(full)
    (tmp_path / "thumbs").mkdir()
    Image.new("RGB", (320, 180), (0, 0, 200)).save(tmp_path / "thumbs" / "kf.png")
    for width in (320, 160):
        img = thumbnail(full, width)
        assert img.size == (width, width * 9 // 16)
        assert img.getpixel((width // 2, 10)) == (0, 0, 200)  # the cached file's pixels
    wide = thumbnail(full, 640)
    assert wide.size == (640, 360) and wide.getpixel((320, 10)) == (200, 0, 0)


def test_anomalies_highlighted_and_custody_rows(tmp_path: Path) -> None:
    tags = parse(render_html(video_report(tmp_path), tmp_path))
    flagged = tags.find("tr", "flagged")
    assert len(flagged) >= 3  # location (gps_*), encoder (reencoded_*), rotation_deg
    assert tags.find("li", "sev-critical") and tags.find("li", "sev-warning")
    assert not tags.find("li", "sev-info")  # info anomalies are not in the summary card
    assert len(tags.find("tr", "sev-info")) == 1  # but they are in the full list
    assert len(tags.find("tr", "custody-event")) == 2
    assert len(tags.find("figure", "dup")) == 1
    assert len(tags.find("details", "raw")) == 1
    text = "".join(tags.text)
    assert "duplicate of #0" in text and "00:00:05.200" in text
    assert "phash:64:" in text and "dhash:64:" in text


def test_still_and_header_only_render(tmp_path: Path) -> None:
    still = parse(render_html(still_report(tmp_path), tmp_path))
    assert len(still.find("img")) == 1
    header = render_html(header_only_report(), tmp_path)
    tags = parse(header)
    assert tags.find("img") == []
    text = "".join(tags.text)
    assert "No keyframes." in text and "no frame could be decoded" in text
    assert "PENTAX DIGITAL CAMERA" in text and "\u00e5rtist" in text
    assert _external_refs(tags) == []  # no location: no link at all


def test_missing_keyframe_file_renders_a_marker(tmp_path: Path) -> None:
    report = video_report(tmp_path)
    (tmp_path / report["keyframes"][1]["path"]).unlink()
    report["keyframes"][0]["path"] = "../../etc/hostname"  # outside the workspace: never read
    with pytest.raises(ReportError):  # the schema refuses climbing paths outright
        render_html(report, tmp_path)
    report["keyframes"][0]["path"] = report["keyframes"][3]["path"]
    tags = parse(render_html(report, tmp_path))
    assert len(tags.find("img")) == 3
    assert len(tags.find("div", "missing")) == 1


def test_render_refuses_invalid_report(tmp_path: Path) -> None:
    report = header_only_report()
    del report["custody"]
    with pytest.raises(ReportError):
        render_html(report, tmp_path)


def test_print_css_present(tmp_path: Path) -> None:
    html = render_html(header_only_report(), tmp_path)
    assert "@media print" in html
    assert "default-src 'none'" in html  # CSP: a browser fetches nothing even if tricked


# --- contact sheet and timecode -------------------------------------------------------------


def test_contact_sheet(tmp_path: Path) -> None:
    report = video_report(tmp_path)
    items = [(tmp_path / k["path"], timecode(k["time_s"])) for k in report["keyframes"]]
    out = make_contact_sheet(items, tmp_path / "sheet" / "contact.png", columns=3, thumb_width=160)
    assert out.is_file() and not list(out.parent.glob(".*partial"))
    with Image.open(out) as sheet:
        assert sheet.format == "PNG"
        assert sheet.width == 8 + 3 * (160 + 8)
        assert sheet.height > 2 * 90  # two rows of 160x90 tiles plus labels
        grey = sheet.convert("L")
        label_band = grey.crop((8, 8 + 90, 8 + 160, 8 + 90 + 18))
        assert np.asarray(label_band).max() > 200  # the timecode text is drawn in light ink


def test_contact_sheet_format_follows_suffix(tmp_path: Path) -> None:
    report = video_report(tmp_path)
    items = [(tmp_path / k["path"], "00:00:00.000") for k in report["keyframes"][:2]]
    out = make_contact_sheet(items, tmp_path / "contact_sheet.jpg", columns=5, thumb_width=120)
    with Image.open(out) as sheet:
        assert sheet.format == "JPEG"
        assert sheet.width == 8 + 5 * (120 + 8)


def test_contact_sheet_errors(tmp_path: Path) -> None:
    with pytest.raises(ReportError):
        make_contact_sheet([], tmp_path / "c.png", 3, 160)
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not a png")
    with pytest.raises(ReportError, match="junk.png"):
        make_contact_sheet([(junk, "00:00:00.000")], tmp_path / "c.png", 3, 160)
    assert not (tmp_path / "c.png").exists()
    with pytest.raises(ValueError):
        make_contact_sheet([(junk, "x")], tmp_path / "c.png", 0, 160)


@pytest.mark.parametrize(
    "seconds, text",
    [
        (0, "00:00:00.000"),
        (62.345, "00:01:02.345"),
        (3599.9996, "01:00:00.000"),
        (1.001, "00:00:01.001"),
        (360000.5, "100:00:00.500"),
    ],
)
def test_timecode(seconds: float, text: str) -> None:
    assert timecode(seconds) == text


@pytest.mark.parametrize("bad", [-0.001, float("nan"), float("inf")])
def test_timecode_rejects(bad: float) -> None:
    with pytest.raises(ValueError):
        timecode(bad)

"""Crafted but playable files (issue 13): each becomes an anomaly or one line, never a crash,
a stall or a blow-up. Files are made by patching real bytes (`hostile.py`)."""

from __future__ import annotations

import dataclasses
import logging
import os
import struct
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hostile import (
    box,
    exif_ifd_loop,
    exif_jpeg,
    flip_version,
    jpeg_fill,
    nested_boxes,
    nested_riff_lists,
    png,
    png_header_only,
    replace_text,
    second_moov,
    tiff_ifd_bomb,
    udta_xyz,
)
from PIL import Image

from osint_video.anomalies import detect_anomalies
from osint_video.config import ProbeConfig
from osint_video.errors import ExtractionError, ProbeError
from osint_video.media.containers import read_container_tags
from osint_video.media.images import load_upright, require_pixels_within
from osint_video.media.probe import probe_file
from osint_video.media.sniff import sniff_kind
from osint_video.media.strip import strip_metadata
from osint_video.models import Anomaly, ProbeResult

CFG = ProbeConfig()
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _probe(path: Path, cfg: ProbeConfig = CFG) -> ProbeResult:
    kind = sniff_kind(path)
    assert kind is not None
    return probe_file(path, kind, cfg)


def _anomalies(probe: ProbeResult, cfg: ProbeConfig = CFG) -> dict[str, Anomaly]:
    found = detect_anomalies(probe, decode=None, acquired_at=NOW, now=NOW, cfg=cfg)
    assert all("\n" not in a.message and a.message.endswith(".") for a in found)
    return {a.code: a for a in found}


# --- class 2: parsing -----------------------------------------------------------------------


@pytest.mark.parametrize("boxes", [(b"mvhd",), (b"tkhd", b"mdhd")])
def test_flipped_version_byte_is_a_date_anomaly(
    boxes: tuple[bytes, ...], tmp_path: Path, shared_media: Path
) -> None:
    path = flip_version(shared_media / "with-gps.mov", tmp_path / "v1.mov", *boxes)
    probe = _probe(path)  # ffprobe still reads it; our reader must not overflow
    bad = probe.metadata.raw["boxes"]["out_of_range"]
    assert any(boxes[0].decode() in d["field"] and "past year 9999" in d["value"] for d in bad)
    assert "date_out_of_range" in _anomalies(probe)
    if boxes == (b"mvhd",):  # the device clock is the fallback, with its zone
        assert probe.metadata.creation_time == "2019-07-24T08:25:40Z"
        assert "mvhd_created" not in probe.metadata.raw["boxes"]
    else:
        assert probe.metadata.creation_time == "2019-07-24T08:25:57Z"


@pytest.mark.parametrize(
    ("date", "offset", "local"),
    [
        ("0001:01:01 00:00:00", "+05:00", "0001-01-01T00:00:00"),
        ("9999:12:31 23:59:59", "-05:00", "9999-12-31T23:59:59"),
    ],
)
def test_exif_date_at_the_calendar_edge(date: str, offset: str, local: str, tmp_path: Path) -> None:
    probe = _probe(exif_jpeg(tmp_path / "d.jpg", date, offset))
    md = probe.metadata
    assert md.creation_time_local == local and md.creation_utc_offset == offset
    assert md.creation_time == local  # zoneless: it cannot be put in UTC
    assert md.creation_time_source == "EXIF DateTimeOriginal (no zone)"
    anomaly = _anomalies(probe)["date_out_of_range"]
    assert f"{local}{offset}" in anomaly.message


@pytest.mark.parametrize(
    ("clock", "out_of_range"),
    [(b"0001-01-01T00:00:00-0300", False), (b"0001-01-01T00:00:00+0300", True)],
)
def test_quicktime_creationdate_at_year_1(
    clock: bytes, out_of_range: bool, tmp_path: Path, shared_media: Path
) -> None:
    src = shared_media / "with-gps.mov"
    probe = _probe(replace_text(src, tmp_path / "y1.mov", b"2019-07-24T11:25:40+0300", clock))
    assert probe.metadata.creation_time == "2019-07-24T08:25:57Z"  # mvhd, UTC by spec
    assert probe.metadata.creation_time_local == "0001-01-01T00:00:00"
    found = _anomalies(probe)
    # year 1 at -03:00 is 03:00 UTC on 1 January of year 1; at +03:00 it is before year 1
    assert ("date_out_of_range" in found) is out_of_range
    if out_of_range:
        assert "com.apple.quicktime.creationdate" in found["date_out_of_range"].message


def test_thousands_of_nested_boxes_after_the_real_ones(tmp_path: Path, shared_media: Path) -> None:
    probe = _probe(nested_boxes(shared_media / "with-gps.mov", tmp_path / "deep.mov"))
    md = probe.metadata
    assert md.creation_time == "2019-07-24T08:25:57Z" and md.make == "Apple"  # real boxes read
    cut = md.raw["boxes"]["cut_short"]
    assert "nesting deeper than 16 levels" in cut and "moov #2" in cut
    assert "the box reader stopped" in _anomalies(probe)["probe_limit"].message


def test_thousands_of_nested_riff_lists(tmp_path: Path, shared_media: Path) -> None:
    probe = _probe(nested_riff_lists(shared_media / "MVI_4823.AVI", tmp_path / "deep.avi"))
    assert probe.metadata.raw["boxes"]["riff_info"]["IDIT"] == "MON SEP 10 20:52:00 2012"
    assert "LIST INFO" in probe.metadata.raw["boxes"]["cut_short"]
    assert "probe_limit" in _anomalies(probe)


def test_png_header_of_20000x20000(tmp_path: Path) -> None:
    path = png_header_only(tmp_path / "big.png", 20000, 20000)
    probe = _probe(path)  # Pillow's DecompressionBombError used to escape here
    assert (probe.media.width, probe.media.height) == (20000, 20000)
    assert "400 megapixels" in _anomalies(probe)["probe_limit"].message
    with pytest.raises(ExtractionError, match="not decoded: Image size"):
        load_upright(path, CFG.max_pixels)  # over Pillow's own limit too: its words, one line
    smaller = png_header_only(tmp_path / "144.png", 12000, 12000)  # Pillow only warns
    with pytest.raises(ExtractionError, match="max_pixels cap of 120 megapixels: not decoded"):
        load_upright(smaller, CFG.max_pixels)
    stripped = strip_metadata(path, tmp_path / "s.png", "image", timeout=30, max_pixels=100)
    assert stripped.read_bytes()[:8] == path.read_bytes()[:8]  # PNG: chunks copied, no decode


def test_a_still_over_the_cap_is_not_decoded_by_strip(tmp_path: Path) -> None:
    path = tmp_path / "big.tif"
    Image.new("L", (300, 200)).save(path)
    with pytest.raises(ExtractionError, match="over the probe.max_pixels cap"):
        strip_metadata(path, tmp_path / "s.tif", "image", timeout=30, max_pixels=50_000)
    assert strip_metadata(path, tmp_path / "ok.tif", "image", timeout=30, max_pixels=60_000)


def test_damaged_exif_is_an_anomaly(tmp_path: Path, shared_media: Path) -> None:
    probe = _probe(exif_ifd_loop(shared_media / "Apple_iPhone_4.jpg", tmp_path / "loop.jpg"))
    assert probe.metadata.raw["exif_damage"] == ["IFD loop detected."]
    assert probe.metadata.make == "Apple"  # what was readable is kept
    assert "IFD loop detected" in _anomalies(probe)["exif_damaged"].message


def test_real_files_have_none_of_the_new_anomalies(shared_media: Path) -> None:
    for name in ("with-gps.mov", "fire2.mp4", "MVI_4823.AVI", "IMG_1034.heic", "ela_original.jpg"):
        probe = _probe(shared_media / name)
        new = {"probe_limit", "conflicting_boxes", "exif_damaged", "date_out_of_range"}
        assert not new & set(_anomalies(probe)), name
        assert "probe_limits" not in probe.metadata.raw
        assert probe.metadata.content_credentials is None, name  # read in the child, no C2PA


# --- class 3: bounded work ------------------------------------------------------------------


def test_tiff_with_65535_ifd_entries_is_bounded(tmp_path: Path) -> None:
    path = tiff_ifd_bomb(tmp_path / "bomb.tif")  # 89 s and 347 MB in exifread before
    started = time.monotonic()
    probe = _probe(path)
    assert time.monotonic() - started < 10
    assert (probe.media.width, probe.media.height) == (8, 8)
    assert "more than 100000 reads" in probe.metadata.raw["exif_cut_short"]
    assert "EXIF was not read" in _anomalies(probe)["probe_limit"].message


def test_the_time_limit_stops_a_slow_header_and_names_it(
    tmp_path: Path, shared_media: Path
) -> None:
    path = jpeg_fill(shared_media / "Apple_iPhone_4.jpg", tmp_path / "fill.jpg", 16)
    cfg = dataclasses.replace(CFG, parse_time_limit_s=1.0)
    started = time.monotonic()
    probe = _probe(path, cfg)
    assert time.monotonic() - started < 5
    assert probe.metadata.make == "Apple"  # EXIF was read before the header stalled
    assert probe.media.width is None
    (hit,) = probe.metadata.raw["probe_limits"]
    assert hit["limit"] == "time" and hit["stage"] == "image header (Pillow)"
    assert hit["not_run"] == ["Content Credentials (C2PA reader)"]  # a list: JSON as stored
    message = _anomalies(probe, cfg)["probe_limit"].message
    assert "the time limit (1 s) stopped the image header (Pillow)" in message
    with pytest.raises(ExtractionError, match="could not read the image header"):
        require_pixels_within(None, None, cfg.max_pixels, still=True)  # what keyframes does


def test_an_image_with_nothing_read_in_time_is_refused_in_one_line(tmp_path: Path) -> None:
    Image.new("RGB", (64, 48)).save(tmp_path / "a.jpg")
    data = (tmp_path / "a.jpg").read_bytes()
    path = tmp_path / "fill.jpg"
    path.write_bytes(data[:2] + b"\xff" * (8 << 20) + data[2:])  # no EXIF, a slow header
    cfg = dataclasses.replace(CFG, parse_time_limit_s=0.5)
    with pytest.raises(ProbeError, match="not a readable image") as err:
        _probe(path, cfg)
    assert str(err.value).endswith("(image header (Pillow) stopped: time limit (0.5 s))")


def test_a_144_megapixel_png_is_refused_before_decoding(tmp_path: Path) -> None:
    """Triage in a child process: its peak RSS stays small (7.95 s and 1.87 GB before). The
    peak is the child's own VmHWM: wait4's ru_maxrss would report the pytest process's RSS,
    which a vfork+exec'd child inherits."""
    path = png(tmp_path / "p144.png", 12000, 12000)
    env = {**os.environ, "OSINT_VIDEO_HOME": str(tmp_path / "ws"), "PYTHONPATH": os.getcwd()}
    code = (
        "import sys\nfrom osint_video.cli import main\nsys.argv = ['osint-video', 'triage', "
        f"{str(path)!r}]\ntry:\n    main()\nfinally:\n"
        f"    open({str(tmp_path / 'status')!r}, 'w').write(open('/proc/self/status').read())\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert proc.returncode == 1, proc.stderr
    assert "keyframes failed: the picture is 12000x12000 (144 megapixels)" in proc.stderr
    assert "Warning" not in proc.stderr and "warnings.warn" not in proc.stderr
    status = (tmp_path / "status").read_text()
    peak_kb = int(status.split("VmHWM:")[1].split()[0])
    assert peak_kb < 400 * 1024, peak_kb


# --- class 4: a hidden box ------------------------------------------------------------------


def test_a_second_moov_does_not_change_the_evidence(tmp_path: Path, shared_media: Path) -> None:
    path = second_moov(
        shared_media / "with-gps.mov", tmp_path / "two.mov", datetime(1995, 5, 17, 12, tzinfo=UTC)
    )
    assert path.stat().st_size - (shared_media / "with-gps.mov").stat().st_size == 116
    probe = _probe(path)
    assert probe.metadata.creation_time == "2019-07-24T08:25:57Z"  # what players show
    (created, _modified) = probe.metadata.raw["boxes"]["conflicts"]
    assert created["used"] == "2019-07-24T08:25:57Z" and created["other"] == "1995-05-17T12:00:00Z"
    assert created["other_at"] == "moov #2 at byte 439391/mvhd"
    anomaly = _anomalies(probe)["conflicting_boxes"]
    assert anomaly.severity == "critical"
    assert (
        "'2019-07-24T08:25:57Z'" in anomaly.message and "'1995-05-17T12:00:00Z'" in anomaly.message
    )


def test_a_second_location_is_a_conflict_not_the_value(tmp_path: Path, shared_media: Path) -> None:
    path = second_moov(
        shared_media / "fire2.mp4",
        tmp_path / "loc.mp4",
        datetime(2017, 1, 5, 18, 32, 43, tzinfo=UTC),  # same date: only the location differs
        udta_xyz("+48.8584+002.2945/"),
    )
    probe = _probe(path)
    assert (probe.metadata.location.lat, probe.metadata.location.lon) == (54.1843, -2.7189)
    (conflict,) = probe.metadata.raw["boxes"]["conflicts"]
    assert conflict["field"] == "udta/©xyz" and conflict["other"] == "+48.8584+002.2945/"
    assert "+48.8584+002.2945/" in _anomalies(probe)["conflicting_boxes"].message


def test_a_second_apple_location_is_a_conflict(tmp_path: Path, shared_media: Path) -> None:
    """A second moov carrying a copy of the phone's meta/keys/ilst with another ISO 6709."""
    data = (shared_media / "with-gps.mov").read_bytes()
    at = data.rfind(b"meta\x00\x00\x00") - 4  # the moov-level QuickTime meta (mdta keys)
    (size,) = struct.unpack(">I", data[at : at + 4])
    meta = data[at : at + size].replace(b"+32.0929+034.8620", b"+48.8584+002.2945")
    path = tmp_path / "loc2.mov"
    path.write_bytes(data + box(b"moov", meta))
    probe = _probe(path)
    assert (probe.metadata.location.lat, probe.metadata.location.lon) == (32.0929, 34.862)
    (conflict,) = probe.metadata.raw["boxes"]["conflicts"]
    assert conflict["field"] == "mdta/com.apple.quicktime.location.ISO6709"
    assert conflict["other"] == "+48.8584+002.2945+028.516/"
    assert "conflicting_boxes" in _anomalies(probe)


def test_each_tracks_own_items_are_not_conflicts(tmp_path: Path) -> None:
    def trak(title: bytes) -> bytes:
        return box(
            b"trak", box(b"udta", box(b"\xa9nam", struct.pack(">HH", len(title), 0) + title))
        )

    ftyp = box(b"ftyp", b"isom\x00\x00\x02\x00isom")
    path = tmp_path / "tracks.mp4"
    path.write_bytes(ftyp + box(b"moov", trak(b"video") + trak(b"sound")))
    tags = read_container_tags(path)
    assert tags.udta["©nam"] == "video" and tags.conflicts == ()
    path.write_bytes(path.read_bytes() + box(b"moov", trak(b"other")))  # trak 1 again, differing
    (conflict,) = read_container_tags(path).conflicts
    assert conflict["used_at"] == "moov at byte 20/trak 1/udta/©nam"
    assert conflict["other"] == "other" and "moov #2" in conflict["other_at"]


def test_a_second_xmp_packet_is_a_conflict(tmp_path: Path, shared_media: Path) -> None:
    src = shared_media / "uuid540.mp4"
    data = src.read_bytes()
    at = data.rfind(b"uuid") - 4
    xmp_box = bytearray(data[at:])
    xmp_box[:] = xmp_box.replace(b"keyword1", b"planted!")
    path = tmp_path / "xmp2.mp4"
    path.write_bytes(data + bytes(xmp_box))
    probe = _probe(path)
    assert "keyword1" in probe.metadata.raw["boxes"]["xmp"]  # the first packet is used
    (conflict,) = probe.metadata.raw["boxes"]["conflicts"]
    assert conflict["field"] == "xmp" and "planted!" in conflict["other"]
    assert "keyword1" in conflict["used"] and conflict["other_at"].startswith("uuid XMP at byte")
    assert "conflicting_boxes" in _anomalies(probe)


# --- class 10: nothing on the terminal but our own lines ---------------------------------------


def test_parser_warnings_go_to_the_log_not_the_terminal(tmp_path: Path, shared_media: Path) -> None:
    """exifread printed 'PNG file does not have exif data.' and 'IFD loop detected.', Pillow
    one UserWarning per damaged TIFF tag (65,535 lines for the IFD bomb), on the terminal."""
    Image.new("RGB", (32, 24)).save(tmp_path / "plain.png")
    files = [
        tmp_path / "plain.png",
        exif_ifd_loop(shared_media / "Apple_iPhone_4.jpg", tmp_path / "loop.jpg"),
        tiff_ifd_bomb(tmp_path / "bomb.tif", entries=2000),
    ]
    env = {**os.environ, "OSINT_VIDEO_HOME": str(tmp_path / "ws"), "PYTHONPATH": os.getcwd()}
    argv = [sys.executable, "-c", "from osint_video.cli import main; main()", "triage"]
    proc = subprocess.run(
        [*argv, *map(str, files)], env=env, capture_output=True, text=True, timeout=180
    )
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
    assert len(lines) == 3 and all(ln.startswith("ok: ") for ln in lines), lines


def test_exifread_warnings_are_logged(
    tmp_path: Path, shared_media: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="osint_video.media.bounded")
    _probe(exif_ifd_loop(shared_media / "Apple_iPhone_4.jpg", tmp_path / "loop.jpg"))
    assert "EXIF (exifread): exifread: IFD loop detected." in caplog.text

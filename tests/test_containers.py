"""The box/chunk reader on real files (values cross-checked with ExifTool) and crafted boxes."""

from __future__ import annotations

import struct
import subprocess
import time
from pathlib import Path

import pytest
from synth import make_cut_clip

from osint_video.media.containers import (
    XMP_UUID,
    iter_boxes,
    parse_loci,
    read_container_tags,
    read_jpeg_xmp,
    xmp_fields,
)


def _box(typ: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + typ + payload


def _loci(lat: float, lon: float, alt: float, name: str = "Kyiv") -> bytes:
    fixed = struct.pack(">iii", round(lon * 65536), round(lat * 65536), round(alt * 65536))
    body = b"\x00\x00\x00\x00" + b"\x15\xc7" + name.encode() + b"\x00" + b"\x00" + fixed
    return _box(b"loci", body + b"earth\x00notes\x00")


def _append_to_moov(path: Path, *boxes: bytes) -> None:
    """Put extra boxes at the end of a trailing moov (mdat first: no chunk offsets move)."""
    data = bytearray(path.read_bytes())
    with open(path, "rb") as f:
        moov = [b for b in iter_boxes(f, 0, len(data)) if b.type == b"moov"][0]
    assert moov.end == len(data), "moov must be the last box for this helper"
    extra = b"".join(boxes)
    data[moov.start : moov.start + 4] = struct.pack(">I", moov.size + len(extra))
    path.write_bytes(bytes(data) + extra)


def test_top_level_boxes_of_an_iphone_mov(shared_media: Path) -> None:
    path = shared_media / "with-gps.mov"
    with open(path, "rb") as f:
        boxes = list(iter_boxes(f, 0, path.stat().st_size))
    assert [b.type for b in boxes] == [b"ftyp", b"wide", b"mdat", b"moov"]
    assert boxes[-1].end == path.stat().st_size


def test_apple_mdta_keys_and_mvhd(shared_media: Path) -> None:
    tags = read_container_tags(shared_media / "with-gps.mov")
    assert tags.format == "isobmff"
    assert tags.mdta["com.apple.quicktime.location.ISO6709"] == "+32.0929+034.8620+028.516/"
    assert tags.mdta["com.apple.quicktime.creationdate"] == "2019-07-24T11:25:40+0300"
    assert tags.mdta["com.apple.quicktime.software"] == "12.3"
    assert tags.mdta["com.apple.quicktime.make"] == "Apple"
    assert tags.mvhd_created == "2019-07-24T08:25:57Z"
    assert tags.truncated is None


def test_header_only_quicktime_udta_pentax_and_xmp(shared_media: Path) -> None:
    tags = read_container_tags(shared_media / "QuickTime.mov")
    assert tags.mvhd_created == "2005-08-11T14:03:54Z"
    assert tags.mvhd_modified == "2010-07-30T15:43:59Z"
    assert tags.udta["©ART"] == "årtist"  # Mac Roman text atom decoded
    assert tags.udta["©inf"] == "PENTAX DIGITAL CAMERA"
    assert tags.udta["TAGS.make"] == "PENTAX DIGITAL CAMERA"
    assert tags.mdta["com.apple.quicktime.artist"] == "årtist"
    assert tags.ilst["aART"] == "ålbüm årtîst"
    assert tags.mdat_bytes == 0
    assert "Phil Harvey" in (tags.xmp or "")


def test_android_xyz_and_xmp_in_uuid_and_udta(shared_media: Path) -> None:
    assert read_container_tags(shared_media / "fire2.mp4").udta["©xyz"] == "+54.1843-002.7189/"
    uuid = read_container_tags(shared_media / "uuid540.mp4")
    assert "Adobe Bridge 2020" in (uuid.xmp or "")
    assert uuid.udta["titl"] == "My Movie"
    qt = read_container_tags(shared_media / "xmp480qt.mov")
    assert "Baltic sea timelapse description" in (qt.xmp or "")
    assert xmp_fields(qt.xmp or "")["xmp:CreatorTool"].startswith("Adobe After Effects 2020")


def test_avi_riff_info(shared_media: Path) -> None:
    tags = read_container_tags(shared_media / "MVI_4823.AVI")
    assert tags.format == "riff"
    assert tags.riff_info == {"IDIT": "MON SEP 10 20:52:00 2012", "ISFT": "CanonMVI06"}


def test_avchd_sei_mdpm(shared_media: Path) -> None:
    tags = read_container_tags(shared_media / "Sony_ILCE-7M3_A7M3.mts")
    assert tags.format == "mpegts"
    assert tags.mdpm == {
        "DateTimeOriginal": "2019:04:24 22:24:00",
        "OffsetTime": "+02:00",
        "DST": "yes",
        "Make": "Sony",
        "Model": "ILCE-7M3",
    }


def test_jpeg_xmp_keeps_the_phone_software(shared_media: Path) -> None:
    with open(shared_media / "ela_original.jpg", "rb") as f:
        xmp = read_jpeg_xmp(f)
    fields = xmp_fields(xmp or "")
    assert fields["exif:Software"] == "addison-user 8.0.0 OPN27.76-12-22 24 release-keys"
    with open(shared_media / "Apple_iPhone_4.jpg", "rb") as f:
        assert read_jpeg_xmp(f) is None


def test_parse_loci_southern_western_with_altitude() -> None:
    loc = parse_loci(_loci(-33.8688, -151.2093, -12.5)[8:])
    assert loc is not None
    assert loc["lat"] == pytest.approx(-33.8688, abs=1e-4)
    assert loc["lon"] == pytest.approx(-151.2093, abs=1e-4)
    assert loc["alt_m"] == pytest.approx(-12.5, abs=1e-4)
    assert (loc["name"], loc["body"], loc["notes"]) == ("Kyiv", "earth", "notes")
    assert parse_loci(b"\x00" * 8) is None


def test_loci_and_xmp_boxes_in_a_generated_mp4(tmp_path: Path) -> None:
    clip = make_cut_clip(tmp_path / "c.mp4", [], 10)
    xmp = b'<x:xmpmeta><rdf:Description xmp:CreatorTool="CapCut"/></x:xmpmeta>'
    _append_to_moov(clip, _box(b"udta", _loci(50.4501, 30.5234, 179.0) + _box(b"XMP_", xmp)))
    tags = read_container_tags(clip)
    assert tags.loci is not None and tags.loci["lat"] == pytest.approx(50.4501, abs=1e-4)
    assert tags.xmp is not None and xmp_fields(tags.xmp)["xmp:CreatorTool"] == "CapCut"
    # ffmpeg still accepts the file: the box structure we wrote is valid
    subprocess.run(["ffprobe", "-v", "error", str(clip)], check=True, capture_output=True)


def test_top_level_uuid_xmp_in_a_generated_mp4(tmp_path: Path) -> None:
    clip = make_cut_clip(tmp_path / "c.mp4", [], 10)
    xmp = b'<x:xmpmeta><rdf:Description xmp:CreatorTool="InShot 2.0"/></x:xmpmeta>'
    with open(clip, "ab") as f:
        f.write(_box(b"uuid", XMP_UUID + xmp))
    tags = read_container_tags(clip)
    assert xmp_fields(tags.xmp or "") == {"xmp:CreatorTool": "InShot 2.0"}


def test_cut_file_reports_truncation(tmp_path: Path) -> None:
    clip = make_cut_clip(
        tmp_path / "c.mp4",
        [],
        50,
        codec_args=(
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-pix_fmt",
            "yuv420p",
            "-movflags",
            "+faststart",
        ),
    )
    data = clip.read_bytes()
    clip.write_bytes(data[: len(data) * 2 // 3])
    tags = read_container_tags(clip)
    assert tags.truncated is not None and "mdat" in tags.truncated
    assert tags.mvhd_created is None  # ffmpeg wrote no creation time


def test_large_mdat_is_skipped_not_read(tmp_path: Path) -> None:
    """A 64-bit mdat of 3 GiB (sparse) costs a seek: the reader never loads media data."""
    path = tmp_path / "big.mov"
    mdat_size = 3 << 30
    mvhd = _box(
        b"mvhd", b"\x00" * 4 + struct.pack(">II", 3_700_000_000, 3_700_000_001) + b"\x00" * 88
    )
    with open(path, "wb") as f:
        f.write(_box(b"ftyp", b"qt  \x00\x00\x00\x00qt  "))
        f.write(struct.pack(">I4sQ", 1, b"mdat", mdat_size))
        f.seek(mdat_size - 16, 1)
        f.write(_box(b"moov", mvhd))
    start = time.perf_counter()
    tags = read_container_tags(path)
    assert time.perf_counter() - start < 0.5
    assert tags.mdat_bytes == mdat_size - 16
    assert tags.mvhd_created == "2021-03-31T01:46:40Z"  # 1904 epoch + 3.7e9 s


def test_non_container_files_give_empty_tags(tmp_path: Path, shared_media: Path) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"hello world" * 10)
    assert read_container_tags(junk).as_raw() == {"format": ""}
    assert read_container_tags(shared_media / "big_buck_bunny_0_30.webm").format == ""
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert read_container_tags(empty).format == ""

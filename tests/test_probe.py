"""probe_file against every shared file's truth.json, and generated clips with injected metadata."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from fractions import Fraction
from pathlib import Path

import pytest
from conftest import SHARED_MEDIA, missing
from synth import make_cut_clip

from osint_video.config import ProbeConfig
from osint_video.errors import InputError, ProbeError
from osint_video.media.probe import parse_iso6709, probe_file
from osint_video.media.sniff import sniff_kind
from osint_video.models import ProbeResult

CFG = ProbeConfig()
_TRUTH = SHARED_MEDIA / "truth.json"
SHARED = sorted(json.loads(_TRUTH.read_text())["files"]) if _TRUTH.is_file() else []


def _probe(path: Path) -> ProbeResult:
    kind = sniff_kind(path)
    assert kind is not None
    return probe_file(path, kind, CFG)


def _iso(text: str) -> str:
    """truth's 'YYYY-MM-DDTHH:MM:SS (note)' -> the timestamp part."""
    return text.split(" ")[0]


@pytest.mark.parametrize("name", SHARED or ["<shared media missing>"])
def test_shared_file_matches_truth(name: str, shared_media: Path, truth: dict) -> None:
    t = truth[name]
    r = _probe(shared_media / name)
    m, md = r.media, r.metadata
    assert m.width == t["width"] and m.height == t["height"]
    if t["kind"] == "still":
        assert m.kind == "image" and m.duration_s is None
        assert m.rotation_deg == 0
    else:
        assert m.kind == "video"
        assert m.duration_s == pytest.approx(t["duration_s"], abs=1e-3)
        assert m.fps == pytest.approx(t["fps"], rel=1e-4)
        assert m.fps_nominal == pytest.approx(float(Fraction(t["r_frame_rate"])), rel=1e-6)
        assert m.codec == t["codec"]
        assert m.container == t["container"]
        assert m.rotation_deg == (t["rotation_deg"] or 0)
        assert m.variable_frame_rate == t["variable_frame_rate"]
        assert m.frame_count == t["frames_declared"]
    _check_times(md, t.get("creation_time") or {})
    _check_location(md.location, t.get("gps"))
    if t.get("model"):
        assert (md.make, md.model) == (t["make"], t["model"])
    if t.get("software") and t["kind"] == "still" or name in ("with-gps.mov", "MVI_4823.AVI"):
        assert md.software == t["software"]
    json.dumps(md.raw)  # evidence must be JSON-serialisable


def _check_times(md, ct: dict) -> None:
    if not ct:
        assert md.creation_time is None
        return
    if "container_utc" in ct:
        assert md.creation_time == ct["container_utc"]
        assert md.creation_time_source == "mvhd creation_time"
    if "device_local" in ct:  # "2019-07-24T11:25:40+03:00"
        assert md.creation_time_local + md.creation_utc_offset == ct["device_local"]
    if "exif_DateTimeOriginal" in ct:
        assert md.creation_time_local == _iso(ct["exif_DateTimeOriginal"])
        assert md.creation_time == md.creation_time_local  # no zone: no 'Z'
        assert md.creation_utc_offset is None
    if "riff_IDIT" in ct:
        assert md.creation_time == _iso(ct["riff_IDIT"])
        assert md.creation_time_source == "riff_IDIT (no zone)"
    if "h264_sei_mdpm" in ct:  # 2019-04-24T22:24:00+02:00
        assert md.creation_time_local + md.creation_utc_offset == _iso(ct["h264_sei_mdpm"])
        assert md.creation_time == "2019-04-24T20:24:00Z"


def _check_location(loc, gps: dict | None) -> None:
    if gps is None:
        assert loc is None
        return
    assert loc is not None
    assert loc.lat == pytest.approx(gps["lat"], abs=1e-4)
    assert loc.lon == pytest.approx(gps["lon"], abs=1e-4)
    if "alt_m" in gps:
        assert loc.alt_m == pytest.approx(gps["alt_m"], abs=1e-2)


def test_header_only_quicktime_keeps_its_metadata(shared_media: Path) -> None:
    r = _probe(shared_media / "QuickTime.mov")
    md = r.metadata
    assert md.creation_time == "2005-08-11T14:03:54Z"
    assert md.make == "PENTAX DIGITAL CAMERA"  # Pentax TAGS box (maker notes)
    assert md.raw["ffprobe"]["format_tags"]["artist"] == "årtist"
    assert md.raw["boxes"]["udta"]["©ART"] == "årtist"
    assert md.raw["boxes"]["mdat_bytes"] == 0
    assert r.media.frame_count == 149 and r.media.width == 320


def test_gimp_jpeg_uses_exif_gps_not_the_xmp_east_trap(shared_media: Path) -> None:
    for name in ("ela_original.jpg", "ela_modified.jpg"):
        md = _probe(shared_media / name).metadata
        assert md.location is not None and md.location.source == "EXIF GPS IFD"
        assert (md.location.lat, md.location.lon) == pytest.approx(
            (-23.5226029, -47.5044985), abs=1e-6
        )
        assert md.location.alt_m == 605
        assert md.raw["xmp_fields"]["exif:GPSLongitudeRef"] == "W"


def test_handlers_and_sources(shared_media: Path) -> None:
    md = _probe(shared_media / "with-gps.mov").metadata
    assert md.handler_names == (
        "Core Media Audio",
        "Core Media Video",
        "Core Media Metadata",
        "Core Media Metadata",
    )
    assert md.location is not None and md.location.source == "com.apple.quicktime.location.ISO6709"
    fire = _probe(shared_media / "fire2.mp4").metadata
    assert fire.location is not None and fire.location.source == "udta/©xyz"
    assert fire.handler_names == ("VideoHandle", "SoundHandle")
    assert _probe(shared_media / "counter.mp4").metadata.encoder == "Lavf58.12.100"
    assert _probe(shared_media / "uuid540.mp4").metadata.software == "Adobe Bridge 2020 (Macintosh)"


def test_generated_clip_with_injected_metadata(tmp_path: Path) -> None:
    clip = make_cut_clip(
        tmp_path / "c.mp4",
        [12],
        25,
        metadata={
            "creation_time": "2022-02-24T03:30:00Z",
            "location": "+12.3456-045.6789/",
            "make": "TestCam",
            "model": "TC-1",
        },
    )
    r = _probe(clip)
    assert r.metadata.creation_time == "2022-02-24T03:30:00Z"
    assert r.metadata.location is not None
    assert (r.metadata.location.lat, r.metadata.location.lon) == pytest.approx((12.3456, -45.6789))
    assert r.metadata.encoder is not None and r.metadata.encoder.startswith("Lavf")
    assert (r.media.frame_count, r.media.width, r.media.fps) == (25, 320, 25.0)
    assert r.media.variable_frame_rate is False and r.media.rotation_deg == 0


@pytest.mark.parametrize("rotate", [90, 180, 270])
def test_rotation_agrees_with_exiftool(tmp_path: Path, rotate: int) -> None:
    """ffmpeg 5.1 turns `rotate=R` into a display matrix of +R degrees (counter-clockwise),
    which ExifTool reads as (360 - R) clockwise; ExifTool's convention is the reference."""
    if shutil.which("exiftool") is None:
        missing("exiftool")
    src = make_cut_clip(tmp_path / "a.mp4", [], 10)
    out = tmp_path / "r.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-i",
            str(src),
            "-c",
            "copy",
            "-metadata:s:v",
            f"rotate={rotate}",
            str(out),
        ],
        check=True,
    )
    exif = subprocess.run(
        ["exiftool", "-n", "-s3", "-Rotation", str(out)], check=True, capture_output=True, text=True
    ).stdout.strip()
    assert _probe(out).media.rotation_deg == int(exif) == (360 - rotate) % 360


def test_variable_frame_rate_from_timestamps(tmp_path: Path) -> None:
    src = make_cut_clip(tmp_path / "a.mkv", [], 40)
    out = tmp_path / "vfr.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-i",
            str(src),
            "-vf",
            "setpts='if(lt(N,20),N*0.04,0.8+(N-20)*0.1)/TB'",
            "-fps_mode",
            "passthrough",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            str(out),
        ],
        check=True,
    )
    m = _probe(out).media
    assert m.variable_frame_rate is True
    assert m.frame_count == 40


def test_iso6709_forms() -> None:
    loc = parse_iso6709("+32.0929+034.8620+028.516/")
    assert loc is not None and (loc.lat, loc.lon, loc.alt_m) == (32.0929, 34.862, 28.516)
    ddmm = parse_iso6709("+5030.00-00030.00/")  # 50°30' N, 0°30' W
    assert ddmm is not None and (ddmm.lat, ddmm.lon) == pytest.approx((50.5, -0.5))
    dms = parse_iso6709("-233121.37-0473016.19/")
    assert dms is not None and (dms.lat, dms.lon) == pytest.approx((-23.52260, -47.50450), abs=1e-4)
    assert parse_iso6709("+95.0+010.0/") is None and parse_iso6709("nowhere") is None


def test_bad_inputs(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(200))
    with pytest.raises(ProbeError):
        probe_file(junk, "video", CFG)
    with pytest.raises(ProbeError):
        probe_file(junk, "image", CFG)
    with pytest.raises(InputError):
        probe_file(tmp_path / "missing.mp4", "video", CFG)


def test_probe_is_cheap(shared_media: Path, truth: dict) -> None:
    """One ffprobe per video plus in-process box reading: well under a second per file."""
    worst = 0.0
    for name in truth:
        start = time.perf_counter()
        _probe(shared_media / name)
        worst = max(worst, time.perf_counter() - start)
    assert worst < 1.0


def test_ffprobe_answers_are_reused_per_unchanged_file(tmp_path: Path, monkeypatch) -> None:
    """A plain ffprobe call on a file probed just before (any extra entries) runs no process;
    callers get their own copy, and a rewritten file is probed again."""
    from osint_video.media import ffmpeg

    clip = make_cut_clip(tmp_path / "a.mp4", [], 10, fps=10, size=(64, 48))
    calls: list[Path] = []
    real = ffmpeg._ffprobe
    monkeypatch.setattr(ffmpeg, "_ffprobe", lambda p, t, e: calls.append(p) or real(p, t, e))
    full = ffmpeg.ffprobe_json(clip, timeout=30, extra=["-show_entries", "packet=pts_time"])
    plain = ffmpeg.ffprobe_json(clip, timeout=30)
    assert len(calls) == 1 and plain["streams"] == full["streams"]
    plain["streams"].clear()
    assert ffmpeg.ffprobe_json(clip, timeout=30)["streams"] == full["streams"]
    assert len(calls) == 1
    make_cut_clip(clip, [], 20, fps=10, size=(64, 48))  # same path, new content
    again = ffmpeg.ffprobe_json(clip, timeout=30)
    assert len(calls) == 2 and again["streams"][0]["nb_frames"] == "20"

"""Anomaly codes on real files and on generated clips built to show each one."""

from __future__ import annotations

import dataclasses
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import av
import pytest
from PIL import Image
from synth import make_cut_clip

from osint_video.anomalies import detect_anomalies
from osint_video.config import ProbeConfig
from osint_video.media.probe import probe_file
from osint_video.media.sniff import sniff_kind
from osint_video.models import DecodeStats, ProbeResult

CFG = ProbeConfig()
NOW = datetime(2026, 1, 1, tzinfo=UTC)
FASTSTART = (
    "-c:v",
    "libx264",
    "-preset",
    "veryfast",
    "-pix_fmt",
    "yuv420p",
    "-movflags",
    "+faststart",
)


def _probe(path: Path) -> ProbeResult:
    kind = sniff_kind(path)
    assert kind is not None
    return probe_file(path, kind, CFG)


def _codes(probe: ProbeResult, decode: DecodeStats | None = None, **kw) -> set[str]:
    found = detect_anomalies(
        probe,
        decode=decode,
        acquired_at=kw.pop("acquired_at", NOW),
        now=kw.pop("now", NOW),
        cfg=CFG,
        **kw,
    )
    assert all(a.message.endswith(".") and a.code for a in found)
    return {a.code for a in found}


def _decode(path: Path) -> DecodeStats:
    """What the keyframe step would report: frames decoded and the last pts (PyAV)."""
    count, last = 0, None
    with av.open(str(path)) as container:
        try:
            for frame in container.decode(video=0):
                count += 1
                last = frame.time
        except av.FFmpegError:
            pass
    return DecodeStats(frames_decoded=count, last_pts_s=last)


EXPECTED = {
    "counter.mp4": {"no_metadata", "reencoded"},
    "big_buck_bunny_0_30.webm": {"no_metadata", "reencoded"},
    "fire2.mp4": {"variable_frame_rate", "rotated"},
    "with-gps.mov": {"rotated"},
    "QuickTime.mov": {"no_decodable_frames"},
    "ela_original.jpg": {"reencoded", "software_edit_trace", "xmp_exif_conflict"},
    "Apple_iPhone_4.jpg": set(),
    "IMG_1034.heic": set(),
    "Sony_ILCE-7M3_A7M3.mts": set(),
    "MVI_4823.AVI": set(),
    "cup.mp4": set(),
    "xmp480qt.mov": {"reencoded"},
    "testvideo.mp4": {"reencoded"},  # GPAC handler: muxed by a tool, not a camera
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_files(name: str, shared_media: Path) -> None:
    assert _codes(_probe(shared_media / name)) == EXPECTED[name]


def test_real_files_with_their_true_decode_counts(shared_media: Path, truth: dict) -> None:
    for name in ("with-gps.mov", "fire2.mp4", "MVI_4823.AVI", "QuickTime.mov"):
        t = truth[name]
        decode = DecodeStats(
            frames_decoded=t["frames_decoded"],
            last_pts_s=(t["duration_s"] - 1 / t["fps"]) if t["frames_decoded"] else None,
        )
        codes = _codes(_probe(shared_media / name), decode)
        assert "truncated" not in codes
        assert ("no_decodable_frames" in codes) == (t["frames_decoded"] == 0)


def test_ffmpeg_remux_is_flagged(tmp_path: Path, shared_media: Path) -> None:
    out = tmp_path / "remux.mov"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-i",
            str(shared_media / "with-gps.mov"),
            "-map",
            "0",
            "-c",
            "copy",
            str(out),
        ],
        check=True,
    )
    found = detect_anomalies(_probe(out), decode=None, acquired_at=NOW, now=NOW, cfg=CFG)
    reenc = [a for a in found if a.code == "reencoded"]
    assert reenc and "Lavf" in reenc[0].message


def test_truncated_tail_is_flagged_from_boxes_and_from_decoding(tmp_path: Path) -> None:
    clip = make_cut_clip(tmp_path / "c.mp4", [20], 60, codec_args=FASTSTART)
    full = _probe(clip)
    assert "truncated" not in _codes(full, _decode(clip))
    data = clip.read_bytes()
    clip.write_bytes(data[: len(data) // 2])
    cut = _probe(clip)
    assert cut.media.frame_count == 60  # the header still declares every frame
    assert "truncated" in _codes(cut)  # mdat runs past the end of the file
    decode = _decode(clip)
    assert 0 < decode.frames_decoded < 60
    no_box_view = dataclasses.replace(cut, metadata=dataclasses.replace(cut.metadata, raw={}))
    assert "truncated" in _codes(no_box_view, decode)  # declared vs decoded frame count


def test_duration_mismatch_alone(shared_media: Path) -> None:
    probe = _probe(shared_media / "cup.mp4")
    no_count = dataclasses.replace(probe, media=dataclasses.replace(probe.media, frame_count=None))
    assert "truncated" in _codes(no_count, DecodeStats(frames_decoded=100, last_pts_s=3.7))
    assert "truncated" not in _codes(no_count, DecodeStats(frames_decoded=217, last_pts_s=8.07))


def test_no_decodable_frames_from_decode(shared_media: Path) -> None:
    probe = _probe(shared_media / "cup.mp4")
    assert "no_decodable_frames" in _codes(probe, DecodeStats(frames_decoded=0, last_pts_s=None))


def test_clock_anomalies(tmp_path: Path) -> None:
    clip = make_cut_clip(
        tmp_path / "c.mp4", [], 10, metadata={"creation_time": "2025-06-01T12:00:00Z", "make": "X"}
    )
    probe = _probe(clip)
    assert "creation_in_future" in _codes(
        probe, now=datetime(2025, 5, 1, tzinfo=UTC), acquired_at=datetime(2025, 5, 1, tzinfo=UTC)
    )
    codes = _codes(probe, acquired_at=datetime(2025, 5, 30, tzinfo=UTC))
    assert "created_after_acquisition" in codes and "creation_in_future" not in codes
    # naive datetimes are taken as UTC; within tolerance nothing is flagged
    assert not {"creation_in_future", "created_after_acquisition"} & _codes(
        probe, now=datetime(2025, 6, 1, 12, 3), acquired_at=datetime(2025, 6, 1, 12, 3)
    )


def test_null_island(tmp_path: Path) -> None:
    clip = make_cut_clip(
        tmp_path / "c.mp4",
        [],
        10,
        metadata={"location": "+00.0000+000.0000/", "creation_time": "2020-01-01T00:00:00Z"},
    )
    probe = _probe(clip)
    assert "gps_null_island" in _codes(probe)
    assert "no_metadata" not in _codes(probe)


def test_resized_jpeg_exif_dimensions(tmp_path: Path, shared_media: Path) -> None:
    with Image.open(shared_media / "Apple_iPhone_4.jpg") as img:
        exif = img.info["exif"]
        img.resize((648, 484)).save(tmp_path / "small.jpg", exif=exif)
    probe = _probe(tmp_path / "small.jpg")
    assert "exif_dimensions_mismatch" in _codes(probe)
    original = _probe(shared_media / "Apple_iPhone_4.jpg")
    assert "exif_dimensions_mismatch" not in _codes(original)
    assert "exif_dimensions_mismatch" not in _codes(original, decoded_size=(968, 1296))
    assert "exif_dimensions_mismatch" in _codes(original, decoded_size=(1200, 900))


def test_pure_and_ordered(shared_media: Path) -> None:
    probe = _probe(shared_media / "fire2.mp4")
    first = detect_anomalies(probe, decode=None, acquired_at=NOW, now=NOW, cfg=CFG)
    again = detect_anomalies(probe, decode=None, acquired_at=NOW, now=NOW, cfg=CFG)
    assert first == again
    assert [a.code for a in first] == ["variable_frame_rate", "rotated"]
    assert {a.severity for a in first} == {"info"}


def test_corrupt_frames_from_decode(shared_media: Path) -> None:
    probe = _probe(shared_media / "cup.mp4")
    clean = DecodeStats(frames_decoded=217, last_pts_s=8.07)
    assert "corrupt_frames" not in _codes(probe, clean)
    damaged = dataclasses.replace(clean, corrupt_frames=3)
    assert "corrupt_frames" in _codes(probe, damaged)

"""Shot-boundary detection against real goldens and generated clips with known cut frames."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from synth import make_cut_clip

from osint_video.config import KeyframesConfig
from osint_video.errors import ConfigError, ExtractionError
from osint_video.keyframes.extract import extract_keyframes
from osint_video.models import MediaInfo

VIDEO = MediaInfo(kind="video")
CUTS = [23, 51, 88]
TOTAL = 120


def cuts_of(path: Path, out: Path, **options) -> list[int]:
    cfg = dataclasses.replace(KeyframesConfig(), **options)
    return [c.frame for c in extract_keyframes(path, VIDEO, out, cfg).cuts]


def near(found: list[int], expected: list[int], tol: int) -> bool:
    if len(found) != len(expected):
        return False
    return all(abs(a - b) <= tol for a, b in zip(found, expected, strict=True))


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize(
    ("name", "key", "golden"),
    [
        ("testvideo.mp4", "expected_cuts", "ContentDetector.default"),
        ("counter.mp4", "expected_cuts", "ContentDetector.default"),
        ("big_buck_bunny_0_30.webm", "reference_cuts", "verified_hard_cuts"),
    ],
)
def test_real_clip_goldens(shared_media, truth, tmp_path, name, key, golden, fast):
    expected = truth[name][key][golden]
    found = cuts_of(shared_media / name, tmp_path, fast_path=fast)
    assert near(found, expected, 2), (name, found, expected)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("cuts")
    return {
        "scenecut": make_cut_clip(d / "scenecut.mp4", CUTS, TOTAL),
        "gop": make_cut_clip(d / "gop.mp4", CUTS, TOTAL, gop=30, noise=12),
        "flash": make_cut_clip(
            d / "flash.mp4", CUTS, TOTAL, gop=30, flash_frames=[35, 70, 71, 105]
        ),
        "webm": make_cut_clip(
            d / "cuts.webm",
            CUTS,
            TOTAL,
            codec_args=("-c:v", "libvpx", "-b:v", "1M", "-deadline", "realtime"),
        ),
    }


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("kind", ["scenecut", "gop", "webm"])
def test_generated_cuts_exact(clips, tmp_path, kind, fast):
    assert cuts_of(clips[kind], tmp_path, fast_path=fast) == CUTS


@pytest.mark.parametrize("fast", [True, False])
def test_one_and_two_frame_flashes_are_not_cuts(clips, tmp_path, fast):
    assert cuts_of(clips["flash"], tmp_path, fast_path=fast) == CUTS


def test_fade_in_from_black_is_not_a_cut(tmp_path):
    clip = tmp_path / "fade.mp4"
    import subprocess

    subprocess.run(
        [
            "ffmpeg",
            "-y",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=25",
            "-vf",
            "fade=t=in:st=0:d=1.5,fade=t=out:st=3:d=1",
            "-frames:v",
            "110",
            "-pix_fmt",
            "yuv420p",
            str(clip),
        ],
        check=True,
    )
    assert cuts_of(clip, tmp_path) == []


def test_shots_cover_the_clip_with_pts_times(clips, tmp_path):
    r = extract_keyframes(clips["gop"], VIDEO, tmp_path, KeyframesConfig())
    assert [(s.start_frame, s.end_frame) for s in r.shots] == [
        (0, 22),
        (23, 50),
        (51, 87),
        (88, TOTAL - 1),
    ]
    assert [s.start_s for s in r.shots] == pytest.approx([0, 23 / 25, 51 / 25, 88 / 25])
    assert r.shots[-1].end_s == pytest.approx(TOTAL / 25)
    assert [c.time_s for c in r.cuts] == pytest.approx([c / 25 for c in CUTS])
    assert r.decode.frames_decoded == TOTAL


def test_iframes_method_takes_the_encoder_keyframes(clips, tmp_path):
    r = extract_keyframes(clips["gop"], VIDEO, tmp_path, KeyframesConfig(method="iframes"))
    assert r.cuts == ()
    assert [k.frame for k in r.keyframes] == [0, 30, 60, 90]
    assert r.decode.frames_decoded == TOTAL  # counted from packets, though only 4 were decoded


def test_interval_method_one_keyframe_per_interval(clips, tmp_path):
    r = extract_keyframes(
        clips["gop"], VIDEO, tmp_path, KeyframesConfig(method="interval", interval_s=1.0)
    )
    assert r.cuts == ()
    assert [int(k.time_s) for k in r.keyframes] == [0, 1, 2, 3, 4]


def test_unknown_method_is_a_config_error(clips, tmp_path):
    with pytest.raises(ConfigError):
        extract_keyframes(clips["gop"], VIDEO, tmp_path, KeyframesConfig(method="magic"))


def test_header_only_file_raises_extraction_error(shared_media, tmp_path):
    with pytest.raises(ExtractionError, match="no video frame"):
        extract_keyframes(shared_media / "QuickTime.mov", VIDEO, tmp_path, KeyframesConfig())


def test_junk_file_raises_extraction_error(tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 100)
    with pytest.raises(ExtractionError):
        extract_keyframes(junk, VIDEO, tmp_path, KeyframesConfig())


def test_steady_gops_are_not_decoded_but_cuts_stay_exact(tmp_path):
    """Fixed 50-frame GOPs (one per decoded chunk), long steady shots: GOPs whose bounding
    keyframes look alike are skipped, and decoding stops once a GOP has settled into the next
    keyframe's shot; the cuts (mid-GOP) are still frame-exact."""
    from osint_video.keyframes.shots import dense_planner, features, still_test
    from osint_video.media.decode import DecodePlan, FrameSource
    from osint_video.media.plan import FastPath

    cuts = [60, 143]
    clip = make_cut_clip(tmp_path / "steady.mp4", cuts, 300, gop=50, size=(320, 240))
    cfg = KeyframesConfig()
    dense = FastPath(dense=dense_planner(cfg))
    fast = FrameSource(clip, DecodePlan(width=64, fast=dense, analyse=features))
    still = FastPath(still=still_test(cfg), dense=dense_planner(cfg))
    lean = FrameSource(clip, DecodePlan(width=64, fast=still, analyse=features))
    assert len(list(lean.frames())) < 0.85 * len(list(fast.frames()))
    assert lean.stats is not None and lean.stats.frames_decoded == 300
    r = extract_keyframes(clip, VIDEO, tmp_path / "kf", cfg)
    assert [c.frame for c in r.cuts] == cuts
    assert [s.start_frame for s in r.shots] == [0, *cuts]

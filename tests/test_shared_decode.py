"""One decode for keyframes and matching: the keyframe pass samples matching's frames.

What must hold: the fingerprints tapped from the keyframe pass are exactly those matching
computes by decoding the clip on its own (same frames, pixels, hashes), and the tap changes
nothing the shot detector sees (same cuts, same keyframes).
"""

from __future__ import annotations

from pathlib import Path

import av
import pytest
from sqlalchemy import select
from synth import make_cut_clip, make_static_clip

from osint_video.config import load_config
from osint_video.keyframes.extract import extract_keyframes
from osint_video.matching.match import SampledFingerprints, fingerprint_video
from osint_video.matching.sampler import Schedule, sample_grey
from osint_video.media.decode import SampleTap
from osint_video.media.probe import probe_file
from osint_video.store.schema import ClipRow, FingerprintRow
from osint_video.workspace import Workspace

CUTS = [40, 95, 150]


@pytest.fixture(scope="module")
def gop_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Fixed GOP (keyframes not at cuts), B pyramids, grain: the fast path's hard case."""
    path = tmp_path_factory.mktemp("tap") / "gop.mp4"
    return make_cut_clip(path, CUTS, 200, fps=25, size=(320, 240), gop=48, noise=8)


def _with_and_without_tap(path: Path, out: Path):
    cfg = load_config(environ={})
    media = probe_file(path, "video", cfg.probe).media
    plain = extract_keyframes(path, media, out / "plain", cfg.keyframes)
    sampled = SampledFingerprints(media, cfg.matching)
    tap = sampled.tap()
    tapped = extract_keyframes(path, media, out / "tapped", cfg.keyframes, tap=tap)
    return plain, tapped, sampled.result(), fingerprint_video(path, media, cfg.matching)


@pytest.mark.parametrize("name", ["gop", "testvideo.mp4", "big_buck_bunny_0_30.webm"])
def test_tap_gives_matchings_own_fingerprints(
    name: str, gop_clip: Path, shared_media: Path, tmp_path: Path
) -> None:
    path = gop_clip if name == "gop" else shared_media / name
    plain, tapped, got, own = _with_and_without_tap(path, tmp_path)
    assert len(own) >= 8
    assert got == own  # times, textures and every view's pHash
    assert [c.frame for c in tapped.cuts] == [c.frame for c in plain.cuts]
    assert [k.frame for k in tapped.keyframes] == [k.frame for k in plain.keyframes]
    assert [s.start_frame for s in tapped.shots] == [s.start_frame for s in plain.shots]
    if name == "gop":
        assert [c.frame for c in tapped.cuts] == CUTS


def test_schedule_is_four_per_second_without_doubles() -> None:
    s = Schedule(0.25)
    times = [i / 30 for i in range(90)]
    taken = [t for t in times if s.take(t)]
    assert len(taken) == 12
    assert all(0.2 < b - a < 0.3 for a, b in zip(taken, taken[1:], strict=False))


def test_triage_stores_the_same_fingerprints(cli, home: Path, gop_clip: Path) -> None:
    code, _out, err = cli("triage", str(gop_clip), "--json")
    assert code == 0, err
    ws = Workspace.open(load_config(home=home))
    try:
        with ws.cases.session() as ses:
            clip = ses.scalars(select(ClipRow)).one()
            rows = ses.scalars(
                select(FingerprintRow)
                .where(FingerprintRow.clip_id == clip.id)
                .order_by(FingerprintRow.index)
            ).all()
            stored = [(r.time_s, r.full, r.center80, r.hash) for r in rows]
            evidence = ws.evidence.path_for(clip.sha256)
        media = probe_file(evidence, "video", ws.config.probe).media
        own = fingerprint_video(evidence, media, ws.config.matching)
    finally:
        ws.close()
    assert stored == [(f.time_s, f.view("full"), f.view("center80"), "phash:64") for f in own]


@pytest.fixture(scope="module")
def static_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One unchanging view (bars and grain), 6 s in GOPs of 50: every GOP is still."""
    return make_static_clip(tmp_path_factory.mktemp("static") / "static.mp4")


def _tapped_pictures(path: Path, alike) -> list[tuple[float, float]]:
    """(sample time, time of the frame whose picture it got) for each sample of the pass."""
    from osint_video.keyframes.extract import sampling_source

    with av.open(str(path)) as container:
        tb = container.streams.video[0].time_base
    got: list[tuple[float, int]] = []
    schedule = Schedule(0.25)
    tap = SampleTap(schedule.take, lambda frame: frame.pts, got.extend, alike)
    list(sampling_source(path, load_config(environ={}).keyframes, tap).frames())
    return [(t, float(pts * tb)) for t, pts in got]


def test_samples_are_exact_frames_unless_the_tap_accepts_a_stand_in(static_clip: Path) -> None:
    exact = _tapped_pictures(static_clip, None)
    assert len(exact) == 24
    assert all(seen == pytest.approx(t) for t, seen in exact)  # each its own frame
    refused = _tapped_pictures(static_clip, lambda a, b: False)
    assert refused == exact
    stood_in = _tapped_pictures(static_clip, lambda a, b: True)
    assert [t for t, _ in stood_in] == [t for t, _ in exact]
    # the two still GOPs are not decoded: each sample there has the nearer of the GOP's two
    # keyframes; the last GOP (no keyframe after it to compare with) is decoded as usual
    assert {seen for t, seen in stood_in if t < 4} == {0.0, 2.0, 4.0}
    assert all(abs(seen - t) <= 1.0 + 1e-9 for t, seen in stood_in if t < 4)
    assert [p for p in stood_in if p[0] >= 4] == [p for p in exact if p[0] >= 4]


def test_matching_accepts_stand_ins_only_for_pictures_that_hash_alike(
    static_clip: Path, tmp_path: Path
) -> None:
    """The static clip's keyframes fingerprint alike (stand-ins allowed); two different shots
    (the demo sample's testsrc2 and life) do not, so their samples are decoded exactly."""
    from osint_video.matching.fingerprints import alike
    from osint_video.media.grab import decode_exact
    from osint_video.sample import make_sample

    def greys(path: Path, frames: list[int]) -> list:
        return list(decode_exact(path, frames, lambda _i, fr: sample_grey(fr, 320)))

    a, b = greys(static_clip, [0, 50])
    assert alike(a, b)
    sample = make_sample(tmp_path / "sample.mp4")
    life_a, life_b, bars = greys(sample, [160, 210, 20])
    assert not alike(life_a, life_b) and not alike(life_a, bars)

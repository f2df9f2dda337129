"""The decode plan: several taps on one decode, a keep policy from outside, detectors' fast paths.

What must hold: each of several taps on one decode gets exactly the samples it gets alone (its
own take rule and stand-in rule, whatever the others ask), a frame two taps take is decoded
once and converted once per tap; the decoder keeps exactly the full pictures its keep policy
names; any registered detector gets the sparse decode by declaring it, and one that declares
nothing is handed every frame.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from synth import make_cut_clip, make_static_clip

from osint_video.config import KeyframesConfig
from osint_video.keyframes.extract import extract_keyframes, sampling_source, taps_samples
from osint_video.keyframes.shots import ContentCuts, features
from osint_video.matching.sampler import Schedule
from osint_video.media.decode import DecodePlan, FrameSource, SampleTap
from osint_video.media.plan import FastPath, SmallFrame
from osint_video.models import MediaInfo

CUTS = [40, 95, 150]
TOTAL = 200
VIDEO = MediaInfo(kind="video")


@pytest.fixture(scope="module")
def gop_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Fixed GOP (keyframes not at cuts), B pyramids, grain: stops and dense windows."""
    path = tmp_path_factory.mktemp("plan") / "gop.mp4"
    return make_cut_clip(path, CUTS, TOTAL, fps=25, size=(320, 240), gop=48, noise=8)


@pytest.fixture(scope="module")
def static_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One unchanging view, 6 s in GOPs of 50: every GOP but the last is skipped as still."""
    return make_static_clip(tmp_path_factory.mktemp("plan") / "static.mp4")


@dataclass
class Recorder:
    """A tap that records what it is given: each sample's (time, PTS of its picture), and
    every frame it was asked to convert."""

    step_s: float
    alike: Callable[[Any, Any], bool] | None = None
    got: list[tuple[float, int]] = field(default_factory=list)
    converted: list[Any] = field(default_factory=list)  # the av.VideoFrame objects

    def tap(self) -> SampleTap:
        return SampleTap(Schedule(self.step_s).take, self._convert, self.got.extend, self.alike)

    def _convert(self, frame: Any) -> int:
        self.converted.append(frame)
        return frame.pts


def _fresh(recorders: Sequence[Recorder]) -> list[Recorder]:
    return [Recorder(r.step_s, r.alike) for r in recorders]


def _sample(path: Path, recorders: Sequence[Recorder]) -> None:
    list(sampling_source(path, KeyframesConfig(), [r.tap() for r in recorders]).frames())


def _clip(name: str, gop_clip: Path, static_clip: Path, shared_media: Path) -> Path:
    return {"gop": gop_clip, "static": static_clip}.get(name) or shared_media / name


@pytest.mark.parametrize("name", ["gop", "static", "testvideo.mp4"])
def test_two_taps_each_get_what_they_get_alone(
    name: str, gop_clip: Path, static_clip: Path, shared_media: Path, tmp_path: Path
) -> None:
    """Matching-like (4 fps, keyframes may stand in) and text-like (every 0.4 s, exact frames
    only) taps on one decode, in the sampling run and in the keyframe pass."""
    path = _clip(name, gop_clip, static_clip, shared_media)
    taps = [Recorder(0.25, lambda a, b: True), Recorder(0.4)]
    alone = []
    for r in _fresh(taps):
        _sample(path, [r])
        alone.append(r.got)
    together = _fresh(taps)
    _sample(path, together)
    assert [r.got for r in together] == alone
    in_pass = _fresh(taps)
    cfg = KeyframesConfig()
    plain = extract_keyframes(path, VIDEO, tmp_path / "plain", cfg)
    tapped = extract_keyframes(
        path, VIDEO, tmp_path / "tapped", cfg, tap=[r.tap() for r in in_pass]
    )
    assert [r.got for r in in_pass] == alone
    assert [k.frame for k in tapped.keyframes] == [k.frame for k in plain.keyframes]
    assert [c.frame for c in tapped.cuts] == [c.frame for c in plain.cuts]
    stand_ins, exact = alone
    assert len(stand_ins) > len(exact) >= 8
    assert {round(t, 3) for t, _ in exact} != {round(t, 3) for t, _ in stand_ins}
    with av.open(str(path)) as container:
        tb = float(container.streams.video[0].time_base)
    assert all(abs(pts * tb - t) < 1e-6 for t, pts in exact)  # every one its own frame
    if name == "static":  # the still GOPs' samples borrow a keyframe for the first tap only
        assert sum(abs(pts * tb - t) > 1e-6 for t, pts in stand_ins) >= 10


@pytest.mark.parametrize("name", ["gop", "static"])
def test_a_frame_two_taps_take_is_decoded_once_and_converted_once_per_tap(
    name: str, gop_clip: Path, static_clip: Path, shared_media: Path
) -> None:
    path = _clip(name, gop_clip, static_clip, shared_media)
    taps = [Recorder(0.2), Recorder(0.4)]  # the second takes every other frame the first takes
    alone = []
    for r in _fresh(taps):
        _sample(path, [r])
        alone.append(sorted(f.pts for f in r.converted))
    a, b = _fresh(taps)
    _sample(path, [a, b])
    assert [sorted(f.pts for f in r.converted) for r in (a, b)] == alone  # no more, no fewer
    by_pts = {f.pts: f for f in a.converted}
    shared = [f for f in b.converted if f.pts in by_pts]
    assert len(shared) >= 10
    assert all(by_pts[f.pts] is f for f in shared)  # the very same decoded picture


@dataclass(frozen=True)
class EveryTenth:
    """A keep policy from outside the decoder: frames whose index is a multiple of 10."""

    def kept(self, frames: Sequence[SmallFrame]) -> set[int]:
        return {f.index for f in frames if f.index % 10 == 0}

    def tracker(self) -> EveryTenth:
        return self

    def add(self, frame: SmallFrame) -> list[int]:
        return [] if frame.index % 10 == 0 else [frame.index]


def test_the_decoder_keeps_the_pictures_its_policy_names(gop_clip: Path) -> None:
    plan = DecodePlan(width=64, fast=None, analyse=features, keep=EveryTenth())
    src = FrameSource(gop_clip, plan)
    frames = list(src.frames())
    assert [f.index for f in frames] == list(range(TOTAL))
    assert [f.index for f in frames if f.full is not None] == list(range(0, TOTAL, 10))
    for f in frames[::10]:  # exact pictures: shrunk again, the very small frame
        assert f.full is not None
        assert np.array_equal(src.small(f.full, f.index, f.pts_s, f.key).grey, f.grey)
    unkept = FrameSource(gop_clip, replace(plan, keep=None))
    assert all(f.full is None for f in unkept.frames())


SEEN: list[int] = []


def _note(frames: Iterable[SmallFrame]) -> Iterator[SmallFrame]:
    for f in frames:
        SEEN.append(f.index)
        yield f


@dataclass
class Plain:
    """A registered detector that declares nothing about decoding (ContentCuts' marks)."""

    cfg: KeyframesConfig

    def mark(self, frames: Iterable[SmallFrame]):
        return ContentCuts(self.cfg).mark(_note(frames))


@dataclass
class Sparse(Plain):
    """The same marks, declaring ContentCuts' fast path."""

    def fast_path(self) -> FastPath:
        return ContentCuts(self.cfg).fast_path()


def test_any_registered_detector_declares_its_fast_path(
    gop_clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from osint_video.keyframes import extract, shots

    monkeypatch.setitem(shots.METHODS, "plain", Plain)
    monkeypatch.setitem(shots.METHODS, "sparse", Sparse)
    seen = {}
    for method in ("plain", "sparse"):
        SEEN.clear()
        cfg = KeyframesConfig(method=method)
        r = extract.extract_keyframes(gop_clip, VIDEO, tmp_path / method, cfg)
        assert [c.frame for c in r.cuts] == CUTS
        seen[method] = sorted(SEEN)
    assert seen["plain"] == list(range(TOTAL))  # declares nothing: every frame
    assert len(seen["sparse"]) < 0.8 * TOTAL
    # the sparse one's plan is the sampling plan: its pass serves matching's samples
    assert taps_samples(KeyframesConfig(method="sparse"))
    assert taps_samples(KeyframesConfig())
    for cfg in (
        KeyframesConfig(method="plain"),
        KeyframesConfig(method="interval"),
        KeyframesConfig(method="iframes"),
        KeyframesConfig(fast_path=False),
    ):
        assert not taps_samples(cfg), cfg

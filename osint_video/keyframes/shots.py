"""Shot-boundary detection on small grey frames, and the other ways to cut a clip into segments.

A method is any object with `mark(frames)`: it sees the small frames in presentation order and
says, for each, whether it starts a new shot (`cut`) or a new segment the keyframe selector must
take a frame from (`segment_start`). Methods are picked by name from `METHODS`. A method may also
say what the decoder can skip for it (`ShotDetector`: `keys_only`, `fast_path`).

The `shots` method compares consecutive frames two ways, because each fails alone:
  * structure: 1 - Pearson correlation of the grey pixels. Blind to fades, exposure changes and
    flashes that only brighten (gain and offset cancel), but high inside shots whose every
    frame is new texture (water, foliage, a cellular automaton): so it is judged against the
    shot's own recent median (the threshold follows the content, and the gap between decoded
    frames, since the median is taken over the same kind of gaps);
  * tone: the L1 distance of 16-bin grey histograms. Stable inside such textured shots, but
    moved by fades: so it only counts when structure changed too.
A cut that reverts within `flash_max_frames` (muzzle flash, explosion) is not a cut. A dip to
black (fade out, black, fade in) joins two shots: the new one starts where the fade-in starts.
A shot that opens in black (clip start, or after a hard cut) and fades in stays one shot.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import ClassVar, Protocol

import cv2
import numpy as np

from ..config import KeyframesConfig
from ..media.plan import FastPath, SmallFrame

FLAT_STD = 4.0  # grey std below which correlation is meaningless (flat or black frames)
DARK_MEAN, DARK_STD = 40.0, 6.0  # "black": video-range luma black is 16
FADE_STEP = 2.0  # mean grey rise that ends a black stretch
BASELINE_FRAMES = 10


@dataclass(frozen=True)
class Marked:
    """A frame with the decision about it. `cut_score` is set only when the frame starts a shot."""

    frame: SmallFrame
    cut: bool = False
    segment_start: bool = False
    cut_score: float = 0.0
    flash: bool = False  # part of a flash: neither a cut nor a keyframe candidate


class ShotDetector(Protocol):
    """Anything that turns a stream of small frames into marked frames, lazily.

    Two optional members tell the decoder what the detector can do without; one with neither
    sees every frame:
    * `keys_only = True` (class attribute): it looks at encoder keyframes only (`keys_only`);
    * `fast_path() -> FastPath`: under `[keyframes] fast_path` it works from a sparse decode,
      and says which GOPs may be skipped and which gaps filled in (`fast_path`).
    """

    def mark(self, frames: Iterable[SmallFrame]) -> Iterator[Marked]: ...


def keys_only(detector: ShotDetector) -> bool:
    """Whether the detector looks at encoder keyframes only (nothing else need be decoded)."""
    return bool(getattr(detector, "keys_only", False))


def fast_path(detector: ShotDetector) -> FastPath | None:
    """How the detector works from a sparse decode; None when it needs every frame."""
    declared = getattr(detector, "fast_path", None)
    return declared() if callable(declared) else None


@dataclass(frozen=True)
class Features:
    grey: np.ndarray
    mean: float
    std: float
    hist: np.ndarray
    coarse: np.ndarray  # 16 px wide: layout without texture, for drift


def features(frame: SmallFrame) -> Features:
    """Features of a frame, computed once (the decoder threads usually did it already)."""
    if isinstance(frame.features, Features):
        return frame.features
    g = frame.grey.astype(np.float32)
    hist = np.bincount((frame.grey >> 4).ravel(), minlength=16).astype(np.float32)
    h = max(2, round(16 * g.shape[0] / g.shape[1]))
    coarse = cv2.resize(g, (16, h), interpolation=cv2.INTER_AREA)
    return Features(g, float(g.mean()), float(g.std()), hist / max(1.0, float(hist.sum())), coarse)


def drift(a: Features, b: Features) -> float:
    """How far the layout moved (0..1): 1 - correlation of 16-px thumbnails.

    Fine texture that renews every frame (water, grain) does not count; a pan or zoom does.
    """
    ca, cb = a.coarse, b.coarse
    sa, sb = float(ca.std()), float(cb.std())
    if sa < FLAT_STD or sb < FLAT_STD:
        return min(1.0, float(np.abs(ca - cb).mean()) / 40.0)
    corr = float(((ca - ca.mean()) * (cb - cb.mean())).mean()) / (sa * sb)
    return min(1.0, 1.0 - corr)


def pair_scores(a: Features, b: Features) -> tuple[float, float]:
    """(structure change 0..~1, tone change 0..1) between two frames."""
    tone = 0.5 * float(np.abs(a.hist - b.hist).sum())
    if a.std < FLAT_STD or b.std < FLAT_STD:
        return min(1.0, float(np.abs(a.grey - b.grey).mean()) / 40.0), tone
    corr = float(((a.grey - a.mean) * (b.grey - b.mean)).mean()) / (a.std * b.std)
    return min(1.0, 1.0 - corr), tone


def is_dark(f: Features) -> bool:
    return f.mean < DARK_MEAN and f.std < DARK_STD


@dataclass
class ContentCuts:
    """The `shots` method: hard cuts from structure + tone changes, flash- and fade-aware."""

    cfg: KeyframesConfig

    def fast_path(self) -> FastPath:
        """Still GOPs are skipped, gaps where the picture changed are filled in (exact cuts)."""
        return FastPath(still=still_test(self.cfg), dense=dense_planner(self.cfg))

    def is_cut(self, s: float, tone: float, base_s: float, base_t: float) -> bool:
        t = self.cfg.cut_threshold
        strong = s - base_s >= t and tone >= self.cfg.min_tone_change
        by_tone = tone - base_t >= self.cfg.tone_threshold and s >= t * 0.8
        return strong or by_tone

    def mark(self, frames: Iterable[SmallFrame]) -> Iterator[Marked]:
        state = _CutState(self)
        window: deque[tuple[SmallFrame, Features]] = deque()
        look = self.cfg.flash_max_frames
        for frame in frames:
            window.append((frame, features(frame)))
            while window and window[-1][0].index - window[0][0].index >= look:
                yield state.decide(window)
                window.popleft()
        while window:
            yield state.decide(window)
            window.popleft()


@dataclass
class _CutState:
    """Running state of `ContentCuts`: previous frame, shot baseline, black stretch."""

    det: ContentCuts
    prev: Features | None = None
    prev_index: int = -1
    last_cut: int = 0
    base_s: deque[float] | None = None
    base_t: deque[float] | None = None
    dark_since: int | None = None
    dark_level: float = 0.0
    dark_by_fade: bool = False

    def decide(self, window: deque[tuple[SmallFrame, Features]]) -> Marked:
        frame, feat = window[0]
        if self.prev is None:
            self._reset_baseline()
            self._track_dark(frame, feat, False)
            self._advance(frame, feat)
            return Marked(frame, segment_start=True)
        s, tone = pair_scores(self.prev, feat)
        assert self.base_s is not None and self.base_t is not None
        b_s = float(np.median(self.base_s)) if self.base_s else 0.0
        b_t = float(np.median(self.base_t)) if self.base_t else 0.0
        changed = self.det.is_cut(s, tone, b_s, b_t)
        if changed and self._flash(window, b_s, b_t):
            return Marked(frame, flash=True)  # what follows is compared with the frame before
        cut = self._track_dark(frame, feat, changed) or changed
        if cut and frame.index - self.last_cut < self.det.cfg.min_shot_frames:
            cut = False
        if cut:
            self.last_cut = frame.index
            self._reset_baseline()
        else:
            self.base_s.append(s)
            self.base_t.append(tone)
        self._advance(frame, feat)
        return Marked(frame, cut=cut, segment_start=cut, cut_score=round(s, 4) if cut else 0.0)

    def _flash(self, window: deque[tuple[SmallFrame, Features]], b_s: float, b_t: float) -> bool:
        """A frame within flash_max_frames is no cut away from the frame before: a flash."""
        limit = window[0][0].index + self.det.cfg.flash_max_frames
        prev = self.prev
        assert prev is not None
        return any(
            not self.det.is_cut(*pair_scores(prev, f), b_s, b_t)
            for fr, f in list(window)[1:]
            if fr.index <= limit
        )

    def _track_dark(self, frame: SmallFrame, feat: Features, cut: bool) -> bool:
        """True when this frame starts the fade-in out of a black stretch entered by a fade.

        A dip to black (fade out, black, fade in) joins two shots; a shot that opens in black,
        after a hard cut or at the start of the clip, and fades in is one shot.
        """
        if is_dark(feat) and (self.dark_since is None or cut):
            self.dark_since, self.dark_level = frame.index, feat.mean
            self.dark_by_fade = not cut and frame.index > 0
            return False
        if self.dark_since is None:
            return False
        if is_dark(feat) and feat.mean <= self.dark_level + FADE_STEP:
            self.dark_level = min(self.dark_level, feat.mean)
            return False
        since, self.dark_since = self.dark_since, None
        long_enough = frame.index - since >= self.det.cfg.min_shot_frames
        return self.dark_by_fade and long_enough and not cut

    def _reset_baseline(self) -> None:
        self.base_s = deque(maxlen=BASELINE_FRAMES)
        self.base_t = deque(maxlen=BASELINE_FRAMES)

    def _advance(self, frame: SmallFrame, feat: Features) -> None:
        self.prev, self.prev_index = feat, frame.index


@dataclass
class KeyframeSegments:
    """The `iframes` method: every encoder keyframe starts a segment; no shot detection."""

    cfg: KeyframesConfig
    keys_only: ClassVar[bool] = True

    def mark(self, frames: Iterable[SmallFrame]) -> Iterator[Marked]:
        for frame in frames:
            yield Marked(frame, segment_start=frame.key or frame.index == 0)


@dataclass
class IntervalSegments:
    """The `interval` method: a segment every `interval_s` seconds of PTS; no shot detection."""

    cfg: KeyframesConfig

    def fast_path(self) -> FastPath:
        """Any decoded frames will do: references and chunk edges only."""
        return FastPath()

    def mark(self, frames: Iterable[SmallFrame]) -> Iterator[Marked]:
        step = max(1e-3, self.cfg.interval_s)
        current = None
        for frame in frames:
            slot = int(frame.pts_s // step)
            yield Marked(frame, segment_start=slot != current)
            current = slot


METHODS: dict[str, Callable[[KeyframesConfig], ShotDetector]] = {
    "shots": ContentCuts,
    "iframes": KeyframeSegments,
    "interval": IntervalSegments,
}


def dense_planner(cfg: KeyframesConfig) -> DensePlanner:
    """What the decoder must fill in for `ContentCuts` (see `DensePlanner`)."""
    return DensePlanner(cfg.cut_threshold, cfg.tone_threshold)


@dataclass(frozen=True)
class DensePlanner:
    """What the decoder must fill in: gaps between decoded frames where something happened.

    Judged against the chunk's own median change, so a chunk of restless texture is not filled
    in everywhere, while any gap that could hold a cut, a flash or the end of a black stretch is.
    A value (not a closure), so that two decode plans with the same thresholds compare equal.
    """

    cut_threshold: float
    tone_threshold: float

    def __call__(self, frames: list[SmallFrame]) -> list[int]:
        feats = [features(f) for f in frames]
        pairs = [pair_scores(a, b) for a, b in zip(feats, feats[1:], strict=False)]
        if not pairs:
            return []
        med_s = float(np.median([p[0] for p in pairs]))
        med_t = float(np.median([p[1] for p in pairs]))
        cut, tone_cut = self.cut_threshold * 0.5, self.tone_threshold * 0.5
        out = []
        for i, (s, tone) in enumerate(pairs):
            a, b = feats[i], feats[i + 1]
            moved = s - med_s >= cut or tone - med_t >= tone_cut
            dark = (is_dark(a) or is_dark(b)) and abs(a.mean - b.mean) > FADE_STEP / 2
            if (moved or dark) and frames[i + 1].index - frames[i].index > 1:
                out.append(i)
        return out


# Two keyframes this alike (16-px layout and grey histogram) bound a GOP that is not decoded:
# measured on the bench clip, GOPs holding a cut scored drift >= 0.68 and tone >= 0.24, GOPs of
# one steady shot (including restless texture) drift <= 0.05 and tone <= 0.02.
STILL_DRIFT = 0.15
STILL_TONE = 0.08


def still_test(cfg: KeyframesConfig) -> StillKeys:
    """Whether two keyframes (one GOP apart) look so alike that no cut lies between them."""
    del cfg  # thresholds are fixed margins, not tuning knobs (see above)
    return StillKeys()


@dataclass(frozen=True)
class StillKeys:
    """Two keyframes (one GOP apart) so alike that no cut lies between them.

    Compares the layout (`drift`, blind to texture that renews every frame) and the tone; dark
    frames never count as alike (a dip to black between them would be a shot boundary). A cut
    away and back to the very same view inside one GOP would be missed: the price of not
    decoding steady GOPs. A value, like `DensePlanner`.
    """

    def __call__(self, a: SmallFrame, b: SmallFrame) -> bool:
        fa, fb = features(a), features(b)
        if is_dark(fa) or is_dark(fb):
            return False
        _s, tone = pair_scores(fa, fb)
        return drift(fa, fb) < STILL_DRIFT and tone < STILL_TONE

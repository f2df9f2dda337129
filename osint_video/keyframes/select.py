"""Keyframe selection: the sharpest frame of each segment, more segments where a shot drifts.

(Or a frame within `SHARPNESS_TIE` of the sharpest whose exact picture is already decoded.)

Streams over marked frames and keeps only the current segment's best candidate, so memory does
not grow with clip length. A segment ends at a cut, at a method's segment start (`iframes`,
`interval`), or, for the `shots` method, when the picture has drifted more than
`change_threshold` from the segment's first frame (a pan or a zoom shows new ground).

A `shots` keyframe that shows nothing (black, a fade's dark end, a flat field: grey std under
`BLANK_STD` and no detail at all, sharpness under `BLANK_SHARPNESS`) is dropped when its shot
has a keyframe that shows something: such pictures cost an annotator a task and a match
nothing. A shot that is blank throughout keeps its keyframes, so every shot still has one.
Dark pictures with any detail (grain, a distant fire, a lit window at night) are never blank.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..config import KeyframesConfig
from ..models import Cut
from .shots import Features, Marked, drift, features


@dataclass(frozen=True)
class Pick:
    """A chosen keyframe, before its full-resolution image is written."""

    shot: int
    frame: int
    time_s: float
    sharpness: float
    image: Any = field(default=None, compare=False, repr=False)  # exact picture, if kept
    blank: bool = False  # shows nothing (see BLANK_STD and BLANK_SHARPNESS)


Sink = Callable[[list[Pick]], list[Pick]]


@dataclass(frozen=True)
class ShotSpan:
    """A shot's first frame and its PTS; the end follows from the next shot (or the clip end)."""

    index: int
    start_frame: int
    start_s: float


@dataclass
class Selection:
    picks: list[Pick] = field(default_factory=list)
    cuts: list[Cut] = field(default_factory=list)
    spans: list[ShotSpan] = field(default_factory=list)
    last_frame: int = -1
    last_pts_s: float = 0.0


@dataclass
class _Segment:
    """The segment's sharpest frame so far, and its sharpest frame with a kept picture."""

    ref: Features | None
    top: Pick
    kept: Pick | None = None

    def offer(self, pick: Pick) -> None:
        if pick.sharpness > self.top.sharpness:
            self.top = pick
        if pick.image is not None and (self.kept is None or pick.sharpness > self.kept.sharpness):
            self.kept = pick

    @property
    def best(self) -> Pick:
        kept, top = self.kept, self.top
        if kept is not None and kept.sharpness >= top.sharpness * (1 - SHARPNESS_TIE):
            return kept
        return top


def select_keyframes(
    marked: Iterable[Marked], cfg: KeyframesConfig, *, drift: bool, sink: Sink | None = None
) -> Selection:
    """Pick keyframes from a marked frame stream.

    Args:
        marked: frames in presentation order with cut / segment decisions.
        cfg: thresholds and caps.
        drift: start new segments when content drifts (the `shots` method).
        sink: receives each segment's pick as soon as the segment closes (with its picture, to
            write it now: at most one picture is held) and returns it, usually without the
            picture; the caps applied later may still drop it.

    Returns:
        the picks (capped per shot and per clip), the cuts and the shot starts.
    """
    sel = Selection()
    shot_picks: list[Pick] = []
    seg: _Segment | None = None
    for m in marked:
        f = m.frame
        sel.last_frame, sel.last_pts_s = f.index, f.pts_s
        if m.flash:
            continue
        new_shot = m.cut or not sel.spans
        if new_shot:
            if m.cut:
                sel.cuts.append(Cut(frame=f.index, time_s=f.pts_s, score=m.cut_score))
            _close_shot(sel, shot_picks, seg, cfg, drift, sink)
            shot_picks, seg = [], None
            sel.spans.append(ShotSpan(len(sel.spans), f.index, f.pts_s))
        feat = features(f) if drift else None
        moved = seg is not None and drift and _drifted(seg, feat, cfg)
        if seg is None or m.segment_start or moved:
            if seg is not None:  # written now, deleted later if the caps drop it
                shot_picks.append(sink([seg.best])[0] if sink else seg.best)
            first = _pick(sel, f)
            seg = _Segment(feat, first, first if first.image is not None else None)
        else:
            seg.offer(_pick(sel, f))
    _close_shot(sel, shot_picks, seg, cfg, drift, sink)
    sel.picks = cap_clip(sel.picks, cfg.max_keyframes)
    return sel


# Sharpness this close to the segment's sharpest counts as a tie, won by a frame whose exact
# picture the decoder kept (the sharpest would be decoded again at the end: ~0.1 s per 1080p
# pick on grainy footage). On the bench clip: 6 picks decoded again instead of 8.
SHARPNESS_TIE = 0.05


# A blank picture: grey std of the small analysis frame under BLANK_STD (matching's texture
# bound) and sharpness (variance of the Laplacian at twice that width) under BLANK_SHARPNESS.
# Measured: big_buck_bunny_0_30.webm's fade from black 1.8 and 4.1, a black frame 0; not blank:
# testvideo.mp4's black frames with a copyright line 29.6-136.5, a grey night frame with grain
# and one 10-px light 16.9, the bench clip's sparse cellular automaton 3692 (std 7.9).
BLANK_STD = 8.0
BLANK_SHARPNESS = 10.0


def _pick(sel: Selection, f) -> Pick:
    blank = features(f).std < BLANK_STD and f.sharpness < BLANK_SHARPNESS
    return Pick(len(sel.spans) - 1, f.index, f.pts_s, f.sharpness, f.full, blank)


def _drifted(seg: _Segment, feat: Features | None, cfg: KeyframesConfig) -> bool:
    if seg.ref is None or feat is None:
        return False
    return drift(seg.ref, feat) >= cfg.change_threshold


def _close_shot(
    sel: Selection,
    picks: list[Pick],
    seg: _Segment | None,
    cfg: KeyframesConfig,
    drift: bool,
    sink: Sink | None,
) -> None:
    if seg is not None:
        picks.append(seg.best)
    if drift:
        shown = [p for p in picks if not p.blank]
        picks = evenly(shown or picks, max(1, cfg.max_keyframes_per_shot))
    sel.picks.extend(sink(picks) if sink else picks)


def evenly(items: list[Pick], n: int) -> list[Pick]:
    """At most n items, evenly spread, always keeping the first."""
    if len(items) <= n:
        return items
    if n == 1:
        return items[:1]
    step = (len(items) - 1) / (n - 1)
    return [items[round(i * step)] for i in range(n)]


def cap_clip(picks: list[Pick], cap: int) -> list[Pick]:
    """Clip-wide cap: every shot's first keyframe first, then the rest, evenly."""
    if len(picks) <= cap:
        return picks
    firsts: dict[int, Pick] = {}
    for p in picks:
        firsts.setdefault(p.shot, p)
    chosen = evenly(list(firsts.values()), cap)
    rest = [p for p in picks if p not in chosen]
    chosen += evenly(rest, cap - len(chosen)) if cap > len(chosen) else []
    return sorted(chosen, key=lambda p: p.frame)

"""Which decoded frames keep their exact full picture: the likely keyframes (a `KeepPolicy`).

A keyframe is the sharpest frame of its segment (`select`), so the decoder keeps, per chunk, the
pictures of its few sharpest frames and of every frame that is the sharpest within `reach`
frames around it (segments can be short in restless shots). Those keyframes come without a
second decode; a keyframe that is neither is decoded again at the end (`write`).
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass

from ..media.plan import SmallFrame

# Exact full pictures kept per decoded chunk (its sharpest frames): keyframes come from these
# without a second decode; memory is about 3 MB per 1080p picture per chunk in flight.
KEEP_SHARPEST = 3
LOCAL_PEAK = 6  # a frame sharper than all within this many frames keeps its full picture


@dataclass(frozen=True)
class SharpestKept:
    """Keep each chunk's `best` sharpest frames and every local sharpness peak.

    Args:
        best: how many of the chunk's sharpest frames keep their pictures.
        reach: a frame sharper than all within this many frames keeps its picture.
    """

    best: int = KEEP_SHARPEST
    reach: int = LOCAL_PEAK

    def kept(self, frames: Sequence[SmallFrame]) -> set[int]:
        """The chunk's `best` sharpest frames (of equals, the first) and its local peaks."""
        top = {f.index for f in sorted(frames, key=lambda f: -f.sharpness)[: self.best]}
        return {f.index for f in frames if f.index in top or self._peak(f, frames)}

    def tracker(self) -> PeakTracker:
        return PeakTracker(self.best, self.reach)

    def _peak(self, f: SmallFrame, frames: Sequence[SmallFrame]) -> bool:
        """Sharpest within `reach` frames; of equals, the first (a run of equally sharp
        frames, e.g. a static picture, would otherwise keep every picture: memory)."""
        return not any(_beats(g, f) for g in frames if abs(g.index - f.index) <= self.reach)


def _beats(g: SmallFrame, f: SmallFrame) -> bool:
    """g ranks before f: sharper, or as sharp and earlier (the order of `SharpestKept.kept`)."""
    return g.sharpness > f.sharpness or (g.sharpness == f.sharpness and g.index < f.index)


class PeakTracker:
    """Names, while a pass decodes, the pictures `SharpestKept.kept` will drop at the end.

    A frame beaten by a neighbour within `reach` is no local peak, and one that fell out of the
    `best` so far is not among the chunk's `best`: more frames only add rivals, so both stay
    true. Without this every picture of a chunk stayed alive until its end (a 60-frame 1080p
    GOP: ~190 MB per decoder thread; far more with long GOPs).
    Cost: a heap of `best` entries and a look at the neighbours, per frame.
    """

    def __init__(self, best: int, reach: int) -> None:
        self.best, self.reach = best, reach
        self.seen: dict[int, SmallFrame] = {}
        self.top: list[tuple[float, int]] = []  # (sharpness, -index): worst of the best first
        self.dropped: set[int] = set()  # indices no longer among the best
        self.gone: set[int] = set()  # indices already named

    def add(self, frame: SmallFrame) -> list[int]:
        """Note a decoded frame; returns the indices whose pictures can go now."""
        self.seen[frame.index] = frame
        heapq.heappush(self.top, (frame.sharpness, -frame.index))
        check = self._near(frame.index)
        if len(self.top) > self.best:
            _s, neg = heapq.heappop(self.top)
            self.dropped.add(-neg)
            check.append(self.seen[-neg])
        gone = {f.index for f in check if f.index in self.dropped and self._beaten(f)}
        gone -= self.gone
        self.gone |= gone
        return list(gone)

    def _near(self, index: int) -> list[SmallFrame]:
        span = range(index - self.reach, index + self.reach + 1)
        return [self.seen[i] for i in span if i in self.seen]

    def _beaten(self, f: SmallFrame) -> bool:
        return any(_beats(g, f) for g in self._near(f.index))

"""Each tap's share of one chunk: the frames it takes, their pictures, its stand-ins.

Several `SampleTap`s can sample one decode. Every tap is asked about every frame time as chunks
are cut (`ChunkTaps.ask`); the decoder decodes what any of them takes, once, and converts each
decoded sample once per tap that took it. Where a pass skips decoding, each tap decides by its
own `alike` whether a keyframe stands in for its samples there or they are decoded: so what a
tap receives never depends on the other taps sampling the same decode.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import av

from .chunks import Packet
from .plan import SampleTap


def frame_time(pts: int, tb: Fraction) -> float:
    """Seconds of a PTS exactly as PyAV's `frame.time` computes them."""
    return float(pts) * tb.numerator / tb.denominator


def key_pictures(taps: Sequence[SampleTap], frame: av.VideoFrame) -> tuple[Any, ...]:
    """A keyframe decoded on its own, converted for each tap that may take it as a stand-in
    (those with `alike`); None for the others."""
    return tuple(tap.convert(frame) if tap.alike is not None else None for tap in taps)


@dataclass
class TapShare:
    """One tap's share of one chunk (see `SampleTap` for the rules)."""

    tap: SampleTap
    samples: dict[int, float]  # rank -> time of each frame the tap takes here
    converted: dict[int, Any] = field(default_factory=dict)  # rank -> picture, as decoded
    tail_alike: bool = False  # after a stop: samples past it take the next keyframe's picture
    done: dict[int, tuple[float, Any]] = field(default_factory=dict)  # rank -> (time, picture)

    def alike(self, a: Any, b: Any) -> bool:
        """Does the tap accept pictures `a` and `b` as alike (both known)?"""
        alike = self.tap.alike
        return alike is not None and a is not None and b is not None and alike(a, b)

    def stand_ins(self, first: int, end: int, here: Any, after: Any) -> None:
        """A GOP from rank `first` to the next keyframe `end` was not decoded: each sample
        takes the nearer keyframe's picture."""
        self.done = {
            r: (t, here if r - first <= end - r else after) for r, t in self.samples.items()
        }

    def judge_tail(self, settled: int, key: Any) -> None:
        """After a stop at `settled`: do samples past it take the next keyframe (`key`, its
        picture)? Yes when there are none, or when the last sample up to the stop is alike."""
        if not any(r > settled for r in self.samples):
            self.tail_alike = True
            return
        before = [r for r in self.converted if r <= settled]
        self.tail_alike = bool(before) and self.alike(self.converted[max(before)], key)

    def fill(self, settled: int | None, tail: Any) -> None:
        """Give every sample its picture: its own, the next keyframe's (`tail`) past a stop
        judged alike, else the previous sample's (its frame failed to decode)."""
        last: Any = None
        for rank in sorted(self.samples):
            if settled is not None and rank > settled and self.tail_alike:
                last = tail if tail is not None else last
            else:
                last = self.converted.get(rank, last)
            if last is not None:
                self.done[rank] = (self.samples[rank], last)
        self.converted = {}

    def deliver(self) -> None:
        """Hand the chunk's samples to the tap, in presentation order."""
        if self.done:
            self.tap.deliver([self.done[r] for r in sorted(self.done)])
        self.done = {}


@dataclass
class ChunkTaps:
    """Every tap's share of one chunk, in the order of the plan's taps."""

    shares: tuple[TapShare, ...] = ()

    @classmethod
    def ask(cls, taps: Sequence[SampleTap], packets: Iterable[Packet], tb: Fraction) -> ChunkTaps:
        """Ask each tap, in presentation order, which of the chunk's frames it takes."""
        times = [(p.rank, frame_time(p.pts, tb)) for p in sorted(packets, key=lambda p: p.rank)]
        return cls(tuple(TapShare(tap, {r: t for r, t in times if tap.take(t)}) for tap in taps))

    def busy(self) -> list[TapShare]:
        """The shares that take any frame of this chunk."""
        return [s for s in self.shares if s.samples]

    def still(self, first: int, end: int, here: Sequence[Any], after: Sequence[Any]) -> list[int]:
        """A still GOP (`TapShare.stand_ins`): shares whose tap finds its two keyframes alike
        (`here`, `after`: their pictures per tap) take stand-ins; returns the positions of the
        others that take samples here (their samples must be decoded)."""
        rest = []
        for k, share in enumerate(self.shares):
            if not share.samples:
                continue
            if share.alike(here[k], after[k]):
                share.stand_ins(first, end, here[k], after[k])
            else:
                rest.append(k)
        return rest

    def deliver(self) -> None:
        for share in self.shares:
            share.deliver()


def ranks(shares: Iterable[TapShare]) -> set[int]:
    """Every rank the given shares take."""
    return {r for s in shares for r in s.samples}

"""Following the text layer of a video across its samples: which frames show new text.

Instructions that flash on screen for a second fall between shot keyframes, so keyframes alone
miss them. The decode that finds shots already hands over about four frames a second (the
samples archive matching fingerprints); on each of them `regions.locate_lines` costs a few
milliseconds and `regions.prepare` drops most boxes that are texture. What is left is followed
here:

- a line seen at about the same place (boxes overlapping by `SAME_PLACE` IoU) with about the
  same ink (`ink_differs`) in consecutive samples is one *track*;
- a track seen in `min_samples` samples in a row is confirmed and read once, from the sample
  that confirmed it (a caption fading in is clearer there than in its first sample), so a
  one-second flash at 4 samples a second is read, while a line "found" in moving foliage or
  grain, which changes from sample to sample, is not;
- new ink at the same place (the next instruction in the same caption bar) starts a new track;
- a track ends when it is missing from `gap` samples in a row; its time range runs from the
  first to the last sample that showed it.

Nothing here decodes or reads: the caller feeds `see(time, lines)` in presentation order and
reads what `see` returns. Memory stays bounded by the open tracks (one prepared line each).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from .regions import Prepared

SAME_PLACE = 0.5  # IoU of two boxes holding the same line of text
INK_SIZE = (96, 12)  # both inks are compared at this size (width, height)
INK_CHANGED = 0.25  # share of differing ink pixels that makes it another text


def ink_differs(a: Prepared, b: Prepared) -> bool:
    """Whether two prepared lines at one place hold different text (not just another frame).

    Each black-on-white picture is cut to its ink's bounding box (boxes found on two frames
    differ by a few pixels, and so do the margins and the scale) and shrunk to one small size;
    the share of pixels that are ink in one and not the other, over the ink of both, above
    `INK_CHANGED` means new text. Grain and compression move a few edge pixels; a changed word
    moves a whole block.
    """
    ia, ib = _ink_print(a.image), _ink_print(b.image)
    ink = int(np.logical_or(ia, ib).sum())
    return ink > 0 and int(np.logical_xor(ia, ib).sum()) / ink > INK_CHANGED


def _ink_print(image: np.ndarray) -> np.ndarray:
    """The line's letters cut to their band and shrunk to `INK_SIZE` (True: ink).

    The band is the rows holding a real share of the ink and the columns inked within them,
    so a few specks above or below the letters (background let through) do not move it.
    """
    ink = image < 128
    rows = ink.sum(axis=1)
    if not rows.any():
        return np.zeros(INK_SIZE[::-1], bool)
    keep = np.nonzero(rows >= max(1, 0.3 * rows.max()))[0]
    top, bottom = int(keep.min()), int(keep.max()) + 1
    cols = np.nonzero(ink[top:bottom].any(axis=0))[0]
    tight = image[top:bottom, int(cols.min()) : int(cols.max()) + 1]
    return cv2.resize(tight, INK_SIZE, interpolation=cv2.INTER_AREA) < 160


@dataclass
class Track:
    """One line of text followed across samples."""

    first: Prepared
    start_s: float
    end_s: float
    seen: int = 1
    missed: int = 0
    confirmed: bool = False
    last: Prepared = field(init=False)

    def __post_init__(self) -> None:
        self.last = self.first


@dataclass(frozen=True)
class Sighting:
    """A confirmed line: its track, the time of the sample it is read from, the picture."""

    track: int
    time_s: float
    line: Prepared


@dataclass(frozen=True)
class Span:
    """Where a confirmed track was on screen: first to last sample showing it."""

    track: int
    start_s: float
    end_s: float
    samples: int


class TextLayer:
    """Tracks of text lines over a video's samples (see the module docstring)."""

    def __init__(self, min_samples: int = 2, gap: int = 1) -> None:
        self.min_samples, self.gap = max(1, min_samples), max(0, gap)
        self._open: dict[int, Track] = {}
        self._spans: list[Span] = []
        self._next = 0

    def see(self, time_s: float, lines: list[Prepared]) -> list[Sighting]:
        """Feed one sample's prepared lines; returns the lines confirmed at this sample.

        Args:
            time_s: the sample's presentation time (samples must come in time order).
            lines: what `regions.prepare` kept on that sample's frame.
        """
        matched: set[int] = set()
        confirmed: list[Sighting] = []
        for line in lines:
            tid = self._match(line, matched)
            if tid is None:
                tid = self._next
                self._next += 1
                self._open[tid] = Track(line, time_s, time_s)
            else:
                track = self._open[tid]
                track.seen, track.missed, track.end_s, track.last = track.seen + 1, 0, time_s, line
            matched.add(tid)
            track = self._open[tid]
            if not track.confirmed and track.seen >= self.min_samples:
                track.confirmed = True
                confirmed.append(Sighting(tid, time_s, line))
        for tid in [t for t in self._open if t not in matched]:
            track = self._open[tid]
            track.missed += 1
            if track.missed > self.gap:
                self._close(tid)
        return confirmed

    def finish(self) -> list[Span]:
        """Close every open track; the spans of all confirmed tracks, by track id."""
        for tid in list(self._open):
            self._close(tid)
        return sorted(self._spans, key=lambda s: s.track)

    def _match(self, line: Prepared, taken: set[int]) -> int | None:
        best, best_iou = None, SAME_PLACE
        for tid, track in self._open.items():
            if tid in taken:
                continue
            iou = track.last.box.iou(line.box)
            if iou >= best_iou and not ink_differs(track.last, line):
                best, best_iou = tid, iou
        return best

    def _close(self, tid: int) -> None:
        track = self._open.pop(tid)
        if track.confirmed:
            self._spans.append(Span(tid, track.start_s, track.end_s, track.seen))

"""Following the text layer of a video across its samples: which lines were on screen, when.

Instructions that flash on screen for a second fall between shot keyframes, so keyframes alone
miss them. The decode that finds shots already hands over about four frames a second (the
samples archive matching fingerprints); on each of them `regions.locate_lines` costs a few
milliseconds and `regions.prepare` drops most boxes that are texture. What is left is followed
here:

- a line seen at about the same place in consecutive samples, with about the same ink, is one
  *track*. The same place is a box overlapping the track's by `SAME_PLACE` (IoU), or one
  inside the other on the same row: over a moving picture a caption is sometimes found whole
  and sometimes only in part ("ВНИМАНИЕ!" of "ВНИМАНИЕ! КОЛОННА НА ДОРОГЕ"). The same ink is
  compared where the two boxes overlap (`ink_differs`);
- new ink at the same place (the next instruction in the same caption bar) starts a new track;
- a track ends when it is missing from more than `gap` samples in a row; its time range runs
  from the first to the last sample that showed it;
- a track seen in at least `min_samples` samples is kept and read once, from the sample that
  showed the most of it (the most ink: the whole caption rather than a part of it). A line
  "found" in moving foliage or grain changes from sample to sample and is never kept, so it is
  never read, while a one-second flash at 4 samples a second is.

Nothing here decodes or reads: the caller feeds `see(time, lines)` in presentation order and
reads the lines `finish` returns. Memory: one prepared line (a few kilobytes) per track.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .regions import Prepared

SAME_PLACE = 0.5  # IoU of two boxes holding the same line of text
SAME_ROW = 0.6  # vertical overlap (share of the lower box) of two parts of one line
INK_SIZE = (96, 12)  # both inks are compared at this size (width, height)
INK_CHANGED = 0.25  # share of differing ink pixels that makes it another text


def ink_differs(a: Prepared, b: Prepared) -> bool:
    """Whether two prepared lines at one place hold different text (not just another frame).

    Both are compared over the columns their boxes share in the frame (one may be a part of
    the other), each cut to its ink's band and shrunk to one small size; the share of pixels
    that are ink in one and not the other, over the ink of both, above `INK_CHANGED` means new
    text. Grain and compression move a few edge pixels; a changed word moves a whole block.
    """
    left = max(a.box.x, b.box.x)
    right = min(a.box.x + a.box.w, b.box.x + b.box.w)
    if right <= left:
        return True
    ia, ib = _ink_print(_columns(a, left, right)), _ink_print(_columns(b, left, right))
    ink = int(np.logical_or(ia, ib).sum())
    return ink > 0 and int(np.logical_xor(ia, ib).sum()) / ink > INK_CHANGED


def _columns(line: Prepared, left: int, right: int) -> np.ndarray:
    """The part of a prepared line's picture between two frame columns."""
    x0 = line.pad + int(round((left - line.box.x) * line.scale))
    x1 = line.pad + int(round((right - line.box.x) * line.scale))
    return line.image[:, max(0, x0) : max(x0 + 1, x1)]


def _ink_print(image: np.ndarray) -> np.ndarray:
    """The letters cut to their band and shrunk to `INK_SIZE` (True: ink).

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


def same_place(a: Prepared, b: Prepared) -> bool:
    """Two boxes of one line: overlapping well, or one inside the other on the same row."""
    if a.box.iou(b.box) >= SAME_PLACE:
        return True
    rows = min(a.box.y + a.box.h, b.box.y + b.box.h) - max(a.box.y, b.box.y)
    return rows >= SAME_ROW * min(a.box.h, b.box.h) and a.box.nested(b.box, 0.8)


def _ink(line: Prepared) -> int:
    return int((line.image < 128).sum())


@dataclass
class _Track:
    start_s: float
    end_s: float
    last: Prepared
    best: Prepared
    best_s: float
    seen: int = 1
    missed: int = 0


@dataclass(frozen=True)
class Seen:
    """A line that stayed on screen: when, and the sample showing most of it (to read)."""

    start_s: float
    end_s: float
    samples: int
    time_s: float
    line: Prepared


class TextLayer:
    """Tracks of text lines over a video's samples (see the module docstring)."""

    def __init__(self, min_samples: int = 2, gap: int = 1) -> None:
        self.min_samples, self.gap = max(1, min_samples), max(0, gap)
        self._open: list[_Track] = []
        self._kept: list[Seen] = []

    def see(self, time_s: float, lines: list[Prepared]) -> None:
        """Feed one sample's prepared lines (samples in time order)."""
        touched: set[int] = set()
        for line in lines:
            track = self._match(line, touched)
            if track is None:
                self._open.append(_Track(time_s, time_s, line, line, time_s))
                touched.add(id(self._open[-1]))
                continue
            touched.add(id(track))
            track.seen, track.missed, track.end_s, track.last = track.seen + 1, 0, time_s, line
            if _ink(line) > _ink(track.best):
                track.best, track.best_s = line, time_s
        for track in [t for t in self._open if id(t) not in touched]:
            track.missed += 1
            if track.missed > self.gap:
                self._close(track)

    def finish(self) -> list[Seen]:
        """Close every open track; the kept ones, by the time they appeared."""
        for track in list(self._open):
            self._close(track)
        return sorted(self._kept, key=lambda s: (s.start_s, s.line.box.y))

    def _match(self, line: Prepared, taken: set[int]) -> _Track | None:
        for track in self._open:
            if id(track) in taken:
                continue
            if same_place(track.last, line) and not ink_differs(track.last, line):
                return track
        return None

    def _close(self, track: _Track) -> None:
        self._open.remove(track)
        if track.seen >= self.min_samples:
            seen = Seen(track.start_s, track.end_s, track.seen, track.best_s, track.best)
            self._kept.append(seen)

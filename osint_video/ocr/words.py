"""Recognised words and pages, and the pure rules that decide which words to keep.

Kept apart from the tesseract runner so the filtering and the merging of several passes are
plain functions over `Word`s.
"""

from __future__ import annotations

from dataclasses import dataclass

Line = list["Word"]


@dataclass(frozen=True)
class Word:
    """One recognised word: text, tesseract confidence 0-100, box in image pixels."""

    text: str
    conf: float
    left: int
    top: int
    width: int
    height: int

    def overlaps(self, other: Word, share: float = 0.5) -> bool:
        """True when the boxes share at least `share` of the smaller box's area."""
        w = min(self.left + self.width, other.left + other.width) - max(self.left, other.left)
        h = min(self.top + self.height, other.top + other.height) - max(self.top, other.top)
        if w <= 0 or h <= 0:
            return False
        smaller = min(self.width * self.height, other.width * other.height)
        return smaller > 0 and w * h >= share * smaller


@dataclass(frozen=True)
class PageText:
    """Everything read on one image, after the confidence filter.

    `text` holds the kept words line by line as read; `language` is the `text_language` choice
    ("ru", "uk", "en", "other") or None when there is no text (or no letters); `score` is the
    mean word confidence scaled to 0..1 (0 without words).
    """

    words: tuple[Word, ...]
    text: str
    language: str | None
    width: int
    height: int
    model_version: str
    score: float


def _anchor(word: Word) -> bool:
    return sum(ch.isalnum() for ch in word.text) >= 2


def keep_words(lines: list[Line], min_confidence: float) -> list[Line]:
    """Confident words, on lines that hold at least one real (2+ letters/digits) word.

    Why: over pictures tesseract "reads" single glyphs in texture at confidence up to 90
    (measured on the colour-bar pattern), while a real line of text has at least one longer
    word; a genuine one-letter word ("в", "і") survives beside it.
    """
    kept = []
    for line in lines:
        sure = [w for w in line if w.conf >= min_confidence]
        if any(_anchor(w) for w in sure):
            kept.append(sure)
    return kept


def _mass(line: Line) -> float:
    return sum(w.conf * len(w.text) for w in line)


def _touches(a: Line, b: Line) -> bool:
    return any(x.overlaps(y) for x in a for y in b)


def merge_passes(passes: list[list[Line]]) -> list[Line]:
    """Lines from several preprocessing passes, each spot of the picture read once.

    A line that overlaps lines already kept replaces them when it carries more confident text
    (confidence times characters), so a pass that read the whole caption beats one that read a
    fragment. With several passes the result is in top-to-bottom, left-to-right order.

    Args:
        passes: per pass, its kept lines (as `keep_words` returns them).

    Returns:
        The merged lines; a single pass comes back unchanged.
    """
    if len(passes) == 1:
        return passes[0]
    kept: list[Line] = []
    for lines in passes:
        for line in lines:
            rivals = [k for k in kept if _touches(k, line)]
            if _mass(line) > sum(_mass(r) for r in rivals):
                kept = [k for k in kept if not any(k is r for r in rivals)] + [line]
    return sorted(kept, key=lambda ln: (min(w.top for w in ln), min(w.left for w in ln)))

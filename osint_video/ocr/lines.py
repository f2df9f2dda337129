"""Reading prepared text lines with tesseract, many lines per tesseract run.

Why batch: one tesseract run with `rus+ukr+eng` costs about 0.1 s before it reads a pixel
(loading three models, measured here), while a prepared line is read in a few milliseconds.
So the lines of many frames are stacked, left-aligned with white space between them, into one
page read as a uniform block (`--psm 6`), and each word is given back to the line whose band
holds its centre, with its box in the pixels of the frame it came from.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..config import OcrConfig
from .regions import Prepared
from .tesseract import image_data
from .words import Line, Word, keep_words

GAP_PX = 16  # white rows between stacked lines
PAGE_MAX_PX = 8000  # page height before a new tesseract run starts
PSM_BLOCK = 6


def read_prepared(items: Sequence[Prepared], cfg: OcrConfig) -> list[Line]:
    """The confident words of each prepared line, in frame pixels (an empty line: no text).

    Args:
        items: lines made by `regions.prepare`.
        cfg: [ocr] (languages, confidence filter, timeout).

    Returns:
        One list of words per item, in order (filtered as `words.keep_words`).

    Raises:
        OcrError: tesseract is missing or failed.
    """
    out: list[Line] = [[] for _ in items]
    for start, stop in _pages(items):
        batch = items[start:stop]
        page, bands = _stack(batch)
        for j, words in enumerate(_read_page(page, bands, cfg)):
            kept = _trimmed(keep_words([words], cfg.min_confidence))
            out[start + j] = [_to_frame(w, batch[j], bands[j]) for w in kept]
    return out


def _trimmed(lines: list[Line]) -> Line:
    """The line's words without marks-only words at its ends (a quote or bar read from what is
    left of a box's edge beside the letters)."""
    words = lines[0] if lines else []
    while words and not any(ch.isalnum() for ch in words[0].text):
        words = words[1:]
    while words and not any(ch.isalnum() for ch in words[-1].text):
        words = words[:-1]
    return words


def _pages(items: Sequence[Prepared]) -> list[tuple[int, int]]:
    spans, start, height = [], 0, 0
    for i, item in enumerate(items):
        h = item.image.shape[0] + GAP_PX
        if height and height + h > PAGE_MAX_PX:
            spans.append((start, i))
            start, height = i, 0
        height += h
    if start < len(items):
        spans.append((start, len(items)))
    return spans


def _stack(items: Sequence[Prepared]) -> tuple[np.ndarray, list[int]]:
    """One white page with the items left-aligned, top to bottom; each item's top row."""
    width = max(it.image.shape[1] for it in items)
    height = sum(it.image.shape[0] + GAP_PX for it in items) + GAP_PX
    page = np.full((height, width + 2 * GAP_PX), 255, np.uint8)
    tops, y = [], GAP_PX
    for it in items:
        h, w = it.image.shape[:2]
        page[y : y + h, GAP_PX : GAP_PX + w] = it.image
        tops.append(y)
        y += h + GAP_PX
    return page, tops


def _read_page(page: np.ndarray, tops: list[int], cfg: OcrConfig) -> list[list[Word]]:
    data = image_data(page, cfg, PSM_BLOCK, "a page of text lines")
    found: list[list[Word]] = [[] for _ in tops]
    for i, raw in enumerate(data["text"]):
        text, conf = str(raw).strip(), float(data["conf"][i])
        if not text or conf < 0:
            continue
        left, top, w, h = (int(data[k][i]) for k in ("left", "top", "width", "height"))
        j = int(np.searchsorted(tops, top + h / 2, side="right")) - 1
        if j >= 0:
            found[j].append(Word(text, conf, left - GAP_PX, top, w, h))
    return found


def _to_frame(word: Word, item: Prepared, top: int) -> Word:
    """A word's box from page pixels back to the pixels of the frame the line was cut from."""
    s, pad, box = item.scale, item.pad, item.box
    left = box.x + max(0.0, (word.left - pad) / s)
    upper = box.y + max(0.0, (word.top - top - pad) / s)
    return Word(
        word.text,
        word.conf,
        int(round(left)),
        int(round(upper)),
        max(1, int(round(word.width / s))),
        max(1, int(round(word.height / s))),
    )

"""On-screen text of a clip: read at its keyframes and wherever the text layer changes.

`SampledText` rides on a decode that is running anyway (the keyframe pass hands it about four
frames a second, like archive matching's samples): each sample is turned upright, its text
lines found and prepared in the decoder threads (`regions`), and followed over time
(`layer.TextLayer`), so an instruction flashing for a second between two shot keyframes is
caught. `read_clip_text` then reads every confirmed line and every keyframe's lines in one
tesseract batch (`lines.read_prepared`) and merges what was read into `OnScreenText` items:
one per text and appearance, with the time range it was on screen, the frame it was read
from, word boxes, language and confidence.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from ..config import OcrConfig
from ..media.plan import SampleTap, Schedule
from ..models import KeyframeImage, MediaInfo, OnScreenText, TextWord
from .language import cyrillic_lookalikes, guess_language
from .layer import Seen, TextLayer, ink_differs, same_place
from .lines import read_prepared
from .regions import Prepared, locate_lines, prepare
from .words import Line

MERGE_GAP_S = 3.0  # one text seen again within this gap at the same place is one appearance
SAME_TEXT = 0.75  # difflib ratio of two readings of one text (a watermark read in parts)


def _upright(grey: np.ndarray, rotation_deg: int) -> np.ndarray:
    turns = (rotation_deg // 90) % 4
    return np.ascontiguousarray(np.rot90(grey, k=-turns)) if turns else grey


# Pixel formats whose first plane is the picture's luma at full size, one byte a pixel.
_LUMA_FIRST = frozenset(
    {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12", "nv21", "gray"}
)


def luma_of(frame: Any) -> np.ndarray:
    """A decoded frame's luma as an array: its Y plane read in place when the format has one
    (most video), else converted by swscale (3-5 ms a 1080p frame, measured)."""
    if frame.format.name in _LUMA_FIRST:
        plane = frame.planes[0]
        rows = np.frombuffer(plane, np.uint8).reshape(frame.height, plane.line_size)
        return rows[:, : frame.width]
    grey: np.ndarray = frame.reformat(format="gray").to_ndarray()
    return grey


def frame_lines(grey: np.ndarray) -> list[Prepared]:
    """The prepared text lines of one upright grey picture (texture already left out)."""
    return [p for p in (prepare(grey, box) for box in locate_lines(grey)) if p is not None]


@dataclass(frozen=True)
class Observed:
    """What following the text layer found: the lines that stayed on screen, and how many
    samples were looked at."""

    seen: tuple[Seen, ...]
    samples: int


class SampledText:
    """The text layer of a video from frames another decode samples for us.

    Gives that decode a sampling rule (`take`), a conversion run in its decoder threads
    (`convert`: upright grey, lines found and prepared) and an in-order sink (`deliver`), like
    `matching.match.SampledFingerprints`. Memory: the open tracks' prepared lines and the
    confirmed ones (a few kilobytes each).

    Args:
        media: the clip's probe (rotation, to read text upright).
        cfg: [ocr] (sample rate, confirmation rule).
    """

    def __init__(self, media: MediaInfo, cfg: OcrConfig) -> None:
        self.rotation = media.rotation_deg
        self.schedule = Schedule(1.0 / max(cfg.sample_fps, 0.1))
        self.layer = TextLayer(cfg.min_samples)
        self.samples = 0

    def take(self, t: float) -> bool:
        return self.schedule.take(t)

    def tap(self) -> SampleTap:
        """The tap to hand a decode (the keyframe pass, or `sampling_source` on its own)."""
        return SampleTap(self.take, self.convert, self.deliver, self.alike)

    def convert(self, frame: Any) -> list[Prepared]:
        return frame_lines(_upright(luma_of(frame), self.rotation))

    def deliver(self, items: list[tuple[float, list[Prepared]]]) -> None:
        for t, lines in items:
            self.samples += 1
            self.layer.see(t, lines)

    @staticmethod
    def alike(a: list[Prepared], b: list[Prepared]) -> bool:
        """Two samples showing the same lines: the frames between them may borrow either."""
        return len(a) == len(b) and all(
            any(same_place(x, y) and not ink_differs(x, y) for y in b) for x in a
        )

    def result(self) -> Observed:
        """Call once, when the decode has finished."""
        return Observed(tuple(self.layer.finish()), self.samples)


def keyframe_lines(keyframes: Sequence[KeyframeImage]) -> list[list[Prepared]]:
    """Each keyframe PNG's prepared lines (the PNGs are upright already)."""
    out = []
    for kf in keyframes:
        with Image.open(kf.path) as img:
            out.append(frame_lines(np.asarray(img.convert("L"))))
    return out


@dataclass(frozen=True)
class _Read:
    """One line read: where and when, and its words."""

    line: Prepared
    words: Line
    time_s: float
    start_s: float
    end_s: float
    keyframe: KeyframeImage | None


def read_clip_text(
    observed: Observed | None,
    keyframes: Sequence[KeyframeImage],
    at_keyframes: Sequence[Sequence[Prepared]],
    cfg: OcrConfig,
) -> tuple[OnScreenText, ...]:
    """Read the confirmed sample lines and the keyframes' lines in one batch; merge.

    Args:
        observed: what `SampledText` followed (None: keyframes only, e.g. a still).
        keyframes: the clip's keyframes, in order.
        at_keyframes: `keyframe_lines` of those keyframes.
        cfg: [ocr].

    Returns:
        One item per text and appearance, in order of time, then of place (top to bottom).

    Raises:
        OcrError: tesseract or a language pack is missing, or tesseract failed.
    """
    jobs: list[tuple[Prepared, float, float, float, KeyframeImage | None]] = []
    for s in observed.seen if observed else ():
        jobs.append((s.line, s.time_s, s.start_s, s.end_s, None))
    for kf, lines in zip(keyframes, at_keyframes, strict=True):
        jobs.extend((line, kf.time_s, kf.time_s, kf.time_s, kf) for line in lines)
    if not jobs:
        return ()
    words = read_prepared([j[0] for j in jobs], cfg)
    reads = [_Read(j[0], w, j[1], j[2], j[3], j[4]) for j, w in zip(jobs, words, strict=True)]
    items = [_item(r) for r in reads if r.words]
    return tuple(sorted(_merged(items), key=lambda i: (i.start_s, _top(i), i.text)))


def _item(r: _Read) -> OnScreenText:
    texts = cyrillic_lookalikes([w.text for w in r.words])
    words = tuple(
        TextWord(t, round(w.conf / 100.0, 4), (w.left, w.top, w.width, w.height))
        for t, w in zip(texts, r.words, strict=True)
    )
    text = " ".join(texts)
    return OnScreenText(
        text=text,
        language=guess_language(text),
        start_s=round(r.start_s, 6),
        end_s=round(r.end_s, 6),
        time_s=round(r.time_s, 6),
        frame=r.keyframe.frame if r.keyframe else None,
        keyframe=r.keyframe.index if r.keyframe else None,
        box=(r.line.box.x, r.line.box.y, r.line.box.w, r.line.box.h),
        words=words,
        confidence=round(sum(w.confidence for w in words) / len(words), 4),
    )


def _key(text: str) -> str:
    return re.sub(r"[^\w]+", " ", text.casefold()).strip()


def _top(item: OnScreenText) -> int:
    return item.box[1]


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return w > 0 and h > 0 and w * h >= 0.3 * min(a[2] * a[3], b[2] * b[3])


def _merged(items: list[OnScreenText]) -> list[OnScreenText]:
    """One item per text and appearance: readings of one text (`_same_text`) at the same place
    within `MERGE_GAP_S` of each other (a keyframe inside a tracked caption, a caption whose
    track broke for a few samples, a caption found only in part on some frames) become one
    item with the union of their time ranges. The reading kept is the fuller one, then the
    more confident (then a keyframe's: its frame is in the report)."""
    out: list[OnScreenText] = []
    for item in sorted(items, key=lambda i: i.start_s):
        for k, kept in enumerate(out):
            if _same_text(kept, item) and item.start_s <= kept.end_s + MERGE_GAP_S:
                best = max((kept, item), key=_fullness)
                start, end = min(kept.start_s, item.start_s), max(kept.end_s, item.end_s)
                out[k] = dataclasses.replace(best, start_s=start, end_s=end)
                break
        else:
            out.append(item)
    return out


def _same_text(a: OnScreenText, b: OnScreenText) -> bool:
    """Readings of one text at one place: equal, one part of the other, or alike enough (a
    semi-transparent watermark read "Copyright © 2013 Brandon ano" on one frame and in full
    on the next)."""
    ka, kb = _key(a.text), _key(b.text)
    if not (ka and kb and _overlap(a.box, b.box)):
        return False
    return ka in kb or kb in ka or difflib.SequenceMatcher(None, ka, kb).ratio() >= SAME_TEXT


def _fullness(item: OnScreenText) -> tuple[int, float, bool]:
    return (len(_key(item.text)), item.confidence, item.keyframe is not None)


def text_of(items: Sequence[OnScreenText]) -> str:
    """All on-screen text of a clip as one searchable string (one item per line)."""
    return "\n".join(i.text for i in items)

"""A page of recognised text as a Label Studio prediction for `annotations/keyframe.xml`.

One RectangleLabels region per word, not per line: the issue asks for word boxes, an annotator
deletes one misread word without redrawing the rest, and tesseract's sparse-text lines are
fragments anyway. The whole text goes to the `transcription` TextArea (lines as read) so the
annotator corrects words in one place, and the guessed language preselects `text_language`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..config import OcrConfig
from ..models import OnScreenText
from .tesseract import read_many
from .words import PageText, Word

LABEL = "on-screen text"
IMAGE = "image"  # the <Image name=...> every control points at


def _pct(value: float, whole: int) -> float:
    return round(100.0 * value / whole, 4) if whole else 0.0


def word_region(word: Word, index: int, width: int, height: int) -> dict[str, Any]:
    """One word as a RectangleLabels region in percent of the image (Label Studio's units)."""
    return {
        "id": f"ocr{index}",
        "from_name": "objects",
        "to_name": IMAGE,
        "type": "rectanglelabels",
        "original_width": width,
        "original_height": height,
        "image_rotation": 0,
        "score": round(word.conf / 100.0, 4),
        "value": {
            "x": _pct(word.left, width),
            "y": _pct(word.top, height),
            "width": _pct(word.width, width),
            "height": _pct(word.height, height),
            "rotation": 0,
            "rectanglelabels": [LABEL],
        },
    }


def to_prediction(page: PageText) -> dict[str, Any] | None:
    """The Label Studio prediction for one keyframe, or None when no word passed the filter.

    Args:
        page: what `read_text` found on the keyframe.

    Returns:
        {"model_version", "score", "result"}: a region per word, the transcription, and the
        language choice when one is known; None when there is nothing to pre-annotate.
    """
    if not page.words:
        return None
    result = [word_region(w, i, page.width, page.height) for i, w in enumerate(page.words)]
    result.append(
        {
            "id": "ocr_text",
            "from_name": "transcription",
            "to_name": IMAGE,
            "type": "textarea",
            "value": {"text": [page.text]},
        }
    )
    if page.language:
        result.append(
            {
                "id": "ocr_lang",
                "from_name": "text_language",
                "to_name": IMAGE,
                "type": "choices",
                "value": {"choices": [page.language]},
            }
        )
    return {"model_version": page.model_version, "score": round(page.score, 4), "result": result}


def predictions(
    paths: Sequence[Path], cfg: OcrConfig, progress: Callable[[float], None] | None = None
) -> list[dict[str, Any] | None]:
    """Predictions for many keyframes at once (None where no text); all None when OCR is off.

    Raises:
        OcrError: as `read_many` (never when `cfg.enabled` is false: tesseract is not needed).
    """
    if not cfg.enabled:
        return [None] * len(paths)
    return [to_prediction(page) for page in read_many(paths, cfg, progress)]


def stored_prediction(
    items: Sequence[OnScreenText], width: int, height: int, model_version: str
) -> dict[str, Any] | None:
    """The prediction for one keyframe from the text triage read (the clip's on-screen text
    shown at that keyframe), so pushing never reads again.

    Args:
        items: the items shown at the keyframe (their word boxes are in the upright frame's
            pixels, the keyframe PNG's).
        width: the keyframe's width in pixels.
        height: its height.
        model_version: what read them (the `text_read` custody event's engine and languages).

    Returns:
        The same shape as `to_prediction`, or None when there is no word.
    """
    words = [Word(w.text, 100.0 * w.confidence, *w.box) for item in items for w in item.words]
    if not words:
        return None
    page = PageText(
        words=tuple(words),
        text="\n".join(i.text for i in items),
        language=next((i.language for i in items if i.language), None),
        width=width,
        height=height,
        model_version=model_version,
        score=min(1.0, sum(i.confidence for i in items) / len(items)),
    )
    return to_prediction(page)

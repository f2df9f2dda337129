"""On-screen text (OCR) of keyframes, as Label Studio pre-annotations.

`read_text` / `read_many` run tesseract on keyframe PNGs and keep confident words with their
boxes; `to_prediction` turns one page into a prediction for `annotations/keyframe.xml`
(word boxes labelled "on-screen text", the transcription, the guessed language);
`predictions` does both for a batch of keyframes (all None when `ocr.enabled` is false).
"""

from __future__ import annotations

from .language import guess_language
from .prediction import predictions, to_prediction
from .tesseract import check_tesseract, read_many, read_text
from .words import PageText, Word

__all__ = [
    "PageText",
    "Word",
    "check_tesseract",
    "guess_language",
    "predictions",
    "read_many",
    "read_text",
    "to_prediction",
]

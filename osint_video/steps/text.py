"""Step: on-screen text, read at the keyframes and wherever the text layer changes.

The instructions that flash on screen in a clip like the Sudzha one fall between shot
keyframes, so the keyframe decode also hands this step about four frames a second
(`ocr.onscreen.SampledText`, found and prepared in the decoder threads); a clip decoded
without that plan (another keyframe method) is sampled here on its own. Every confirmed line
and every unique keyframe's lines are then read in one tesseract batch (`ocr.onscreen`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from ..models import OnScreenText
from ..ocr.onscreen import (
    Observed,
    SampledText,
    frame_lines,
    keyframe_lines,
    read_clip_text,
    text_of,
)
from ..ocr.regions import Prepared
from ..ocr.tesseract import check_tesseract
from ..tools import tessdata_fingerprints
from .base import Job, Step, Stored
from .hashes import Hash
from .keyframes import Frames, Keyframes


@dataclasses.dataclass(frozen=True)
class ReadText:
    """What the step read, and how much it looked at."""

    items: tuple[OnScreenText, ...]
    samples: int
    keyframes: int
    engine: str


class Text(Step[ReadText]):
    name = "text"
    action = "text_read"
    weight = 0.05
    tools = ("tesseract", "opencv", "numpy")

    def wanted(self, job: Job) -> bool:
        return job.ws.config.ocr.enabled

    def on_keyframe(self, job: Job) -> Callable[[Any], list[Prepared]]:
        return lambda img: frame_lines(np.asarray(img.convert("L")))

    def sampler(self, job: Job) -> SampledText | None:
        if job.kind != "video":
            return None
        return SampledText(job.probe.media, job.ws.config.ocr)

    def run(self, job: Job) -> ReadText:
        cfg = job.ws.config.ocr
        version = check_tesseract(cfg)
        frames = job.result(Keyframes)
        hashed = job.maybe(Hash)
        unique = [
            i
            for i in range(len(frames.keyframes))
            if hashed is None or hashed.duplicate_of[i] is None
        ]
        keyframes = [frames.keyframes[i] for i in unique]
        lines = [_lines_of(frames, i) for i in unique]
        observed = self._observed(job)
        items = read_clip_text(observed, keyframes, lines, cfg)
        samples = observed.samples if observed else 0
        return ReadText(items, samples, len(keyframes), f"tesseract {version}")

    def _observed(self, job: Job) -> Observed | None:
        """The text layer sampled during the keyframe decode, else sampled here."""
        if job.kind != "video":
            return None
        sampler = job.sampled(Text)
        if isinstance(sampler, SampledText):
            return sampler.result()
        from ..keyframes.extract import sampling_source

        own = SampledText(job.probe.media, job.ws.config.ocr)
        for _ in sampling_source(job.evidence, job.ws.config.keyframes, own.tap()).frames():
            pass
        return own.result()

    def event(self, job: Job, result: ReadText) -> dict[str, Any]:
        cfg = job.ws.config.ocr
        languages = [lang for lang in cfg.languages.split("+") if lang]
        return {
            "input_sha256": job.sha256,
            "engine": result.engine,
            "languages": cfg.languages,
            "language_data": tessdata_fingerprints(languages),
            "parameters": {
                "sample_fps": cfg.sample_fps,
                "min_samples": cfg.min_samples,
                "min_confidence": cfg.min_confidence,
            },
            "samples": result.samples,
            "keyframes_read": result.keyframes,
            "lines": len(result.items),
        }

    def stored(self, job: Job, result: ReadText) -> Stored:
        return Stored(
            fields={
                "onscreen_text": [dataclasses.asdict(i) for i in result.items],
                "onscreen_search": text_of(result.items).casefold() or None,
            }
        )


def _lines_of(frames: Frames, i: int) -> list[Prepared]:
    """A keyframe's text lines, found while its PNG was written (else read from the PNG)."""
    facts = frames.facts[i] if i < len(frames.facts) else None
    taken = facts.extras.get(Text) if facts is not None else None
    if taken is not None:
        lines: list[Prepared] = taken
        return lines
    return keyframe_lines([frames.keyframes[i]])[0]

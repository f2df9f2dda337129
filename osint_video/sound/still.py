"""Is the picture one still image? (Sound laid over a photograph is a classic fake.)

Taps the keyframe decode (`media.plan.SampleTap`) for two tiny grey pictures a second and
compares each with the first. A real shot, even a tripod shot of a quiet street, changes:
compression noise alone moves a 32x18 thumbnail by a level or two, people, leaves and
clouds by much more; a photograph turned into a video does not change at all.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..media.plan import SampleTap

STEP_S = 0.5  # seconds between samples
SIZE = (32, 18)  # thumbnail width, height
STILL_LEVELS = 1.5  # mean absolute difference (0-255) below which two thumbnails are the same
MIN_SAMPLES = 4  # fewer samples than this (under ~2 s of picture): not judged


class StillPicture:
    """Collects thumbnails during the decode; `result()` says whether they are all alike."""

    def __init__(self) -> None:
        self._next = -1.0
        self._first: np.ndarray | None = None
        self._most = 0.0
        self.samples = 0

    def take(self, t: float) -> bool:
        if t + 1e-6 < self._next:
            return False
        self._next = t + STEP_S
        return True

    @staticmethod
    def convert(frame: Any) -> np.ndarray:
        return frame.reformat(width=SIZE[0], height=SIZE[1], format="gray").to_ndarray()

    def deliver(self, items: list[tuple[float, Any]]) -> None:
        for _t, grey in items:
            pic = np.asarray(grey, dtype=np.float32)
            self.samples += 1
            if self._first is None:
                self._first = pic
            else:
                self._most = max(self._most, difference(self._first, pic))

    def tap(self) -> SampleTap:
        return SampleTap(self.take, self.convert, self.deliver, alike)

    def result(self) -> bool | None:
        """True: every sample looks like the first; None: too few samples to tell."""
        if self.samples < MIN_SAMPLES:
            return None
        return self._most < STILL_LEVELS


def difference(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two thumbnails (0-255)."""
    return float(np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32)).mean())


def alike(a: np.ndarray, b: np.ndarray) -> bool:
    """Two thumbnails the decode may let stand for the frames between them."""
    return difference(a, b) < STILL_LEVELS / 2

"""Step 6: shots and keyframes.

`extract.extract_keyframes` is the entry point; `shots` finds shot boundaries (or other segments,
by method name) and says what the decoder may skip for it, `select` picks the sharpest frame of
each segment, `media.decode` supplies the small frames cheaply by the plan `extract` gives it
(with the exact full pictures `keep` says are likely keyframes), `write` turns picks into PNGs
while detection goes on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..models import Cut, DecodeStats, KeyframeImage, Shot


@dataclass(frozen=True)
class KeyframeResult:
    """What step 6 produced: shots, cuts, keyframe PNGs, and how (for the custody record)."""

    shots: tuple[Shot, ...]
    cuts: tuple[Cut, ...]
    keyframes: tuple[KeyframeImage, ...]
    decode: DecodeStats
    method: str
    params: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    # by keyframe path: SHA-256 of the PNG, and what the caller's `on_image` hook returned
    sha256: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    extras: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


__all__ = ["KeyframeResult"]

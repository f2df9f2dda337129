"""A few small grey pictures at chosen times: for comparing two clips' pictures at the
moments their sound says correspond (`matching.reframe`), not for a whole decode.

Each time is reached by seeking to the keyframe before it and decoding forward (at most one
GOP per picture); a time past the end, or a file that will not decode, gives None there.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import av
import av.error
import numpy as np

from ..errors import ExtractionError
from .chunks import open_video


def grey_at(
    path: Path, times: Sequence[float], height: int = 120, rotation_deg: int = 0
) -> list[np.ndarray | None]:
    """Upright grey pictures `height` px high at each time (seconds of presentation time)."""
    try:
        container, stream = open_video(path)
    except ExtractionError:
        return [None for _ in times]
    out: list[np.ndarray | None] = []
    try:
        for t in times:
            out.append(_one(container, stream, t, height, rotation_deg))
    finally:
        container.close()
    return out


def _one(container, stream, t: float, height: int, rotation_deg: int) -> np.ndarray | None:
    tb = float(stream.time_base or 0) or 1e-6
    try:
        container.seek(max(0, int(t / tb)), stream=stream, backward=True, any_frame=False)
        last = None
        for frame in container.decode(stream):
            last = frame
            if frame.time is not None and frame.time + 1e-3 >= t:
                break
    except (av.error.FFmpegError, ValueError, OSError):
        return None
    if last is None:
        return None
    w = max(2, round(last.width * height / max(1, last.height)))
    grey = last.reformat(width=w, height=height, format="gray").to_ndarray()
    turns = (rotation_deg % 360) // 90
    return np.ascontiguousarray(np.rot90(grey, k=-turns)) if turns else grey

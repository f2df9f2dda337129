"""Frames for matching: about 4 per second, small and grey, upright.

Why not the shot keyframes: a re-encode places its keyframes elsewhere and a clip without cuts
has one shot, so two copies of the same footage share too few keyframes (PERFORMANCE.md). A
fixed rate with a floor of a few samples per clip gave every match there.

PyAV decodes with its own threads; only the frames kept are scaled (swscale, straight to grey).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import av
import av.error
import numpy as np

from ..errors import ExtractionError
from ..models import MediaInfo


@dataclass(frozen=True)
class Sample:
    """One sampled frame: presentation time in seconds and the grey pixels (uint8, h x w)."""

    time_s: float
    grey: np.ndarray = field(repr=False, compare=False)


@dataclass(frozen=True)
class SamplePlan:
    """Seconds between samples and the output width; see `plan`."""

    step_s: float
    width: int


def plan(
    duration_s: float | None, fps: float, min_samples: int, max_samples: int, width: int
) -> SamplePlan:
    """Sampling interval: `1/fps`, shorter for short clips (floor), longer for very long ones."""
    step = 1.0 / fps
    if duration_s and duration_s > 0:
        step = min(step, duration_s / max(min_samples, 1))
        step = max(step, duration_s / max(max_samples, 1))
    return SamplePlan(step, width)


def _upright(grey: np.ndarray, rotation_deg: int) -> np.ndarray:
    """Rotate clockwise by `rotation_deg` so that the picture is as a viewer sees it."""
    turns = (rotation_deg // 90) % 4
    return np.ascontiguousarray(np.rot90(grey, k=-turns)) if turns else grey


def _frames(path: Path) -> Iterator[av.VideoFrame]:
    with av.open(str(path)) as container:
        if not container.streams.video:
            raise ExtractionError("no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        yield from container.decode(stream)


def iter_samples(path: Path, media: MediaInfo, sp: SamplePlan) -> Iterator[Sample]:
    """Decode `path` and yield one frame per `sp.step_s` seconds, scaled to `sp.width` px wide.

    A generator, so that an hour of footage never sits in memory at once. A decoding error
    after some frames ends the samples there (a truncated file still has its start matched).

    Args:
        path: the video (evidentiary copy or any file).
        media: its probe (rotation is applied so mirrored/rotated uploads compare upright).
        sp: from `plan`.

    Raises:
        ExtractionError: the file cannot be opened or decoded, or no frame decodes.
    """
    count = 0
    next_t = -1.0
    try:
        for frame in _frames(path):
            t = float(frame.time) if frame.time is not None else count * sp.step_s
            if t + 1e-6 < next_t:
                continue
            w = min(sp.width, frame.width) or sp.width
            h = max(2, round(frame.height * w / max(frame.width, 1)))
            grey = frame.reformat(width=w, height=h, format="gray").to_ndarray()
            count += 1
            yield Sample(t, _upright(grey, media.rotation_deg))
            next_t = max((t if next_t < 0 else next_t) + sp.step_s, t + sp.step_s * 0.5)
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        if not count:
            raise ExtractionError(f"cannot decode frames: {exc}") from None
    if not count:
        raise ExtractionError("no frame decodes")


def sample_frames(path: Path, media: MediaInfo, sp: SamplePlan) -> list[Sample]:
    """All samples of `iter_samples` as a list (short clips, tests)."""
    return list(iter_samples(path, media, sp))

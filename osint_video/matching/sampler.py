"""Frames for matching: about 4 per second, small and grey, upright.

Why not the shot keyframes: a re-encode places its keyframes elsewhere and a clip without cuts
has one shot, so two copies of the same footage share too few keyframes (PERFORMANCE.md). A
fixed rate with a floor of a few samples per clip gave every match there.

Frames come from the keyframe pass's decode plan, not a decode of every frame: see
`iter_samples`; only the pictures sampled are scaled (swscale, straight to grey).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import av
import av.error
import numpy as np

from ..config import KeyframesConfig
from ..errors import ExtractionError
from ..media.plan import SampleTap, Schedule
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


def sample_grey(frame: av.VideoFrame, width: int) -> np.ndarray:
    """The frame scaled to `width` px wide (never up), grey, by swscale (the archive's one
    resize path: never change it, or old and new fingerprints stop comparing)."""
    w = min(width, frame.width) or width
    h = max(2, round(frame.height * w / max(frame.width, 1)))
    return frame.reformat(width=w, height=h, format="gray").to_ndarray()


def iter_samples(
    path: Path,
    media: MediaInfo,
    sp: SamplePlan,
    keyframes: KeyframesConfig | None = None,
    alike: Callable[[np.ndarray, np.ndarray], bool] | None = None,
) -> Iterator[Sample]:
    """Sample `path` about every `sp.step_s` seconds, scaled to `sp.width` px wide.

    Decodes with the keyframe pass's plan (`keyframes.extract.sampling_source`; see
    `media.plan.SampleTap` for what `alike` lets it skip), so triage's keyframe pass, which
    takes the same samples while it looks for cuts, stores the same fingerprints. A generator,
    so that an hour of footage never sits in memory at once. A
    decoding error after some samples ends them there (a truncated file still has its start
    matched).

    Args:
        path: the video (evidentiary copy or any file).
        media: its probe (rotation is applied so mirrored/rotated uploads compare upright).
        sp: from `plan`.
        keyframes: the [keyframes] config triage runs with (its frame size and edges).
        alike: whether two pictures may stand in for the samples between them.

    Raises:
        ExtractionError: the file cannot be opened or decoded, or no frame decodes.
    """
    from ..keyframes.extract import sampling_source  # the keyframe step's decode plan

    got: list[tuple[float, np.ndarray]] = []
    schedule = Schedule(sp.step_s)
    tap = SampleTap(schedule.take, lambda frame: sample_grey(frame, sp.width), got.extend, alike)
    source = sampling_source(path, keyframes or KeyframesConfig(), tap)
    count = 0
    try:
        for _frame in source.frames():
            for t, grey in got:
                count += 1
                yield upright_sample(t, grey, media)
            got.clear()
    except ExtractionError:
        if not count:
            raise
        return
    for t, grey in got:
        count += 1
        yield upright_sample(t, grey, media)
    if not count:
        raise ExtractionError("no frame decodes")


def upright_sample(t: float, grey: np.ndarray, media: MediaInfo) -> Sample:
    """A sample made elsewhere (the keyframe pass), turned upright like `iter_samples` does."""
    return Sample(t, _upright(grey, media.rotation_deg))


def sample_frames(path: Path, media: MediaInfo, sp: SamplePlan) -> list[Sample]:
    """All samples of `iter_samples` as a list (short clips, tests)."""
    return list(iter_samples(path, media, sp))

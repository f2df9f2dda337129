"""What a decode is told: which frames to hand out, which pictures to keep, who else samples.

`media.decode.FrameSource` decodes one stream into `SmallFrame`s by a `DecodePlan`. The plan
holds no decoding knowledge of its own; the callers fill it in:

* the shot detector says what it can do without (`FastPath`: skip non-reference pictures, skip
  still GOPs, fill in only the gaps where something changed) or that it needs keyframes only;
* the keyframe step says which decoded frames keep their exact full picture (`KeepPolicy`):
  keyframe choice is its business, the decoder only drops what it is told it may drop;
* other steps sample frames from the same decode (`SampleTap`, any number of them: archive
  matching's ~4 fps, on-screen text), each by its own rule, without a second decode.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import av
import numpy as np


@dataclass(frozen=True)
class SmallFrame:
    """One decoded frame, shrunk. `grey` is uint8 (h, w); `key` marks an encoder keyframe."""

    index: int
    pts_s: float
    grey: np.ndarray = field(repr=False, compare=False)
    key: bool = False
    sharpness: float = 0.0  # variance of the Laplacian at twice the analysis width
    features: Any = field(default=None, repr=False, compare=False)  # made by `DecodePlan.analyse`
    full: av.VideoFrame | None = field(default=None, repr=False, compare=False)  # exact picture


# Do two keyframes (one GOP apart) look so alike that no cut can lie between them?
StillTest = Callable[[SmallFrame, SmallFrame], bool]

# Given a chunk's decoded frames, the positions i where the gap between frames[i] and
# frames[i + 1] must be filled in (decoded densely).
DenseTest = Callable[[list[SmallFrame]], list[int]]


@dataclass(frozen=True)
class FastPath:
    """How a detector works from a sparse decode: H.264 non-reference pictures are dropped
    except at chunk edges; with `dense`, the gaps it names are filled in; with `still`, a GOP
    whose keyframe passes it against the next GOP's keyframe is not decoded (its keyframe alone
    is handed out), and a decoded GOP stops once a frame passes it against the next keyframe.
    """

    still: StillTest | None = None
    dense: DenseTest | None = None


class KeepTracker(Protocol):
    """Says, while one pass over a chunk decodes, which pictures can go already (memory)."""

    def add(self, frame: SmallFrame) -> Iterable[int]:
        """Note a decoded frame; return indices of frames noted so far (this one included)
        that `KeepPolicy.kept` will not keep, whatever else the chunk holds."""
        ...


class KeepPolicy(Protocol):
    """Which decoded frames keep their exact full-resolution picture (`SmallFrame.full`)."""

    def kept(self, frames: Sequence[SmallFrame]) -> set[int]:
        """Of one chunk's decoded frames (in index order), the indices whose pictures stay."""
        ...

    def tracker(self) -> KeepTracker:
        """A fresh tracker for one decoding pass over a chunk."""
        ...


@dataclass
class Schedule:
    """Which frames a tap samples: fed every frame time in presentation order, it says which
    to keep (the first frame at or after each `step_s` mark, never two within half a step).

    One rule for every way of sampling, so they pick the very same frames: a tap's own decode
    (`keyframes.extract.sampling_source`) and the keyframe pass of triage (one decode for all
    taps); archive matching and on-screen text both use it.
    """

    step_s: float
    next_t: float = -1.0

    def take(self, t: float) -> bool:
        if t + 1e-6 < self.next_t:
            return False
        base = t if self.next_t < 0 else self.next_t
        self.next_t = max(base + self.step_s, t + self.step_s * 0.5)
        return True


@dataclass(frozen=True)
class SampleTap:
    """Frames taken for someone else during the same decode (matching's ~4 fps, on-screen text).

    `take(t)` is asked about every frame time in presentation order (in the consumer thread, as
    chunks are cut) and says which frames to sample. A sample is its exact frame (decoded
    even where detection would not look), except where the pass skips decoding and `alike`
    (given two converted pictures) says the skipped stretch's ends look alike to the tap:
    * in a GOP judged still (its keyframe looks like the next), the nearer keyframe;
    * after a settle stop at frame s (an I/P picture looking like the next keyframe), the
    next keyframe, when the last sample up to s is alike to it.
    Without `alike` (or when it says no) those samples are decoded too. Each picture is turned
    into whatever `convert(frame)` makes (in the decoder threads) and handed to
    `deliver([(time_s, converted), ...])` in presentation order, `time_s` being the sample's own
    time (PyAV's `frame.time` arithmetic). A sample whose frame fails to decode takes the
    previous sample's picture. A tap's samples depend only on its own rules and the plan, never
    on other taps of the same decode (a frame two taps take is decoded once, converted once per
    tap). Matching sampling on its own runs the keyframe pass's plan
    (`keyframes.extract.sampling_source`), so both give the very same samples.
    """

    take: Callable[[float], bool]
    convert: Callable[[av.VideoFrame], Any]
    deliver: Callable[[list[tuple[float, Any]]], None]
    alike: Callable[[Any, Any], bool] | None = None


def as_taps(tap: SampleTap | Sequence[SampleTap] | None) -> tuple[SampleTap, ...]:
    """One tap, several, or none, as the tuple a `DecodePlan` holds."""
    if tap is None:
        return ()
    return (tap,) if isinstance(tap, SampleTap) else tuple(tap)


@dataclass(frozen=True)
class DecodePlan:
    """Everything a `FrameSource` is told besides the file.

    Args:
        width: width of the small frames (height follows the aspect ratio).
        workers: parallel decoders.
        edge: frames decoded densely at each chunk edge, and past each filled-in gap (a flash).
        keys_only: decode encoder keyframes only (taps are not served then).
        fast: decode sparsely, as the detector allows (see `FastPath`); None decodes every frame.
        analyse: computed on each small frame in the decoder threads (`SmallFrame.features`).
        keep: which frames keep their exact full picture; None keeps none and skips deblocking
            when no tap needs exact pictures either (cheaper, inexact pictures).
        taps: frames sampled for other consumers from this one decode.
    """

    width: int = 128
    workers: int = 2
    edge: int = 3
    keys_only: bool = False
    fast: FastPath | None = FastPath()
    analyse: Callable[[SmallFrame], Any] | None = None
    keep: KeepPolicy | None = None
    taps: tuple[SampleTap, ...] = ()

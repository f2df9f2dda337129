"""Frame source for shot detection: small grey frames with exact index and PTS, cheaply.

Decoding dominates the cost of shot detection (see PERFORMANCE.md), so this module decodes as
little as it can and as cheaply as it can:

* one demux pass (almost free) splits the stream into chunks of whole GOPs (`media.chunks`);
  two single-threaded decoders work on chunks in parallel (`media.chunkjob`; PyAV releases the
  GIL while decoding);
* in fast mode, H.264 non-reference pictures (nal_ref_idc == 0) are not decoded at all, except
  at chunk edges and in "dense windows" the detector asks for where something changed: no other
  frame depends on them, so dropping their packets costs nothing in accuracy elsewhere;
* frames are scaled to a few dozen pixels straight from the luma plane, and deblocking is
  skipped when nobody needs exact pictures.

What to decode, which full pictures to keep and which frames other steps sample from the same
decode is the caller's `DecodePlan` (`media.plan`): the decoder itself knows nothing of shots
or keyframes.

Frame index = rank of the frame's PTS among all frames of the stream (presentation order, the
way PySceneDetect counts). Streams where that is unsafe (MPEG-TS, packets without PTS, field
pictures) fall back to one sequential decode that counts frames.

`DecodeStats` semantics: `frames_decoded` counts frames the stream *holds* (every frame packet
seen by the demuxer, or every frame decoded in the sequential path), not how many this source
chose to decode, so it can be compared with the declared frame count to spot truncation.
`last_pts_s` is the largest frame PTS, min/max interval come from consecutive frame PTS.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

import av
import av.error
import numpy as np

from ..errors import ExtractionError
from ..models import DecodeStats
from .chunkjob import ChunkJob, Shared, small_frame
from .chunks import MAX_IN_FLIGHT, SEQUENTIAL_FORMATS, open_video, split_chunks
from .h264 import avcc_length_size
from .plan import DecodePlan, SampleTap, SmallFrame
from .taps import ChunkTaps, frame_time

__all__ = ["DecodePlan", "FrameSource", "SampleTap", "SmallFrame"]


class FrameSource:
    """Decodes one video stream into `SmallFrame`s by a `DecodePlan` (see module docstring).

    Args:
        path: the media file.
        plan: what to decode, keep and sample.
    """

    def __init__(self, path: Path, plan: DecodePlan) -> None:
        self.path, self.plan = Path(path), plan
        self.stats: DecodeStats | None = None  # set when `frames` is exhausted
        self._taps = () if plan.keys_only else plan.taps
        self._shared = Shared()
        self._pts: list[int] = []

    @property
    def p_only(self) -> bool:
        """Whether reference B pictures are skipped too (found by a check on the first chunk)."""
        return self._shared.p_only

    def frames(self, progress: Callable[[float], None] | None = None) -> Iterator[SmallFrame]:
        """Yield small frames in presentation order; `self.stats` is set when exhausted.

        Raises:
            ExtractionError: the file cannot be opened, has no video stream, or no frame decodes.
        """
        container, stream = open_video(self.path)
        n_yielded = 0
        try:
            fmt = container.format.name.split(",")[0]
            if fmt in SEQUENTIAL_FORMATS:
                gen = self._sequential(container, stream, progress)
            else:
                gen = self._chunked(container, stream, progress)
            for frame in gen:
                n_yielded += 1
                yield frame
        finally:
            container.close()
        if n_yielded == 0:
            raise ExtractionError(
                f"{self.path.name}: no video frame could be decoded "
                f"({self._shared.corrupt} corrupt packets; header only or truncated?)"
            )

    def small(self, frame: av.VideoFrame, index: int, pts_s: float, key: bool) -> SmallFrame:
        """A decoded frame shrunk as this source does it (no full picture attached)."""
        return small_frame(self.plan, frame, index, pts_s, key)

    # -- sequential path (any container, counts frames) ----------------------------------
    def _sequential(self, container, stream, progress) -> Iterator[SmallFrame]:
        """Every frame in one decode; each carries its picture when pictures are kept (they
        come one at a time, so the consumer holds only those it wants)."""
        ctx = stream.codec_context
        ctx.thread_type = "AUTO"
        tb = float(stream.time_base or Fraction(1, 1000))
        dur = _duration_s(container, stream)
        index = 0
        pts_seen: list[float] = []
        for packet in container.demux(stream):
            try:
                decoded = packet.decode()
            except av.error.InvalidDataError:
                self._shared.add_corrupt(1)
                continue
            for frame in decoded:
                pts = _frame_pts(frame, tb, index, stream)
                pts_seen.append(pts)
                self._tap_one(frame, stream)
                if frame.key_frame or not self.plan.keys_only:
                    yield self._whole(frame, index, pts)
                index += 1
                if progress and dur:
                    progress(min(1.0, pts / dur))
        last = max(pts_seen, default=None)
        self.stats = _stats(index, sorted(pts_seen), self._shared.corrupt, last)

    def _whole(self, frame: av.VideoFrame, index: int, pts: float) -> SmallFrame:
        small = self.small(frame, index, pts, bool(frame.key_frame))
        return dataclasses.replace(small, full=frame) if self.plan.keep is not None else small

    def _tap_one(self, frame: av.VideoFrame, stream) -> None:
        if frame.pts is None or stream.time_base is None:
            return
        t = frame_time(frame.pts, stream.time_base)
        for tap in self._taps:
            if tap.take(t):
                tap.deliver([(t, tap.convert(frame))])

    # -- chunked, parallel path ----------------------------------------------------------
    def _chunked(self, container, stream, progress) -> Iterator[SmallFrame]:
        tb = float(stream.time_base)
        codec = stream.codec_context.name
        extradata = stream.codec_context.extradata
        nal_len = avcc_length_size(extradata) if codec == "h264" else None
        dur = _duration_s(container, stream)
        pending: deque[tuple[ChunkJob, Future[list[SmallFrame]]]] = deque()
        calibrate = self._calibrates(codec)
        with ThreadPoolExecutor(max_workers=self.plan.workers) as pool:
            for chunk in split_chunks(container, stream, nal_len, self._pts):
                taps = ChunkTaps.ask(self._taps, chunk.packets, stream.time_base)
                job = ChunkJob(self.plan, self._shared, chunk, codec, extradata, tb, taps)
                if calibrate:  # before any other chunk starts: they read it
                    calibrate = False
                    self._shared.p_only = job.p_only_is_exact()
                pending.append((job, pool.submit(job.run)))
                while len(pending) >= MAX_IN_FLIGHT:
                    yield from self._drain(*pending.popleft(), progress, dur)
            while pending:
                yield from self._drain(*pending.popleft(), progress, dur)
        pts = sorted(self._pts)
        last = pts[-1] * tb if pts else None
        self.stats = _stats(len(pts), [p * tb for p in pts], self._shared.corrupt, last)

    def _calibrates(self, codec: str) -> bool:
        """Whether to check on the first chunk if reference B pictures may be skipped: I/P-only
        pays when nothing needs filling in (no dense planner); with dense windows the longer
        gaps cost more re-decoding than they save (measured on the bench clip)."""
        fast = self.plan.fast
        sparse = fast is not None and fast.dense is None and not self.plan.keys_only
        return sparse and codec == "h264"

    def _drain(self, job: ChunkJob, fut, progress, dur) -> Iterator[SmallFrame]:
        frames = fut.result()
        job.taps.deliver()
        last = frames[-1].pts_s if frames else None
        frames.reverse()
        while frames:  # hand each frame over for good: kept pictures go as soon as unused
            yield frames.pop()
        if progress and dur and last is not None:
            progress(min(1.0, last / dur))


def _duration_s(container, stream) -> float | None:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    return container.duration / 1_000_000 if container.duration else None


def _frame_pts(frame: av.VideoFrame, tb: float, index: int, stream) -> float:
    if frame.pts is not None:
        return frame.pts * tb
    rate = float(stream.average_rate or 25)
    return index / rate


def _stats(count: int, pts_s: Sequence[float], corrupt: int, last: float | None) -> DecodeStats:
    diffs = np.diff(np.asarray(pts_s, dtype=np.float64)) if len(pts_s) > 1 else np.array([])
    diffs = diffs[diffs > 0]
    return DecodeStats(
        frames_decoded=count,
        last_pts_s=last,
        corrupt_frames=corrupt,
        min_interval_s=float(diffs.min()) if diffs.size else None,
        max_interval_s=float(diffs.max()) if diffs.size else None,
    )

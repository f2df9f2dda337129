"""Frame source for shot detection: small grey frames with exact index and PTS, cheaply.

Decoding dominates the cost of shot detection (see PERFORMANCE.md), so this module decodes as
little as it can and as cheaply as it can:

* one demux pass (almost free) splits the stream into chunks of whole GOPs; two single-threaded
  decoders work on chunks in parallel (PyAV releases the GIL while decoding);
* in fast mode, H.264 non-reference pictures (nal_ref_idc == 0) are not decoded at all, except
  at chunk edges and in "dense windows" the caller asks for where something changed: no other
  frame depends on them, so dropping their packets costs nothing in accuracy elsewhere;
* frames are scaled to a few dozen pixels by swscale straight to grey, deblocking is skipped.

Frame index = rank of the frame's PTS among all frames of the stream (presentation order, the
way PySceneDetect counts). Streams where that is unsafe (MPEG-TS, packets without PTS, field
pictures) fall back to one sequential decode that counts frames.

`DecodeStats` semantics: `frames_decoded` counts frames the stream *holds* (every frame packet
seen by the demuxer, or every frame decoded in the sequential path), not how many this source
chose to decode, so it can be compared with the declared frame count to spot truncation.
`last_pts_s` is the largest frame PTS, min/max interval come from consecutive frame PTS.
"""

from __future__ import annotations

import heapq
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.error
import cv2
import numpy as np

from ..errors import ExtractionError
from ..models import DecodeStats
from .h264 import avcc_length_size, h264_frame_kind

# A chunk holds at least this many packets (all-intra streams have one-frame GOPs).
MIN_CHUNK_PACKETS = 48
# Chunks decoded ahead of the consumer; bounds memory (packets + small frames only).
MAX_IN_FLIGHT = 3
LOCAL_PEAK = 6  # a frame sharper than all within this many frames keeps its full picture
# How far back (frames) a B picture's own references may sit: 2 mini-GOPs of up to 8 frames.
B_REACH = 16
SEQUENTIAL_FORMATS = ("mpegts", "mpeg", "mpegvideo", "h264", "hevc", "rawvideo")


@dataclass(frozen=True)
class SmallFrame:
    """One decoded frame, shrunk. `grey` is uint8 (h, w); `key` marks an encoder keyframe."""

    index: int
    pts_s: float
    grey: np.ndarray = field(repr=False, compare=False)
    key: bool = False
    sharpness: float = 0.0  # variance of the Laplacian at twice the analysis width
    features: Any = field(default=None, repr=False, compare=False)  # set by `analyse`
    full: av.VideoFrame | None = field(default=None, repr=False, compare=False)  # exact picture


@dataclass
class _Packet:
    pkt: av.Packet
    pts: int
    ref: bool
    key: bool
    bpic: bool = False  # a B picture (a reference one can often be skipped too, see p_only)
    rank: int = -1  # presentation index inside the whole stream


@dataclass
class _Chunk:
    first_index: int
    packets: list[_Packet]
    next_key: _Packet | None = None  # first packet of the next chunk (its keyframe)


@dataclass
class SampleTap:
    """Frames taken for someone else during the same decode (archive matching's ~4 fps).

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
    previous sample's picture. Matching sampling on its own runs the same plan
    (`keyframes.extract.sampling_source`), so both give the very same samples.
    """

    take: Callable[[float], bool]
    convert: Callable[[av.VideoFrame], Any]
    deliver: Callable[[list[tuple[float, Any]]], None]
    alike: Callable[[Any, Any], bool] | None = None


def frame_time(pts: int, tb: Fraction) -> float:
    """Seconds of a PTS exactly as PyAV's `frame.time` computes them."""
    return float(pts) * tb.numerator / tb.denominator


# A caller-supplied test: do two keyframes look so alike that no cut can lie between them?
StillTest = Callable[[SmallFrame, SmallFrame], bool]

# A caller-supplied planner: given a chunk's decoded frames, the positions i where the gap
# between frames[i] and frames[i + 1] must be filled in (decoded densely).
DenseTest = Callable[[list[SmallFrame]], list[int]]


@dataclass
class FrameSource:
    """Decodes one video stream into `SmallFrame`s (see module docstring).

    Args:
        path: the media file.
        width: width of the small frames (height follows the aspect ratio).
        fast: drop H.264 non-reference frames except where `dense_test` asks for them.
        dense_test: planner naming the gaps between decoded frames to re-decode densely.
        keys_only: decode encoder keyframes only (the `iframes` method).
        workers: parallel decoders.
        analyse: computed on each small frame in the decoder threads (stored as `features`).
        keep_full: keep the exact full-resolution picture (`SmallFrame.full`) of this many of
            the sharpest decoded frames per chunk, and of local sharpness peaks (keyframe
            candidates, so they need not be decoded again); 0 keeps none and skips deblocking
            (cheaper, inexact pictures).
        still_test: in fast mode, a chunk of one GOP whose keyframe passes this test against
            the next chunk's keyframe yields its keyframe alone (the GOP is not decoded).
        tap: frames to sample for another consumer during this decode (see `SampleTap`);
            they are decoded even where shot detection skips, without changing what it sees.
    """

    path: Path
    width: int = 128
    fast: bool = True
    dense_test: DenseTest | None = None
    keys_only: bool = False
    workers: int = 2
    edge: int = 3
    analyse: Callable[[SmallFrame], Any] | None = None
    stats: DecodeStats | None = None
    keep_full: int = 0
    still_test: StillTest | None = None
    p_only: bool = False  # skip reference B pictures too (set by a check on the first chunk)
    tap: SampleTap | None = None  # frames sampled for someone else from this one decode
    _calibrated: bool = False
    _pts: list[int] = field(default_factory=list)
    _corrupt: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _keys: dict[int, _Key | None] = field(default_factory=dict)  # decoded keyframes by PTS

    def frames(self, progress: Callable[[float], None] | None = None) -> Iterator[SmallFrame]:
        """Yield small frames in presentation order; `self.stats` is set when exhausted.

        Raises:
            ExtractionError: the file cannot be opened, has no video stream, or no frame decodes.
        """
        container, stream = _open(self.path)
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
                f"({self._corrupt} corrupt packets; header only or truncated?)"
            )

    # -- sequential path (any container, counts frames) ----------------------------------
    def _sequential(self, container, stream, progress) -> Iterator[SmallFrame]:
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
                self._corrupt += 1
                continue
            for frame in decoded:
                pts = _frame_pts(frame, tb, index, stream)
                pts_seen.append(pts)
                self._tap_one(frame, stream)
                if frame.key_frame or not self.keys_only:
                    yield self.small(frame, index, pts, bool(frame.key_frame))
                index += 1
                if progress and dur:
                    progress(min(1.0, pts / dur))
        self.stats = _stats(index, sorted(pts_seen), self._corrupt, max(pts_seen, default=None))

    def _tap_one(self, frame: av.VideoFrame, stream) -> None:
        tap = self.tap
        if tap is None or frame.pts is None or stream.time_base is None:
            return
        t = frame_time(frame.pts, stream.time_base)
        if tap.take(t):
            tap.deliver([(t, tap.convert(frame))])

    # -- chunked, parallel path ----------------------------------------------------------
    def _chunked(self, container, stream, progress) -> Iterator[SmallFrame]:
        tb = float(stream.time_base)
        codec = stream.codec_context.name
        extradata = stream.codec_context.extradata
        nal_len = avcc_length_size(extradata) if codec == "h264" else None
        dur = _duration_s(container, stream)
        pending: deque[tuple[_ChunkJob, Future[list[SmallFrame]]]] = deque()
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            for chunk in _chunks(container, stream, nal_len, self._pts):
                job = _ChunkJob(self, chunk, codec, extradata, tb)
                job.samples = self._tap_ranks(chunk, stream.time_base)
                # I/P-only pays when nothing needs filling in (interval): with dense windows the
                # longer gaps cost more re-decoding than they save (measured on the bench clip)
                if (
                    self.fast
                    and self.dense_test is None
                    and not self._calibrated
                    and codec == "h264"
                ):
                    self._calibrated = True  # before any other chunk starts: they read it
                    self.p_only = job.p_only_is_exact()
                pending.append((job, pool.submit(job.run)))
                while len(pending) >= MAX_IN_FLIGHT:
                    yield from self._drain(*pending.popleft(), progress, dur)
            while pending:
                yield from self._drain(*pending.popleft(), progress, dur)
        pts = sorted(self._pts)
        self.stats = _stats(
            len(pts), [p * tb for p in pts], self._corrupt, pts[-1] * tb if pts else None
        )

    def _tap_ranks(self, chunk: _Chunk, tb: Fraction) -> dict[int, float]:
        """The chunk's frames the tap takes (rank -> time), asked in presentation order."""
        if self.tap is None or self.keys_only:
            return {}
        ordered = sorted(chunk.packets, key=lambda p: p.rank)
        times = ((p.rank, frame_time(p.pts, tb)) for p in ordered)
        return {rank: t for rank, t in times if self.tap.take(t)}

    def _drain(self, job: _ChunkJob, fut, progress, dur) -> Iterator[SmallFrame]:
        frames = fut.result()
        if self.tap is not None and job.tapped:
            self.tap.deliver([job.tapped[r] for r in sorted(job.tapped)])
        job.tapped = {}
        last = frames[-1].pts_s if frames else None
        frames.reverse()
        while frames:  # hand each frame over for good: kept pictures go as soon as unused
            yield frames.pop()
        if progress and dur and last is not None:
            progress(min(1.0, last / dur))

    def small(self, frame: av.VideoFrame, index: int, pts_s: float, key: bool) -> SmallFrame:
        """Shrink a decoded frame; sharpness is measured at twice the width (more detail).
        The full picture rides along when `keep_full` (decoded exactly then)."""
        big = shrink(frame, self.width * 2)
        sharp = float(cv2.Laplacian(big, cv2.CV_32F).var())
        grey = cv2.resize(
            big, (self.width, max(2, big.shape[0] // 2)), interpolation=cv2.INTER_AREA
        )
        small = SmallFrame(index, pts_s, grey, key, sharp, full=frame if self.keep_full else None)
        if self.analyse is not None:
            object.__setattr__(small, "features", self.analyse(small))
        return small

    def offer_key(self, pts: int, frame: _Key) -> None:
        """Leave a decoded keyframe for the job whose chunk it starts (unless it began)."""
        with self._lock:
            if pts not in self._keys:
                self._keys[pts] = frame

    def claim_key(self, pts: int) -> _Key | None:
        """Take the keyframe another job left; later offers for it are refused (no leak)."""
        with self._lock:
            frame = self._keys.get(pts)
            self._keys[pts] = None
            return frame

    def _add_corrupt(self, n: int) -> None:
        with self._lock:
            self._corrupt += n


@dataclass(frozen=True)
class _Key:
    """A keyframe decoded on its own: its small frame and, with a tap, its conversion."""

    small: SmallFrame
    tapped: Any = None


@dataclass
class _ChunkJob:
    """Decode one chunk in a worker thread with its own single-threaded decoder."""

    src: FrameSource
    chunk: _Chunk
    codec: str
    extradata: bytes | None
    tb: float
    _ctx: Any = None
    _next_key: _Key | None = None  # the next chunk's keyframe, when decoded
    samples: dict[int, float] = field(default_factory=dict)  # ranks the tap takes -> time
    tapped: dict[int, tuple[float, Any]] = field(default_factory=dict)  # rank -> (t, converted)
    _converted: dict[int, Any] = field(default_factory=dict)  # sample rank -> conversion
    _settled_at: int | None = None  # rank of the I/P picture that stopped the sparse pass
    _tail_alike: bool = False  # samples after the stop take the next keyframe's picture

    def _context(self) -> Any:
        """The job's decoder, reset to a clean state.

        One decoder per job, not per pass: pictures handed out come from the decoder's buffer
        pool, and a buffer released after the decoder closed stays parked in the pool for as
        long as any kept picture lives. So the job drops unwanted pictures first (`run`).
        """
        if self._ctx is not None:
            self._ctx.flush_buffers()
            return self._ctx
        ctx: Any = av.CodecContext.create(self.codec, "r")
        if self.extradata:
            ctx.extradata = self.extradata
        ctx.thread_type = "NONE"
        if not self.src.keep_full and self.src.tap is None:
            ctx.options = {"skip_loop_filter": "all"}  # only matters for pictures someone sees
        self._ctx = ctx
        return ctx

    def run(self) -> list[SmallFrame]:
        try:
            return self._run()
        finally:
            self._ctx = None  # after pruning: the pool frees what was released

    def _run(self) -> list[SmallFrame]:
        packets = self.chunk.packets
        if self.src.keys_only:
            keys = {p.rank for p in packets if p.key}
            return self._keep_sharpest(self._decode(keys, None, keys=True))
        want = {p.rank for p in packets}
        if self.src.fast and self.src.still_test is not None:
            still = self._still_chunk()
            if still is not None:
                return still
        if self.src.fast:
            want = self._sparse_ranks(self.src.p_only)
        got = self._decode(
            want,
            upto=None,
            skip_b=self.src.fast and self.src.p_only,
            stop=self._settled(),
            tap=True,
        )
        self._fill_taps()
        if self.src.fast and self.src.dense_test is not None:
            extra = self._dense_ranks(sorted(got.values(), key=lambda f: f.index))
            extra -= set(got)
            if extra:
                got.update(self._decode(extra, upto=max(extra), only=extra, skip_b=self.src.p_only))
        return self._keep_sharpest(got)

    def _still_chunk(self) -> list[SmallFrame] | None:
        """The chunk's keyframe alone when it and the next chunk's keyframe look alike.

        Skips decoding a whole GOP of a static or slowly moving shot. The next keyframe is
        decoded here and left for the next job (each keyframe is decoded once more in the
        job that needs its GOP). Unsafe only if a GOP cuts away and back to the same view.
        """
        test, nxt = self.src.still_test, self.chunk.next_key
        keys = [p for p in self.chunk.packets if p.key]
        first = self.chunk.packets[0]
        here = self.src.claim_key(first.pts)  # decoded by the previous job, if it got there
        if test is None or nxt is None or len(keys) != 1 or not first.key:
            return None
        after = self._key_frame(nxt, self.chunk.first_index + len(self.chunk.packets))
        self._next_key = after
        here = here or self._key_frame(first, first.rank)
        if after is None or here is None or here.small.index != first.rank:
            return None
        if not test(here.small, after.small):
            return None
        if self.samples and self._alike(here, after):  # the nearer keyframe stands in
            end = after.small.index
            self.tapped = {
                r: (t, here.tapped if r - first.rank <= end - r else after.tapped)
                for r, t in self.samples.items()
            }
        elif self.samples:  # still to detection, not to the tap: decode its samples
            self._decode(set(), upto=max(self.samples), only=set(), tap=True)
            self._fill_taps()
        return self._keep_sharpest({here.small.index: here.small})

    def _alike(self, a: _Key | Any, b: _Key | None) -> bool:
        """Does the tap accept `a` and `b` (keyframes, or a sample's picture) as alike?"""
        alike = self.src.tap.alike if self.src.tap is not None else None
        pa = a.tapped if isinstance(a, _Key) else a
        pb = b.tapped if b is not None else None
        return alike is not None and pa is not None and pb is not None and alike(pa, pb)

    def _tail_is_alike(self) -> bool:
        """After a stop at s: the last sample up to s looks, to the tap, like the next keyframe
        (so later samples take that keyframe; otherwise they are decoded)."""
        settled = self._settled_at
        assert settled is not None
        if not any(r > settled for r in self.samples):
            return True
        before = [r for r in self._converted if r <= settled]
        return bool(before) and self._alike(self._converted[max(before)], self._next_key)

    def _fill_taps(self) -> None:
        """Give every sample of the chunk its picture (see `SampleTap`)."""
        settled = self._settled_at
        tail = self._next_key.tapped if self._next_key is not None else None
        last: Any = None
        for rank in sorted(self.samples):
            if settled is not None and rank > settled and self._tail_alike:
                last = tail if tail is not None else last
            else:
                last = self._converted.get(rank, last)
            if last is not None:
                self.tapped[rank] = (self.samples[rank], last)
        self._converted = {}

    def _settled(self) -> Callable[[SmallFrame], bool] | None:
        """Stop rule for the sparse pass: a decoded frame past the chunk's keyframe that looks
        like the next keyframe ends the pass (after a cut early in a GOP, the rest of the GOP
        is the new shot: decoding it would only confirm that)."""
        test, key = self.src.still_test, self._next_key
        if test is None or key is None:
            return None
        first, after = self.chunk.first_index, key.small
        bpic = {p.rank for p in self.chunk.packets if p.bpic}
        # judged on I/P pictures only, which every decode plan sees: the stop point (and so
        # the tap's sources) does not depend on whether reference B pictures were decoded
        return lambda f: f.index > first + self.src.edge and f.index not in bpic and test(f, after)

    def _key_frame(self, packet: _Packet, rank: int) -> _Key | None:
        """Decode one keyframe on its own; remembered for the job whose GOP it starts."""
        ctx = self._context()
        try:
            frames = [*ctx.decode(packet.pkt), *ctx.decode(None)]
        except av.error.InvalidDataError:
            return None
        frame = next((f for f in frames if f.pts == packet.pts), None)
        if frame is None:
            return None
        tap = self.src.tap
        key = _Key(
            self.src.small(frame, rank, frame.pts * self.tb, True),
            tap.convert(frame) if tap is not None else None,
        )
        if packet is self.chunk.next_key:
            self.src.offer_key(packet.pts, key)
        return key

    def _keep_sharpest(self, got: dict[int, SmallFrame]) -> list[SmallFrame]:
        """Frames in index order; full pictures kept only for likely keyframes.

        A keyframe is the sharpest frame of its segment, so keep the chunk's `keep_full`
        sharpest frames and every frame that is the sharpest within `LOCAL_PEAK` frames around
        it (segments can be short in restless shots). A keyframe that is neither is decoded
        again at the end.
        """
        frames = sorted(got.values(), key=lambda f: f.index)
        keep = self.src.keep_full
        if keep:
            best = {f.index for f in sorted(frames, key=lambda f: -f.sharpness)[:keep]}
            for f in frames:
                if f.index not in best and not _local_peak(f, frames):
                    object.__setattr__(f, "full", None)
        return frames

    def _sparse_ranks(self, p_only: bool) -> set[int]:
        """References (only I/P when `p_only`), plus every frame near the chunk's edges."""
        lo = self.chunk.first_index
        hi = lo + len(self.chunk.packets) - 1
        edge = self.src.edge
        return {
            p.rank
            for p in self.chunk.packets
            if (p.ref and not (p_only and p.bpic)) or p.rank - lo < edge or hi - p.rank < edge
        }

    def p_only_is_exact(self) -> bool:
        """Do I/P pictures decode bit-identically without the reference B pictures?

        True when no I/P picture predicts from a B picture (x264's default pyramid), which
        lets a quarter-rate pass skip them. Checked on this chunk by decoding both ways.
        """
        if not any(p.ref and p.bpic for p in self.chunk.packets):
            return False
        ranks = {p.rank for p in self.chunk.packets if p.ref and not p.bpic}
        full = self._decode(ranks, upto=None, release=False)
        lean = self._decode(ranks, upto=None, skip_b=True, release=False)
        return (
            bool(lean)
            and set(lean) == set(full)
            and all(_same_picture(full[r], lean[r]) for r in lean)
        )

    def _dense_ranks(self, frames: list[SmallFrame]) -> set[int]:
        """Frames around each planned gap: from before it to a few frames after (flash test)."""
        assert self.src.dense_test is not None
        ranks: set[int] = set()
        for i in self.src.dense_test(frames):
            a, b = frames[i], frames[i + 1]
            ranks.update(range(a.index + 1, b.index + self.src.edge))
        lo = self.chunk.first_index
        return {r for r in ranks if lo <= r < lo + len(self.chunk.packets)}

    def _decode(
        self,
        want: set[int],
        upto: int | None,
        only: set[int] | None = None,
        keys: bool = False,
        skip_b: bool = False,
        stop: Callable[[SmallFrame], bool] | None = None,
        tap: bool = False,
        release: bool = True,
    ) -> dict[int, SmallFrame]:
        """Decode references (and wanted non-references) and shrink the wanted frames.

        With `tap`, the chunk's samples are decoded too and converted; after `stop` fires at
        frame s, detection gets only frames of packets sent before it, and decoding goes on
        only as far as samples up to s need; later ones take the next keyframe when the tap
        finds it alike, else decoding goes on for them (see `SampleTap`). With `release`, full
        pictures that can no longer be keyframe candidates go early.
        """
        ctx = self._context()
        packets = self.chunk.packets
        last_needed = len(packets)
        if upto is not None:  # stop after the last packet (decode order) a wanted frame needs
            last_needed = max(i for i, p in enumerate(packets) if p.rank <= upto) + 1
        taps = set(self.samples) if tap else set()
        by_pts = {p.pts: p for p in packets}
        # I/P pictures never predict from B pictures when `skip_b` is allowed (`p_only_is_exact`);
        # a wanted B picture may, from the reference B pictures of its own and 2 earlier
        # mini-GOPs (measured: 0 of 306 wrong with those, 39 of 71 with none)
        bpics = {p.rank for p in packets if p.bpic} if skip_b else set()
        near = {r + d for r in (want | taps) & bpics for d in range(-B_REACH, 4)}
        tap_end = 0  # after a stop: decode order index past the last sample it still needs
        judged = False  # whether the samples after a stop were judged (see `_tail_is_alike`)
        pick = want if only is None else only
        sent: set[int] | None = None  # ranks sent before `stop` fired (None: it has not)
        out: dict[int, SmallFrame] = {}
        keeper = _Keeper(self.src.keep_full, out) if self.src.keep_full and release else None
        bad = 0
        for i, p in enumerate(packets):
            detect = sent is None and i < last_needed
            if not detect and i >= tap_end:
                if sent is None or judged:
                    break
                judged = True
                self._tail_alike = self._tail_is_alike()
                if self._tail_alike:
                    break
                # decode on: the samples after the stop need their own frames
                tap_end = max((j for j, q in enumerate(packets) if q.rank in taps), default=i) + 1
            ref = p.ref and not keys and not (skip_b and p.bpic and p.rank not in near)
            if not (ref or p.rank in taps or (detect and p.rank in want)):
                continue
            try:
                frames = ctx.decode(p.pkt)
            except av.error.InvalidDataError:
                bad += detect
                continue
            added = self._collect(frames, by_pts, pick, out, sent, taps, keeper)
            hit = next((f for f in added if sent is None and stop is not None and stop(f)), None)
            if hit is not None:
                # the rest of the chunk looks like the next keyframe: no cut in it
                sent = {q.rank for q in packets[: i + 1]}
                self._settled_at = hit.index
                self._tail_alike = False
                due = [j for j, q in enumerate(packets) if q.rank in taps and q.rank <= hit.index]
                tap_end = max(due, default=-1) + 1
        try:
            self._collect(ctx.decode(None), by_pts, pick, out, sent, taps, keeper)
        except av.error.InvalidDataError:
            bad += 1
        if only is None and bad:
            self.src._add_corrupt(bad)
        return out

    def _collect(
        self, frames, by_pts, want, out, sent=None, taps=None, keeper=None
    ) -> list[SmallFrame]:
        """Shrink the wanted frames into `out` (only those sent before a stop, when one fired)
        and convert the tap's samples (`taps`, ranks); `keeper` releases pictures no longer
        needed."""
        added = []
        for frame in frames:
            pkt = by_pts.get(frame.pts)
            if pkt is None:
                continue
            if taps and pkt.rank in taps and self.src.tap is not None:
                self._converted[pkt.rank] = self.src.tap.convert(frame)
            if pkt.rank not in want or (sent is not None and pkt.rank not in sent):
                continue
            small = self.src.small(frame, pkt.rank, frame.pts * self.tb, pkt.key)
            out[pkt.rank] = small
            added.append(small)
            if keeper is not None:
                keeper.add(small)
        return added


def _beats(g: SmallFrame, f: SmallFrame) -> bool:
    """g ranks before f: sharper, or as sharp and earlier (the order of `_keep_sharpest`)."""
    return g.sharpness > f.sharpness or (g.sharpness == f.sharpness and g.index < f.index)


class _Keeper:
    """Drops, while a chunk decodes, the full pictures `_keep_sharpest` would drop at its end.

    A frame beaten by a neighbour within `LOCAL_PEAK` is no local peak, and one that fell out
    of the `keep` best so far is not among the chunk's `keep` best: more frames only add
    rivals, so both stay true. Without this every picture of a chunk stayed alive until its
    end (a 60-frame 1080p GOP: ~190 MB per decoder thread; far more with long GOPs).
    Cost: a heap of `keep` entries and a look at the neighbours, per frame.
    """

    def __init__(self, keep: int, got: dict[int, SmallFrame]) -> None:
        self.keep, self.got = keep, got
        self.top: list[tuple[float, int]] = []  # (sharpness, -index): worst of the best first
        self.dropped: set[int] = set()  # indices no longer among the best

    def add(self, new: SmallFrame) -> None:
        heapq.heappush(self.top, (new.sharpness, -new.index))
        check = self._near(new.index)
        if len(self.top) > self.keep:
            _s, neg = heapq.heappop(self.top)
            self.dropped.add(-neg)
            if -neg in self.got:
                check.append(self.got[-neg])
        for f in check:
            if f.full is not None and f.index in self.dropped and self._beaten(f):
                object.__setattr__(f, "full", None)

    def _near(self, index: int) -> list[SmallFrame]:
        span = range(index - LOCAL_PEAK, index + LOCAL_PEAK + 1)
        return [self.got[i] for i in span if i in self.got]

    def _beaten(self, f: SmallFrame) -> bool:
        return any(_beats(g, f) for g in self._near(f.index))


def _local_peak(f: SmallFrame, frames: list[SmallFrame]) -> bool:
    """Sharpest within `LOCAL_PEAK` frames; of equals, the first (a run of equally sharp
    frames, e.g. a static picture, would otherwise keep every picture: memory)."""
    return all(
        g.sharpness < f.sharpness or (g.sharpness == f.sharpness and g.index >= f.index)
        for g in frames
        if abs(g.index - f.index) <= LOCAL_PEAK
    )


def _same_picture(a: SmallFrame, b: SmallFrame) -> bool:
    """Equal small frames, and equal full luma planes when the full pictures are kept."""
    if not np.array_equal(a.grey, b.grey):
        return False
    if a.full is None or b.full is None:
        return True
    return np.array_equal(_luma(a.full), _luma(b.full))


def _luma(frame: av.VideoFrame) -> np.ndarray:
    plane = frame.planes[0]
    rows = np.frombuffer(memoryview(plane), np.uint8).reshape(-1, plane.line_size)
    return rows[: frame.height, : plane.width]


def shrink(frame: av.VideoFrame, width: int) -> np.ndarray:
    """Grey frame `width` pixels wide: the luma plane, decimated, then area-averaged.

    Reading every 2nd-4th luma sample before the area filter is several times cheaper than
    swscale's area filter on the full picture, and still averages dozens of samples per output
    pixel (enough to smother sensor grain).
    """
    h = max(2, round(width * frame.height / max(1, frame.width)))
    name = frame.format.name
    if not (name.startswith(("yuv", "yuvj", "nv", "gray")) and "p1" not in name[3:]):
        return frame.reformat(width, h, "gray", interpolation="AREA").to_ndarray()
    plane = frame.planes[0]
    rows = np.frombuffer(memoryview(plane), np.uint8).reshape(frame.height, plane.line_size)
    y = rows[:, : frame.width]
    step = max(1, frame.width // (width * 4))
    return cv2.resize(y[::step, ::step], (width, h), interpolation=cv2.INTER_AREA)


def _open(path: Path):
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.error.FFmpegError, OSError) as exc:
        raise ExtractionError(f"{path.name}: cannot be opened for decoding: {exc}") from None
    if not container.streams.video:
        container.close()
        raise ExtractionError(f"{path.name}: has no video stream to decode")
    stream = container.streams.video[0]
    try:
        stream.codec_context  # noqa: B018 - raises when no decoder exists for the codec
    except av.error.FFmpegError as exc:
        container.close()
        raise ExtractionError(f"{path.name}: unsupported video codec: {exc}") from None
    if stream.codec_context is None or stream.codec_context.codec is None:
        name = stream.codec_context.name if stream.codec_context is not None else stream.type
        container.close()  # after reading the stream: it is gone with the container
        raise ExtractionError(f"{path.name}: unsupported video codec (no decoder for {name})")
    return container, stream


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


def _chunks(container, stream, nal_len: int | None, pts_log: list[int]) -> Iterator[_Chunk]:
    """Split the packet stream into chunks of whole GOPs that decode independently.

    A GOP whose PTS reach back before the previous GOP (open GOP leading pictures) stays in the
    same chunk. Ranks are assigned by PTS order inside a chunk, offset by frames before it.
    """
    current: list[_Packet] = []
    offset = 0
    max_pts = None
    for pkt in container.demux(stream):
        if not pkt.size or pkt.pts is None or pkt.is_discard:
            if pkt.size and pkt.pts is None:
                raise ExtractionError("packets without timestamps: cannot index frames")
            continue
        ref, bpic = h264_frame_kind(bytes(pkt), nal_len) if nal_len else (True, False)
        entry = _Packet(pkt, pkt.pts, ref or pkt.is_keyframe, pkt.is_keyframe, bpic)
        closed = (
            pkt.is_keyframe
            and len(current) >= MIN_CHUNK_PACKETS
            and max_pts is not None
            and pkt.pts > max_pts
        )
        if closed:
            yield _finish(current, offset, pts_log, entry)
            offset += len(current)
            current = []
        current.append(entry)
        max_pts = pkt.pts if max_pts is None else max(max_pts, pkt.pts)
    if current:
        yield _finish(current, offset, pts_log)


def _finish(
    packets: list[_Packet], offset: int, pts_log: list[int], next_key: _Packet | None = None
) -> _Chunk:
    for rank, p in enumerate(sorted(packets, key=lambda p: p.pts)):
        p.rank = offset + rank
    pts_log.extend(p.pts for p in packets)
    return _Chunk(offset, packets, next_key)

"""One chunk of whole GOPs decoded in a worker thread, with its own single-threaded decoder.

A job runs one or more passes over its chunk's packets, each described by a `Pass`:

* the main pass decodes what the plan asks for: every frame, or (fast) the references and the
  frames near the chunk's edges, plus every frame a tap takes;
* with the detector's still test, a one-GOP chunk whose keyframe looks like the next chunk's
  keyframe is not decoded at all (its keyframe alone is handed out), and a decoded GOP stops
  once an I/P picture looks like the next keyframe (the rest of the GOP is that shot);
* with the detector's dense planner, a second pass fills in the gaps it names.

Full pictures are kept as the plan's keep policy says: its tracker drops pictures while a pass
decodes, `KeepPolicy.kept` decides at the chunk's end, and the kept pictures are attached to
their small frames then (frames are built once, never changed).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import av
import av.error
import cv2
import numpy as np

from .chunks import Chunk, Packet
from .plan import DecodePlan, DenseTest, SmallFrame, StillTest
from .taps import ChunkTaps, key_pictures, ranks

# How far back (frames) a B picture's own references may sit: 2 mini-GOPs of up to 8 frames.
B_REACH = 16


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


def small_frame(
    plan: DecodePlan, frame: av.VideoFrame, index: int, pts_s: float, key: bool
) -> SmallFrame:
    """Shrink a decoded frame; sharpness is measured at twice the width (more detail), and the
    plan's `analyse` runs on the result."""
    big = shrink(frame, plan.width * 2)
    sharp = float(cv2.Laplacian(big, cv2.CV_32F).var())
    grey = cv2.resize(big, (plan.width, max(2, big.shape[0] // 2)), interpolation=cv2.INTER_AREA)
    small = SmallFrame(index, pts_s, grey, key, sharp)
    if plan.analyse is None:
        return small
    return dataclasses.replace(small, features=plan.analyse(small))


@dataclass(frozen=True)
class Key:
    """A keyframe decoded on its own: its small frame, its exact picture (when pictures are
    kept) and its pictures for the taps (`taps.key_pictures`)."""

    small: SmallFrame
    picture: av.VideoFrame | None = None
    tapped: tuple[Any, ...] = ()


@dataclass
class Shared:
    """What the jobs of one decode share: keyframes decoded ahead for the job whose chunk they
    start, the corrupt packet count, and whether reference B pictures may be skipped."""

    p_only: bool = False  # set by `ChunkJob.p_only_is_exact` on the first chunk, before others
    corrupt: int = 0
    _keys: dict[int, Key | None] = field(default_factory=dict)  # by PTS; None once claimed
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def offer_key(self, pts: int, key: Key) -> None:
        """Leave a decoded keyframe for the job whose chunk it starts (unless it began)."""
        with self._lock:
            if pts not in self._keys:
                self._keys[pts] = key

    def claim_key(self, pts: int) -> Key | None:
        """Take the keyframe another job left; later offers for it are refused (no leak)."""
        with self._lock:
            key = self._keys.get(pts)
            self._keys[pts] = None
            return key

    def add_corrupt(self, n: int) -> None:
        with self._lock:
            self.corrupt += n


@dataclass(frozen=True)
class Pass:
    """One decode of a chunk's packets (use the constructors below).

    Packets are sent up to the last one (decode order) that a wanted frame or a served sample
    needs; after a `stop`, only as far as the samples need (see `SampleTap`).

    Args:
        want: ranks made into small frames.
        keys: send keyframes only, no other reference picture.
        skip_b: skip the reference B pictures that no wanted B picture may need.
        stop: the settle rule: once a decoded frame passes it, detection gets only frames of
            packets sent so far.
        taps: positions of the taps whose samples this pass decodes and converts.
        keep_all: hold every wanted frame's picture, whatever the keep policy says.
        counts: the chunk's own pass: its undecodable packets count as corrupt frames (a
            second pass over the same packets would count them again).
    """

    want: frozenset[int]
    keys: bool = False
    skip_b: bool = False
    stop: Callable[[SmallFrame], bool] | None = None
    taps: tuple[int, ...] = ()
    keep_all: bool = False
    counts: bool = True

    @classmethod
    def keyframes(cls, ranks: Iterable[int]) -> Pass:
        """The `keys_only` pass: keyframes, nothing else."""
        return cls(frozenset(ranks), keys=True)

    @classmethod
    def main(
        cls,
        want: Iterable[int],
        skip_b: bool,
        stop: Callable[[SmallFrame], bool] | None,
        taps: Iterable[int],
    ) -> Pass:
        """The chunk's pass: its wanted frames, and every tap's samples."""
        return cls(frozenset(want), skip_b=skip_b, stop=stop, taps=tuple(taps))

    @classmethod
    def samples(cls, taps: Iterable[int]) -> Pass:
        """Only the samples of these taps (the detector skips the chunk)."""
        return cls(frozenset(), taps=tuple(taps), counts=False)

    @classmethod
    def dense(cls, want: Iterable[int], skip_b: bool) -> Pass:
        """Gaps filled in after the main pass."""
        return cls(frozenset(want), skip_b=skip_b, counts=False)

    @classmethod
    def check(cls, want: Iterable[int], skip_b: bool) -> Pass:
        """The reference-B rule check (`ChunkJob.p_only_is_exact`): pictures compared."""
        return cls(frozenset(want), skip_b=skip_b, keep_all=True, counts=False)


@dataclass
class ChunkJob:
    """Decode one chunk (see the module docstring); `run` in a worker thread."""

    plan: DecodePlan
    shared: Shared
    chunk: Chunk
    codec: str
    extradata: bytes | None
    tb: float
    taps: ChunkTaps
    next_key: Key | None = None  # the next chunk's keyframe, when decoded
    settled_at: int | None = None  # rank of the I/P picture that stopped the main pass
    _ctx: Any = None

    def context(self) -> Any:
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
        if self.plan.keep is None and not self.taps.shares:
            ctx.options = {"skip_loop_filter": "all"}  # only matters for pictures someone sees
        self._ctx = ctx
        return ctx

    def run(self) -> list[SmallFrame]:
        """The chunk's small frames in index order, kept pictures attached."""
        try:
            return self._run()
        finally:
            self._ctx = None  # after pruning: the pool frees what was released

    def _run(self) -> list[SmallFrame]:
        if self.plan.keys_only:
            keys = self.decode(Pass.keyframes(p.rank for p in self.chunk.packets if p.key))
            return self._kept(list(keys.frames.values()), keys.pictures)
        still = self.plan.fast.still if self.plan.fast is not None else None
        if still is not None:
            frames = self._still_chunk(still)
            if frames is not None:
                return frames
        return self._decoded_chunk()

    def _decoded_chunk(self) -> list[SmallFrame]:
        """The main pass (with every tap's samples), then the gaps the detector names."""
        fast, p_only = self.plan.fast, self.shared.p_only
        packets = self.chunk.packets
        want = self._sparse_ranks(p_only) if fast is not None else {p.rank for p in packets}
        everyone = range(len(self.taps.shares))
        stop = self._settle_rule(fast.still) if fast is not None else None
        main = self.decode(Pass.main(want, fast is not None and p_only, stop, everyone))
        self._fill_taps(everyone)
        frames, pictures = list(main.frames.values()), main.pictures
        if fast is not None and fast.dense is not None:
            extra = self._dense_ranks(fast.dense, sorted(frames, key=lambda f: f.index))
            extra -= set(main.frames)
            if extra:
                dense = self.decode(Pass.dense(extra, p_only))
                frames += dense.frames.values()
                pictures = {**pictures, **dense.pictures}
        return self._kept(frames, pictures)

    def _still_chunk(self, test: StillTest) -> list[SmallFrame] | None:
        """The chunk's keyframe alone when it and the next chunk's keyframe look alike.

        Skips decoding a whole GOP of a static or slowly moving shot. The next keyframe is
        decoded here and left for the next job (each keyframe is decoded once more in the
        job that needs its GOP). Unsafe only if a GOP cuts away and back to the same view.
        Taps that do not take the keyframes as stand-ins get their samples decoded.
        """
        nxt = self.chunk.next_key
        keys = [p for p in self.chunk.packets if p.key]
        first = self.chunk.packets[0]
        here = self.shared.claim_key(first.pts)  # decoded by the previous job, if it got there
        if nxt is None or len(keys) != 1 or not first.key:
            return None
        after = self._key_frame(nxt, self.chunk.first_index + len(self.chunk.packets))
        self.next_key = after
        here = here or self._key_frame(first, first.rank)
        if after is None or here is None or here.small.index != first.rank:
            return None
        if not test(here.small, after.small):
            return None
        undecided = self.taps.still(first.rank, after.small.index, here.tapped, after.tapped)
        if undecided:  # still to detection, not to these taps: decode their samples
            self.decode(Pass.samples(undecided))
            self._fill_taps(undecided)
        pictures = {first.rank: here.picture} if here.picture is not None else {}
        return self._kept([here.small], pictures)

    def _fill_taps(self, positions: Iterable[int]) -> None:
        """Give every sample of these taps its picture (see `TapShare.fill`)."""
        tail = self.next_key.tapped if self.next_key is not None else ()
        for k in positions:
            self.taps.shares[k].fill(self.settled_at, tail[k] if tail else None)

    def _settle_rule(self, test: StillTest | None) -> Callable[[SmallFrame], bool] | None:
        """Stop rule for the main pass: a decoded frame past the chunk's keyframe that looks
        like the next keyframe ends the pass (after a cut early in a GOP, the rest of the GOP
        is the new shot: decoding it would only confirm that)."""
        key = self.next_key
        if test is None or key is None:
            return None
        first, after, edge = self.chunk.first_index, key.small, self.plan.edge
        bpic = {p.rank for p in self.chunk.packets if p.bpic}
        # judged on I/P pictures only, which every decode plan sees: the stop point (and so
        # the taps' sources) does not depend on whether reference B pictures were decoded
        return lambda f: f.index > first + edge and f.index not in bpic and test(f, after)

    def _key_frame(self, packet: Packet, rank: int) -> Key | None:
        """Decode one keyframe on its own; remembered for the job whose GOP it starts."""
        ctx = self.context()
        try:
            frames = [*ctx.decode(packet.pkt), *ctx.decode(None)]
        except av.error.InvalidDataError:
            return None
        frame = next((f for f in frames if f.pts == packet.pts), None)
        if frame is None:
            return None
        key = Key(
            small_frame(self.plan, frame, rank, frame.pts * self.tb, True),
            frame if self.plan.keep is not None else None,
            key_pictures([s.tap for s in self.taps.shares], frame),
        )
        if packet is self.chunk.next_key:
            self.shared.offer_key(packet.pts, key)
        return key

    def _kept(self, frames: list[SmallFrame], pictures: dict[int, Any]) -> list[SmallFrame]:
        """Frames in index order, with the pictures the keep policy keeps (those not dropped
        while decoding)."""
        frames = sorted(frames, key=lambda f: f.index)
        keep = self.plan.keep
        if keep is None or not pictures:
            return frames
        kept = keep.kept(frames) & pictures.keys()
        return [
            dataclasses.replace(f, full=pictures[f.index]) if f.index in kept else f for f in frames
        ]

    def _sparse_ranks(self, p_only: bool) -> set[int]:
        """References (only I/P when `p_only`), plus every frame near the chunk's edges."""
        lo = self.chunk.first_index
        hi = lo + len(self.chunk.packets) - 1
        edge = self.plan.edge
        return {
            p.rank
            for p in self.chunk.packets
            if (p.ref and not (p_only and p.bpic)) or p.rank - lo < edge or hi - p.rank < edge
        }

    def _dense_ranks(self, dense: DenseTest, frames: list[SmallFrame]) -> set[int]:
        """Frames around each planned gap: from before it to a few frames after (flash test)."""
        found: set[int] = set()
        for i in dense(frames):
            a, b = frames[i], frames[i + 1]
            found.update(range(a.index + 1, b.index + self.plan.edge))
        lo = self.chunk.first_index
        return {r for r in found if lo <= r < lo + len(self.chunk.packets)}

    def p_only_is_exact(self) -> bool:
        """Do I/P pictures decode bit-identically without the reference B pictures?

        True when no I/P picture predicts from a B picture (x264's default pyramid), which
        lets a quarter-rate pass skip them. Checked on this chunk by decoding both ways.
        """
        if not any(p.ref and p.bpic for p in self.chunk.packets):
            return False
        wanted = {p.rank for p in self.chunk.packets if p.ref and not p.bpic}
        full = self.decode(Pass.check(wanted, skip_b=False))
        lean = self.decode(Pass.check(wanted, skip_b=True))
        return (
            bool(lean.frames)
            and set(lean.frames) == set(full.frames)
            and all(full.same_picture(lean, r) for r in lean.frames)
        )

    def decode(self, plan: Pass) -> PassRun:
        """Run one pass over the chunk's packets; its frames and pictures are in the result."""
        ctx = self.context()
        run = PassRun(self, plan)
        for i, p in enumerate(self.chunk.packets):
            if not run.goes_on(i):
                break
            if not run.sends(p, i):
                continue
            try:
                frames = ctx.decode(p.pkt)
            except av.error.InvalidDataError:
                run.bad += run.detecting(i)
                continue
            run.collect(frames, i)
        try:
            run.collect(ctx.decode(None), None)
        except av.error.InvalidDataError:
            run.bad += 1
        if plan.counts and run.bad:
            self.shared.add_corrupt(run.bad)
        return run


class PassRun:
    """One `Pass` under way: which packets it still sends, what it has made so far.

    Before a stop, every packet a wanted frame or sample needs is looked at ("detecting");
    after a stop at frame s, packets are sent only as far as samples up to s need; then each
    tap judges its samples past s (`TapShare.judge_tail`) and decoding goes on only for the
    taps that need their own frames there.
    """

    def __init__(self, job: ChunkJob, plan: Pass) -> None:
        packets = job.chunk.packets
        self.job, self.plan, self.packets = job, plan, packets
        self.serving = list(plan.taps)  # positions of the taps whose samples are decoded
        self.taps = ranks(job.taps.shares[k] for k in self.serving)
        bound = max(plan.want | self.taps, default=-1)
        self.last_needed = max((i + 1 for i, p in enumerate(packets) if p.rank <= bound), default=0)
        self.by_pts = {p.pts: p for p in packets}
        # I/P pictures never predict from B pictures when `skip_b` is allowed (`p_only_is_exact`);
        # a wanted B picture may, from the reference B pictures of its own and 2 earlier
        # mini-GOPs (measured: 0 of 306 wrong with those, 39 of 71 with none)
        bpics = {p.rank for p in packets if p.bpic} if plan.skip_b else set()
        self.near = {r + d for r in (plan.want | self.taps) & bpics for d in range(-B_REACH, 4)}
        self.tap_end = 0  # after a stop: decode order index past the last sample still needed
        self.judged = False  # whether the samples past a stop were judged
        self.sent: set[int] | None = None  # ranks sent before the stop (None: it has not fired)
        self.frames: dict[int, SmallFrame] = {}
        self.pictures: dict[int, av.VideoFrame] = {}
        keep = job.plan.keep
        self.holds = keep is not None
        self.tracker = keep.tracker() if keep is not None and not plan.keep_all else None
        self.bad = 0

    def detecting(self, i: int) -> bool:
        return self.sent is None and i < self.last_needed

    def goes_on(self, i: int) -> bool:
        """Whether packet i (decode order) may still be needed; judges the taps' samples past
        a stop once detection and the samples up to the stop are done with."""
        if self.detecting(i) or i < self.tap_end:
            return True
        if self.sent is None or self.judged:
            return False
        self.judged = True
        settled, shares = self.job.settled_at, self.job.taps.shares
        assert settled is not None
        tail = self.job.next_key.tapped if self.job.next_key is not None else ()
        for k in self.serving:
            shares[k].judge_tail(settled, tail[k] if tail else None)
        self.serving = [k for k in self.serving if not shares[k].tail_alike]
        if not self.serving:
            return False
        # decode on: these taps' samples past the stop need their own frames
        self.taps = ranks(shares[k] for k in self.serving)
        in_taps = (j for j, q in enumerate(self.packets) if q.rank in self.taps)
        self.tap_end = max(in_taps, default=i) + 1
        return True

    def sends(self, p: Packet, i: int) -> bool:
        """Whether packet p (at decode order index i) goes to the decoder."""
        plan = self.plan
        ref = p.ref and not plan.keys and not (plan.skip_b and p.bpic and p.rank not in self.near)
        return ref or p.rank in self.taps or (self.detecting(i) and p.rank in plan.want)

    def collect(self, frames: Iterable[av.VideoFrame], i: int | None) -> None:
        """Take what the decoder put out (after sending packet i; None: the final flush):
        convert the served taps' samples, shrink the wanted frames (only those sent before a
        stop, when one fired), hold their pictures as the keep policy allows, watch for the
        stop."""
        added = []
        for frame in frames:
            pkt = self.by_pts.get(frame.pts) if frame.pts is not None else None
            if pkt is None:
                continue
            if pkt.rank in self.taps:
                self._convert(pkt.rank, frame)
            if not self._hands_out(pkt.rank):
                continue
            small = small_frame(self.job.plan, frame, pkt.rank, pkt.pts * self.job.tb, pkt.key)
            self.frames[pkt.rank] = small
            added.append(small)
            self._hold(small, frame)
        if i is not None:
            self._watch(added, i)

    def _hands_out(self, rank: int) -> bool:
        """A wanted frame, sent before the stop if one fired."""
        return rank in self.plan.want and (self.sent is None or rank in self.sent)

    def _convert(self, rank: int, frame: av.VideoFrame) -> None:
        for k in self.serving:
            share = self.job.taps.shares[k]
            if rank in share.samples:
                share.converted[rank] = share.tap.convert(frame)

    def _hold(self, small: SmallFrame, frame: av.VideoFrame) -> None:
        if not self.holds:
            return
        self.pictures[small.index] = frame
        if self.tracker is not None:
            for gone in self.tracker.add(small):
                self.pictures.pop(gone, None)

    def _watch(self, added: list[SmallFrame], i: int) -> None:
        """The stop: the rest of the chunk looks like the next keyframe, so no cut lies in it."""
        stop = self.plan.stop
        if self.sent is not None or stop is None:
            return
        hit = next((f for f in added if stop(f)), None)
        if hit is None:
            return
        self.sent = {q.rank for q in self.packets[: i + 1]}
        self.job.settled_at = hit.index
        due = [j for j, q in enumerate(self.packets) if q.rank in self.taps and q.rank <= hit.index]
        self.tap_end = max(due, default=-1) + 1

    def same_picture(self, other: PassRun, rank: int) -> bool:
        """Equal small frames at `rank`, and equal full luma planes when both hold pictures."""
        if not np.array_equal(self.frames[rank].grey, other.frames[rank].grey):
            return False
        a, b = self.pictures.get(rank), other.pictures.get(rank)
        return a is None or b is None or np.array_equal(_luma(a), _luma(b))


def _luma(frame: av.VideoFrame) -> np.ndarray:
    plane = frame.planes[0]
    rows = np.frombuffer(memoryview(plane), np.uint8).reshape(-1, plane.line_size)
    return rows[: frame.height, : plane.width]

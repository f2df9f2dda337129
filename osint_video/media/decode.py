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
from PIL import Image

from ..errors import ExtractionError
from ..models import DecodeStats

# A chunk holds at least this many packets (all-intra streams have one-frame GOPs).
MIN_CHUNK_PACKETS = 48
# Chunks decoded ahead of the consumer; bounds memory (packets + small frames only).
MAX_IN_FLIGHT = 4
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
    p_only: bool = False  # skip reference B pictures too (set by a check on the first chunk)
    _calibrated: bool = False
    _pts: list[int] = field(default_factory=list)
    _corrupt: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

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
                if frame.key_frame or not self.keys_only:
                    yield self.small(frame, index, pts, bool(frame.key_frame))
                index += 1
                if progress and dur:
                    progress(min(1.0, pts / dur))
        self.stats = _stats(index, sorted(pts_seen), self._corrupt, max(pts_seen, default=None))

    # -- chunked, parallel path ----------------------------------------------------------
    def _chunked(self, container, stream, progress) -> Iterator[SmallFrame]:
        tb = float(stream.time_base)
        codec = stream.codec_context.name
        extradata = stream.codec_context.extradata
        nal_len = _avcc_length_size(extradata) if codec == "h264" else None
        dur = _duration_s(container, stream)
        pending: deque[Future[list[SmallFrame]]] = deque()
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            for chunk in _chunks(container, stream, nal_len, self._pts):
                job = _ChunkJob(self, chunk, codec, extradata, tb)
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
                pending.append(pool.submit(job.run))
                while len(pending) >= MAX_IN_FLIGHT:
                    yield from self._drain(pending.popleft(), progress, dur)
            while pending:
                yield from self._drain(pending.popleft(), progress, dur)
        pts = sorted(self._pts)
        self.stats = _stats(
            len(pts), [p * tb for p in pts], self._corrupt, pts[-1] * tb if pts else None
        )

    def _drain(self, fut, progress, dur) -> Iterator[SmallFrame]:
        frames = fut.result()
        yield from frames
        if progress and dur and frames:
            progress(min(1.0, frames[-1].pts_s / dur))

    def small(self, frame: av.VideoFrame, index: int, pts_s: float, key: bool) -> SmallFrame:
        """Shrink a decoded frame; sharpness is measured at twice the width (more detail)."""
        big = shrink(frame, self.width * 2)
        sharp = float(cv2.Laplacian(big, cv2.CV_32F).var())
        grey = cv2.resize(
            big, (self.width, max(2, big.shape[0] // 2)), interpolation=cv2.INTER_AREA
        )
        small = SmallFrame(index, pts_s, grey, key, sharp)
        if self.analyse is not None:
            object.__setattr__(small, "features", self.analyse(small))
        return small

    def _add_corrupt(self, n: int) -> None:
        with self._lock:
            self._corrupt += n


@dataclass
class _ChunkJob:
    """Decode one chunk in a worker thread with its own single-threaded decoder."""

    src: FrameSource
    chunk: _Chunk
    codec: str
    extradata: bytes | None
    tb: float

    def run(self) -> list[SmallFrame]:
        packets = self.chunk.packets
        if self.src.keys_only:
            return sorted(
                self._decode({p.rank for p in packets if p.key}, None, keys=True).values(),
                key=lambda f: f.index,
            )
        want = {p.rank for p in packets}
        if self.src.fast:
            want = self._sparse_ranks(self.src.p_only)
        got = self._decode(want, upto=None, skip_b=self.src.fast and self.src.p_only)
        if self.src.fast and self.src.dense_test is not None:
            extra = self._dense_ranks(sorted(got.values(), key=lambda f: f.index))
            extra -= set(got)
            if extra:
                got.update(self._decode(extra, upto=max(extra), only=extra, skip_b=self.src.p_only))
        return sorted(got.values(), key=lambda f: f.index)

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
        full = self._decode(ranks, upto=None)
        lean = self._decode(ranks, upto=None, skip_b=True)
        return (
            bool(lean)
            and set(lean) == set(full)
            and all(np.array_equal(full[r].grey, lean[r].grey) for r in lean)
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
    ) -> dict[int, SmallFrame]:
        """Decode references (and wanted non-references) and shrink the wanted frames."""
        ctx: Any = av.CodecContext.create(self.codec, "r")
        if self.extradata:
            ctx.extradata = self.extradata
        ctx.thread_type = "NONE"
        ctx.options = {"skip_loop_filter": "all"}
        last_needed = len(self.chunk.packets)
        if upto is not None:  # stop after the last packet (decode order) a wanted frame needs
            last_needed = max(i for i, p in enumerate(self.chunk.packets) if p.rank <= upto) + 1
        by_pts = {p.pts: p for p in self.chunk.packets}
        # B references the wanted frames may predict from sit in their mini-GOP (<= 3 away)
        near = {r + d for r in want for d in range(-3, 4)} if skip_b else set()
        out: dict[int, SmallFrame] = {}
        bad = 0
        for p in self.chunk.packets[:last_needed]:
            needed = p.ref and not keys and not (skip_b and p.bpic and p.rank not in near)
            if not (needed or p.rank in want):
                continue
            try:
                frames = ctx.decode(p.pkt)
            except av.error.InvalidDataError:
                bad += 1
                continue
            self._collect(frames, by_pts, want if only is None else only, out)
        try:
            self._collect(ctx.decode(None), by_pts, want if only is None else only, out)
        except av.error.InvalidDataError:
            bad += 1
        if only is None and bad:
            self.src._add_corrupt(bad)
        return out

    def _collect(self, frames, by_pts, want, out) -> None:
        for frame in frames:
            pkt = by_pts.get(frame.pts)
            if pkt is None or pkt.rank not in want:
                continue
            out[pkt.rank] = self.src.small(frame, pkt.rank, frame.pts * self.tb, pkt.key)


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
    if stream.codec_context.codec is None:
        container.close()
        raise ExtractionError(f"{path.name}: no decoder for codec {stream.codec_context.name}")
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


def _avcc_length_size(extradata: bytes | None) -> int | None:
    """NAL length-prefix size of an AVCC (MP4) H.264 stream; None for Annex B start codes."""
    if extradata and len(extradata) > 4 and extradata[0] == 1:
        return (extradata[4] & 3) + 1
    return None


def h264_frame_kind(data: bytes, nal_len: int | None) -> tuple[bool, bool]:
    """(is a reference, is a B picture) from the first coded slice's NAL and slice headers.

    Only nal_ref_idc and the first two Exp-Golomb fields are read; unknown layouts count as
    reference P pictures, so a mistake can only cost time, never a wrong picture.
    """
    if nal_len is None:
        return True, False
    pos, n = 0, len(data)
    while pos + nal_len < n:
        size = int.from_bytes(data[pos : pos + nal_len], "big")
        header = data[pos + nal_len]
        if header & 0x1F in (1, 5):
            bits = int.from_bytes(
                data[pos + nal_len + 1 : pos + nal_len + 9].ljust(8, b"\0"), "big"
            )
            _first_mb, bits, _used = _ue(bits, 64)
            slice_type, _bits, _used = _ue(bits, 64)
            return bool(header & 0x60), slice_type % 5 == 1
        pos += nal_len + size
    return True, False


def _ue(bits: int, width: int) -> tuple[int, int, int]:
    """Read one unsigned Exp-Golomb value from the top of a `width`-bit integer."""
    zeros = 0
    while zeros < width and not (bits >> (width - 1 - zeros)) & 1:
        zeros += 1
    used = 2 * zeros + 1
    if used > width:
        return 0, 0, width
    value = (bits >> (width - used)) & ((1 << used) - 1)
    rest = bits & ((1 << (width - used)) - 1)
    return value - 1, rest << used, used


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
            yield _finish(current, offset, pts_log)
            offset += len(current)
            current = []
        current.append(entry)
        max_pts = pkt.pts if max_pts is None else max(max_pts, pkt.pts)
    if current:
        yield _finish(current, offset, pts_log)


def _finish(packets: list[_Packet], offset: int, pts_log: list[int]) -> _Chunk:
    for rank, p in enumerate(sorted(packets, key=lambda p: p.pts)):
        p.rank = offset + rank
    pts_log.extend(p.pts for p in packets)
    return _Chunk(offset, packets)


def grab_frames(
    path: Path, indices: Sequence[int], rotation_deg: int = 0
) -> Iterator[tuple[int, Image.Image]]:
    """Full-resolution RGB frames at the given presentation indices, rotated upright.

    Yields (index, image) in index order, a chunk at a time, so only a few full frames are ever
    held. One pass; within a GOP only references up to the last wanted frame are decoded.
    `rotation_deg` is clockwise degrees to display upright (MediaInfo.rotation_deg).

    Raises:
        ExtractionError: the file cannot be decoded or an index does not exist.
    """
    wanted = set(indices)
    if not wanted:
        return
    container, stream = _open(path)
    found: set[int] = set()
    try:
        fmt = container.format.name.split(",")[0]
        grab = _grab_sequential if fmt in SEQUENTIAL_FORMATS else _grab_chunked
        for index, image in grab(container, stream, wanted):
            found.add(index)
            yield index, _upright(image, rotation_deg)
    finally:
        container.close()
    missing = wanted - found
    if missing:
        raise ExtractionError(f"{path.name}: frames {sorted(missing)[:5]} could not be decoded")


def _grab_sequential(container, stream, wanted: set[int]) -> Iterator[tuple[int, Image.Image]]:
    stream.codec_context.thread_type = "AUTO"
    last = max(wanted)
    for index, frame in enumerate(_safe_decode(container, stream)):
        if index in wanted:
            yield index, frame.to_image()
        if index >= last:
            break


def _safe_decode(container, stream) -> Iterator[av.VideoFrame]:
    for packet in container.demux(stream):
        try:
            yield from packet.decode()
        except av.error.InvalidDataError:
            continue


def _grab_chunked(container, stream, wanted: set[int]) -> Iterator[tuple[int, Image.Image]]:
    codec = stream.codec_context.name
    extradata = stream.codec_context.extradata
    nal_len = _avcc_length_size(extradata) if codec == "h264" else None
    last = max(wanted)
    for chunk in _chunks(container, stream, nal_len, []):
        ranks = {p.rank for p in chunk.packets} & wanted
        if ranks:
            yield from sorted(_grab_chunk(chunk, ranks, codec, extradata), key=lambda t: t[0])
        if chunk.first_index + len(chunk.packets) > last:
            break


def _grab_chunk(
    chunk: _Chunk, ranks: set[int], codec, extradata, threads: str = "AUTO"
) -> list[tuple[int, Image.Image]]:
    ctx: Any = av.CodecContext.create(codec, "r")
    if extradata:
        ctx.extradata = extradata
    ctx.thread_type = threads
    by_pts = {p.pts: p for p in chunk.packets}
    stop = max(i for i, p in enumerate(chunk.packets) if p.rank in ranks) + 1
    out: list[tuple[int, Image.Image]] = []
    for p in [*chunk.packets[:stop], None]:
        if p is not None and not (p.ref or p.rank in ranks):
            continue
        try:
            frames = ctx.decode(p.pkt if p is not None else None)
        except av.error.InvalidDataError:
            continue
        out.extend((_rank(f, by_pts), f.to_image()) for f in frames if _rank(f, by_pts) in ranks)
    return out


def write_frames(
    path: Path,
    targets: dict[int, Path],
    rotation_deg: int = 0,
    workers: int = 2,
    compress_level: int = 1,
) -> Iterator[int]:
    """Decode the frames at `targets` keys (presentation indices) and save each as PNG.

    Chunks are decoded and their PNGs compressed in `workers` threads (both release the GIL);
    yields each index once its file is written. Frames are turned upright first.

    Raises:
        ExtractionError: the file cannot be decoded or an index does not exist.
    """
    wanted = set(targets)

    def save(item: tuple[int, Image.Image]) -> int:
        index, image = item
        image.save(targets[index], format="PNG", compress_level=compress_level)
        return index

    container, stream = _open(path)
    fmt = container.format.name.split(",")[0]
    if fmt in SEQUENTIAL_FORMATS or workers < 2:
        container.close()
        for item in grab_frames(path, sorted(wanted), rotation_deg):
            yield save(item)
        return
    codec, extradata = stream.codec_context.name, stream.codec_context.extradata
    nal_len = _avcc_length_size(extradata) if codec == "h264" else None

    def job(chunk: _Chunk, ranks: set[int]) -> list[int]:
        frames = _grab_chunk(chunk, ranks, codec, extradata, threads="NONE")
        return [save((i, _upright(img, rotation_deg))) for i, img in frames]

    found: set[int] = set()
    try:
        pending: deque[Future[list[int]]] = deque()
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for chunk in _chunks(container, stream, nal_len, []):
                ranks = {p.rank for p in chunk.packets} & wanted
                if ranks:
                    pending.append(pool.submit(job, chunk, ranks))
                while len(pending) >= MAX_IN_FLIGHT or (pending and pending[0].done()):
                    for i in pending.popleft().result():
                        found.add(i)
                        yield i
                if chunk.first_index + len(chunk.packets) > max(wanted):
                    break
            while pending:
                for i in pending.popleft().result():
                    found.add(i)
                    yield i
    finally:
        container.close()
    missing = wanted - found
    if missing:
        raise ExtractionError(f"{path.name}: frames {sorted(missing)[:5]} could not be decoded")


def _rank(frame: av.VideoFrame, by_pts: dict[int, _Packet]) -> int:
    p = by_pts.get(frame.pts) if frame.pts is not None else None
    return -1 if p is None else p.rank


def _upright(img: Image.Image, rotation_deg: int) -> Image.Image:
    """Rotate clockwise by `rotation_deg` (PIL rotates counter-clockwise for positive angles)."""
    turn = rotation_deg % 360
    if turn == 90:
        return img.transpose(Image.Transpose.ROTATE_270)
    if turn == 180:
        return img.transpose(Image.Transpose.ROTATE_180)
    if turn == 270:
        return img.transpose(Image.Transpose.ROTATE_90)
    return img

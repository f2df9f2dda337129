"""Exact full-resolution frames at chosen presentation indices (keyframes the first pass lacks).

The frame source keeps exact full frames for most keyframe candidates; the rest are decoded here
from their GOP, references only, in parallel chunks, each handed to a caller's `convert` in the
decoding thread (so PNG compression and hashing run in parallel too).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import av
import av.error
import numpy as np
from PIL import Image

from ..errors import ExtractionError
from .chunks import MAX_IN_FLIGHT, SEQUENTIAL_FORMATS, Chunk, Packet, open_video, split_chunks
from .h264 import avcc_length_size

T = TypeVar("T")


def decode_exact(
    path: Path,
    indices: Sequence[int],
    convert: Callable[[int, av.VideoFrame], T],
    workers: int = 2,
) -> Iterator[T]:
    """`convert(index, frame)` for each wanted presentation index, decoded exactly.

    Yields results as chunks finish (roughly index order). Within a GOP only references up to
    the last wanted frame are decoded, with deblocking (bit-exact pictures).

    Raises:
        ExtractionError: the file cannot be decoded or an index does not exist.
    """
    wanted = set(indices)
    if not wanted:
        return
    container, stream = open_video(path)
    found: set[int] = set()
    try:
        fmt = container.format.name.split(",")[0]
        if fmt in SEQUENTIAL_FORMATS or workers < 2:
            gen = _sequential(container, stream, wanted, convert)
        else:
            gen = _parallel(container, stream, wanted, convert, workers)
        for index, result in gen:
            found.add(index)
            yield result
    finally:
        container.close()
    missing = wanted - found
    if missing:
        raise ExtractionError(f"{path.name}: frames {sorted(missing)[:5]} could not be decoded")


def _sequential(container, stream, wanted: set[int], convert) -> Iterator[tuple[int, Any]]:
    stream.codec_context.thread_type = "AUTO"
    last = max(wanted)
    for index, frame in enumerate(_safe_decode(container, stream)):
        if index in wanted:
            yield index, convert(index, frame)
        if index >= last:
            break


def _safe_decode(container, stream) -> Iterator[av.VideoFrame]:
    for packet in container.demux(stream):
        try:
            yield from packet.decode()
        except av.error.InvalidDataError:
            continue


def _parallel(container, stream, wanted: set[int], convert, workers: int):
    codec, extradata = stream.codec_context.name, stream.codec_context.extradata
    nal_len = avcc_length_size(extradata) if codec == "h264" else None

    def job(chunk: Chunk, ranks: set[int]) -> list[tuple[int, Any]]:
        frames = _grab_chunk(chunk, ranks, codec, extradata)
        return [(i, convert(i, f)) for i, f in sorted(frames, key=lambda t: t[0])]

    pending: deque[Future[list[tuple[int, Any]]]] = deque()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for chunk in split_chunks(container, stream, nal_len, []):
            ranks = {p.rank for p in chunk.packets} & wanted
            if ranks:
                pending.append(pool.submit(job, chunk, ranks))
            while len(pending) >= MAX_IN_FLIGHT or (pending and pending[0].done()):
                yield from pending.popleft().result()
            if chunk.first_index + len(chunk.packets) > max(wanted):
                break
        while pending:
            yield from pending.popleft().result()


def _grab_chunk(chunk: Chunk, ranks: set[int], codec, extradata) -> list[tuple[int, av.VideoFrame]]:
    ctx: Any = av.CodecContext.create(codec, "r")
    if extradata:
        ctx.extradata = extradata
    ctx.thread_type = "NONE"
    by_pts = {p.pts: p for p in chunk.packets}
    stop = max(i for i, p in enumerate(chunk.packets) if p.rank in ranks) + 1
    out: list[tuple[int, av.VideoFrame]] = []
    for p in [*chunk.packets[:stop], None]:
        if p is not None and not (p.ref or p.rank in ranks):
            continue
        try:
            frames = ctx.decode(p.pkt if p is not None else None)
        except av.error.InvalidDataError:
            continue
        out.extend((_rank(f, by_pts), f) for f in frames if _rank(f, by_pts) in ranks)
    return out


def _rank(frame: av.VideoFrame, by_pts: dict[int, Packet]) -> int:
    p = by_pts.get(frame.pts) if frame.pts is not None else None
    return -1 if p is None else p.rank


def upright_rgb(frame: av.VideoFrame, rotation_deg: int = 0) -> np.ndarray:
    """The frame as an (h, w, 3) RGB array turned upright: `rotation_deg` is clockwise degrees
    to display upright (MediaInfo.rotation_deg)."""
    rgb = frame.to_ndarray(format="rgb24")
    turns = (rotation_deg % 360) // 90
    return np.ascontiguousarray(np.rot90(rgb, k=-turns)) if turns else rgb


def grab_frames(
    path: Path, indices: Sequence[int], rotation_deg: int = 0, workers: int = 2
) -> Iterator[tuple[int, Image.Image]]:
    """Full-resolution upright RGB PIL images at the given presentation indices.

    Raises:
        ExtractionError: the file cannot be decoded or an index does not exist.
    """

    def convert(i: int, frame: av.VideoFrame) -> tuple[int, Image.Image]:
        return i, Image.fromarray(upright_rgb(frame, rotation_deg))

    yield from sorted(decode_exact(path, indices, convert, workers), key=lambda t: t[0])

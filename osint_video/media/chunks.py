"""A video stream opened for decoding and cut into chunks of whole GOPs (one demux pass).

Chunks decode independently, so several single-threaded decoders can work on them in parallel
(`media.decode`, `media.grab`). Each packet carries its frame's rank: its index in presentation
order across the whole stream (the way PySceneDetect counts frames).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import av.error

from ..errors import ExtractionError
from .h264 import h264_frame_kind

# A chunk holds at least this many packets (all-intra streams have one-frame GOPs).
MIN_CHUNK_PACKETS = 48
# Chunks decoded ahead of the consumer; bounds memory (packets + small frames only).
MAX_IN_FLIGHT = 3
# Containers whose packets cannot be ranked safely (MPEG-TS, raw streams): decode in one go.
SEQUENTIAL_FORMATS = ("mpegts", "mpeg", "mpegvideo", "h264", "hevc", "rawvideo")


@dataclass
class Packet:
    """One frame's packet, with what the demuxer and the H.264 headers say about it."""

    pkt: av.Packet
    pts: int
    ref: bool
    key: bool
    bpic: bool = False  # a B picture (a reference one can often be skipped too)
    rank: int = -1  # presentation index inside the whole stream


@dataclass
class Chunk:
    """Whole GOPs in decode order; `next_key` is the next chunk's first packet (its keyframe)."""

    first_index: int
    packets: list[Packet]
    next_key: Packet | None = None


def open_video(path: Path):
    """The container and its first video stream, checked to have a decoder.

    Raises:
        ExtractionError: the file cannot be opened, has no video stream, or no decoder for it.
    """
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


def split_chunks(container, stream, nal_len: int | None, pts_log: list[int]) -> Iterator[Chunk]:
    """Split the packet stream into chunks of whole GOPs that decode independently.

    A GOP whose PTS reach back before the previous GOP (open GOP leading pictures) stays in the
    same chunk. Ranks are assigned by PTS order inside a chunk, offset by frames before it.
    Every frame packet's PTS is appended to `pts_log`.

    Raises:
        ExtractionError: a frame packet has no timestamp (frames cannot be indexed).
    """
    current: list[Packet] = []
    offset = 0
    max_pts = None
    for pkt in container.demux(stream):
        if not pkt.size or pkt.pts is None or pkt.is_discard:
            if pkt.size and pkt.pts is None:
                raise ExtractionError("packets without timestamps: cannot index frames")
            continue
        ref, bpic = h264_frame_kind(bytes(pkt), nal_len) if nal_len else (True, False)
        entry = Packet(pkt, pkt.pts, ref or pkt.is_keyframe, pkt.is_keyframe, bpic)
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
    packets: list[Packet], offset: int, pts_log: list[int], next_key: Packet | None = None
) -> Chunk:
    for rank, p in enumerate(sorted(packets, key=lambda p: p.pts)):
        p.rank = offset + rank
    pts_log.extend(p.pts for p in packets)
    return Chunk(offset, packets, next_key)

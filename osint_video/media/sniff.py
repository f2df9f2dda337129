"""Decide video vs still image by content, not by file name.

Files reach a verification desk renamed (`video.bin`, `IMG_0001` without suffix, `.jpg` that is
really a HEIC): the extension is a hint at best. The first bytes decide for every common
container; ffprobe is asked only about what the magic numbers cannot settle (Ogg, odd streams).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from ..errors import InputError, ProbeError, ToolMissing
from ..models import MediaKind
from .ffmpeg import ffprobe_json

Sniffed = Literal["video", "image", "unknown"] | None
HEAD_BYTES = 4096
RIFF_FORMS: dict[bytes, Sniffed] = {
    b"WEBP": "image",
    b"AVI ": "video",
    b"AVIX": "video",
    b"AMV ": "video",
}
# ISO-BMFF brands of still images (HEIF/AVIF), including image sequences (burst, live stills).
IMAGE_BRANDS = {
    b"heic",
    b"heix",
    b"heim",
    b"heis",
    b"hevc",
    b"hevx",
    b"mif1",
    b"msf1",
    b"avif",
    b"avis",
    b"jpeg",
    b"jpgs",
    b"avci",
    b"crx ",
}
AUDIO_BRANDS = {b"M4A ", b"M4B ", b"M4P "}
BMFF_TOP = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot", b"uuid"}
ASF_GUID = bytes.fromhex("3026B2758E66CF11A6D900AA0062CE6C")
IMAGE_MAGIC = (
    b"\xff\xd8\xff",
    b"\x89PNG\r\n\x1a\n",
    b"GIF87a",
    b"GIF89a",
    b"II*\x00",
    b"MM\x00*",
    b"\x00\x00\x00\x0cjP  ",
    b"\xff\x0a",
)
VIDEO_MAGIC = (
    b"\x1a\x45\xdf\xa3",
    b"FLV\x01",
    ASF_GUID,
    b"\x00\x00\x01\xba",
    b"\x00\x00\x01\xb3",
    b".RMF",
    b"FWS",
    b"CWS",
)
FFPROBE_IMAGE_FORMATS = ("image2", "_pipe", "gif", "webp")


def sniff_kind(path: Path, *, timeout: float = 30.0) -> MediaKind | None:
    """Classify a file as "video", "image", or neither, from its bytes.

    Args:
        path: the file to look at (never modified).
        timeout: seconds allowed for the ffprobe fallback.

    Returns:
        "video" or "image"; None for zero-byte files, text and anything that is not visual media
        (audio-only files included).

    Raises:
        InputError: the path is missing, a directory, or unreadable.
    """
    head = _read_head(path)
    if not head:
        return None
    kind = kind_from_magic(head)
    if kind == "unknown":
        return None if _looks_like_text(head) else _ask_ffprobe(path, timeout)
    return "video" if kind == "video" else "image" if kind == "image" else None


def kind_from_magic(head: bytes) -> Sniffed:
    """ "video"/"image" when the signature settles it, None for known non-visual, else "unknown"."""
    if head.startswith(IMAGE_MAGIC):
        return "image"
    if head[:4] == b"RIFF" and len(head) >= 12:
        return RIFF_FORMS.get(head[8:12])  # WAVE and other RIFF forms: not visual
    if head[4:8] == b"ftyp":
        return _kind_from_brands(head)
    if head[4:8] in BMFF_TOP or head.startswith(VIDEO_MAGIC) or _is_mpegts(head):
        return "video"
    if head[:2] == b"BM" and len(head) >= 14 and head[6:10] == b"\x00\x00\x00\x00":
        return "image"
    return "unknown"


def _kind_from_brands(head: bytes) -> Sniffed:
    size = int.from_bytes(head[:4], "big")
    major = head[8:12]
    compatible = {head[i : i + 4] for i in range(16, min(size, len(head)) - 3, 4)}
    if major in IMAGE_BRANDS:
        return "image"
    if major in AUDIO_BRANDS:
        return "unknown"  # usually audio only; ffprobe says whether a video track exists
    if compatible & {b"heic", b"heix", b"avif"} and not compatible & {
        b"isom",
        b"mp41",
        b"mp42",
        b"qt  ",
    }:
        return "image"
    return "video"


def _is_mpegts(head: bytes) -> bool:
    """0x47 sync every 188 bytes (TS) or every 192 with a 4-byte timecode first (M2TS/.mts)."""
    for size, offset in ((188, 0), (192, 4)):
        n = (len(head) - offset) // size
        if n >= 3 and all(head[offset + i * size] == 0x47 for i in range(min(n, 8))):
            return True
    return False


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 3  # a multi-byte character cut at the buffer end
    return True


def _ask_ffprobe(path: Path, timeout: float) -> MediaKind | None:
    try:
        info = ffprobe_json(path, timeout=timeout)
    except ProbeError:
        return None
    except ToolMissing:
        raise
    streams = [s for s in info.get("streams", []) if s.get("codec_type") == "video"]
    if not streams:
        return None
    fmt = str(info.get("format", {}).get("format_name", ""))
    if any(tag in fmt for tag in FFPROBE_IMAGE_FORMATS):
        return "image"
    if all(s.get("disposition", {}).get("attached_pic") for s in streams):
        return None  # audio file with cover art
    return "video"


def _read_head(path: Path) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(HEAD_BYTES)
    except IsADirectoryError:
        raise InputError(f"{path} is a directory, not a file") from None
    except FileNotFoundError:
        raise InputError(f"{path} does not exist") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None

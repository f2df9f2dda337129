"""A working copy with every identifying tag removed and the pixels untouched.

Annotators and publishers get this copy, never the evidence original: no location, no clock, no
device. Videos are re-muxed with stream copy (the compressed frames are bit-identical), stills
are rewritten segment by segment. HEIC is the one exception: there is no maintained byte-level
HEIF editor in Python, so HEIC (and other formats without a byte-level path) goes through
Pillow without its metadata; HEIC is re-encoded at high quality, and that is recorded.

Policy, decided once:
- kept: what decoding needs (JPEG tables and scans, PNG image chunks, WebP bitstreams, the
  video display matrix so the copy still plays upright, JPEG APP14 "Adobe" colour transform);
- dropped: EXIF, XMP, IPTC, maker notes, comments, thumbnails, MPF secondary images, PNG text and
  time chunks, ICC profiles (camera and phone profiles name their vendor and device; losing one
  only shifts colours slightly in colour-managed viewers), video data tracks (Apple `mebx` GPS
  tracks), subtitles, chapters, container tags, H.264/HEVC SEI messages (AVCHD cameras write
  make, model and time there).
"""

from __future__ import annotations

import os
import struct
import tempfile
from collections.abc import Callable
from pathlib import Path

import pillow_heif
from PIL import Image

from ..errors import ExtractionError, InputError, ProbeError
from ..models import MediaKind
from .containers import iter_jpeg_segments
from .ffmpeg import ffprobe_json, remux_argv, run
from .images import quiet_pillow, require_pixels_within

# Video container of the copy, chosen from the source's own format (ffprobe's format_name).
MUXERS = [
    ("webm", "webm"),
    ("matroska", "matroska"),
    ("avi", "avi"),
    ("mpegts", "mpegts"),
    ("flv", "flv"),
    ("asf", "asf"),
    ("mpeg", "mpeg"),
]
SUFFIXES = {
    "mov": ".mov",
    "mp4": ".mp4",
    "3gp": ".3gp",
    "webm": ".webm",
    "matroska": ".mkv",
    "avi": ".avi",
    "mpegts": ".ts",
    "flv": ".flv",
    "asf": ".wmv",
    "mpeg": ".mpg",
}
# SEI NAL unit types: H.264 6; HEVC 39 (prefix) and 40 (suffix).
SEI_FILTERS = {"h264": "filter_units=remove_types=6", "hevc": "filter_units=remove_types=39|40"}
PNG_KEEP = {
    b"IHDR",
    b"PLTE",
    b"IDAT",
    b"IEND",
    b"tRNS",
    b"gAMA",
    b"cHRM",
    b"sRGB",
    b"sBIT",
    b"bKGD",
    b"pHYs",
    b"acTL",
    b"fcTL",
    b"fdAT",
}
WEBP_KEEP = {b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANIM", b"ANMF"}
JPEG_KEEP = {
    0xC0,
    0xC1,
    0xC2,
    0xC3,
    0xC5,
    0xC6,
    0xC7,
    0xC9,
    0xCA,
    0xCB,
    0xCD,
    0xCE,
    0xCF,
    0xC4,
    0xCC,
    0xDB,
    0xDD,
    0xDA,
}  # SOFn, DHT, DAC, DQT, DRI, SOS
HEIC_QUALITY = 90
HEIC_ENCODER = {"preset": "ultrafast"}  # 12 MP in ~2 s on 2 cores (default preset: ~18 s)


def strip_metadata(
    src: Path, dst: Path, kind: MediaKind, *, timeout: float, max_pixels: int | None = None
) -> Path:
    """Write a metadata-free copy of `src` to `dst` without re-encoding the pixels.

    The copy is written to a temporary file beside `dst` and renamed into place, so `dst` is
    either complete or absent. `src` is only read.

    Args:
        src: the original.
        dst: where the copy goes (its suffix is the caller's choice; see `stripped_suffix`).
        kind: "video" or "image".
        timeout: seconds allowed for ffmpeg.
        max_pixels: the largest still re-encoded through its pixels (HEIC, TIFF, GIF...);
            None: Pillow's own limit only. JPEG, PNG and WebP are rewritten byte by byte.

    Returns:
        `dst`.

    Raises:
        InputError: `src` cannot be read.
        ProbeError: the source container cannot be parsed.
        ExtractionError: the copy could not be written, or the still is over `max_pixels`.
    """
    if not src.is_file():
        raise InputError(f"{src} is not a readable file")
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".strip-", suffix=dst.suffix, dir=dst.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        if kind == "video":
            _strip_video(src, tmp, timeout)
        else:
            _strip_image(src, tmp, max_pixels)
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
    return dst


def stripped_suffix(src: Path, kind: MediaKind, *, timeout: float = 60.0) -> str:
    """The file suffix matching the container the stripped copy will have."""
    if kind == "image":
        return _image_handler(src)[1]
    return SUFFIXES[_muxer(ffprobe_json(src, timeout=timeout), src)]


# --- video ----------------------------------------------------------------------------------


def _strip_video(src: Path, tmp: Path, timeout: float) -> None:
    info = ffprobe_json(src, timeout=timeout)
    streams = info.get("streams", [])
    if not any(s.get("codec_type") == "video" for s in streams):
        raise ProbeError(f"{src.name}: no video stream to copy")
    argv = remux_argv(src, tmp, muxer=_muxer(info, src), video_filters=_sei_filters(streams))
    try:
        run(argv, timeout=timeout)
    except ProbeError as exc:
        raise ExtractionError(f"stripping {src.name} failed: {exc}") from None


def _sei_filters(streams: list[dict]) -> list[str]:
    """The bitstream filter that drops SEI for each `-map 0:v` stream, in order ("": none)."""
    videos = [s for s in streams if s.get("codec_type") == "video"]
    return [SEI_FILTERS.get(str(s.get("codec_name")), "") for s in videos]


def _muxer(info: dict, src: Path) -> str:
    name = str(info.get("format", {}).get("format_name", ""))
    if name.startswith("mov,"):
        return _bmff_muxer(src)
    if "webm" in name.split(",") and not _webm_codecs(info):
        return "matroska"  # ffprobe names every Matroska file "matroska,webm"
    for key, muxer in MUXERS:
        if key in name.split(","):
            return muxer
    return "matroska"  # holds any codec: the safe home for the unusual


# What the WebM muxer accepts; a Matroska file with anything else (H.264, AAC) stays Matroska.
WEBM_CODECS = {"vp8", "vp9", "av1", "vorbis", "opus"}


def _webm_codecs(info: dict) -> bool:
    kept = [s for s in info.get("streams", []) if s.get("codec_type") in ("video", "audio")]
    return all(str(s.get("codec_name")) in WEBM_CODECS for s in kept)


def _bmff_muxer(src: Path) -> str:
    """mov for QuickTime brands, 3gp for 3GPP, mp4 otherwise (from the ftyp major brand)."""
    with open(src, "rb") as f:
        head = f.read(12)
    if head[4:8] != b"ftyp" or head[8:12] == b"qt  ":
        return "mov"
    return "3gp" if head[8:11] in (b"3gp", b"3g2") else "mp4"


# --- stills ----------------------------------------------------------------------------------


def _strip_image(src: Path, tmp: Path, max_pixels: int | None) -> None:
    handler, _ = _image_handler(src)
    quiet_pillow()
    try:
        if handler in (_strip_heif, _resave_pillow):  # these decode the pixels
            _check_size(src, max_pixels)
        handler(src, tmp)
    except (OSError, ValueError, struct.error, Image.DecompressionBombError) as exc:
        raise ExtractionError(f"stripping {src.name} failed: {exc}") from None


def _check_size(src: Path, max_pixels: int | None) -> None:
    """The header's size against the cap, before anything is decoded (`Image.open` is lazy)."""
    pillow_heif.register_heif_opener()
    with Image.open(src) as img:
        require_pixels_within(img.width, img.height, max_pixels)


def _image_handler(src: Path) -> tuple[Callable[[Path, Path], None], str]:
    with open(src, "rb") as f:
        head = f.read(16)
    if head[:3] == b"\xff\xd8\xff":
        return _strip_jpeg, ".jpg"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return _strip_png, ".png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _strip_webp, ".webp"
    if head[4:8] == b"ftyp":
        return _strip_heif, ".heic"
    return _resave_pillow, Path(src).suffix.lower() or ".png"


def _strip_jpeg(src: Path, tmp: Path) -> None:
    """Keep the tables and the first image's scan data up to EOI; rebuild a bare JFIF APP0."""
    data = src.read_bytes()
    jfif, body = b"", bytearray()
    scan_start = None
    with open(src, "rb") as f:
        for marker, pos, total in iter_jpeg_segments(f):
            if marker == 0xE0 and data[pos + 4 : pos + 9] == b"JFIF\x00":
                jfif = _bare_jfif(data[pos + 9 : pos + 14])
            elif marker in JPEG_KEEP or (marker == 0xEE and data[pos + 4 : pos + 9] == b"Adobe"):
                body += data[pos : pos + total]
            if marker == 0xDA:
                scan_start = pos + total
    if scan_start is None:
        raise ValueError("no image data (SOS) found")
    eoi = data.find(b"\xff\xd9", scan_start)
    if eoi < 0:
        raise ValueError("no end of image (EOI) marker")
    # Later scans and tables of a progressive JPEG sit between the first SOS and EOI; what
    # follows EOI (MPF depth maps, vendor trailers with their own EXIF) is dropped.
    out = b"\xff\xd8" + jfif + _orientation_app1(src) + bytes(body) + data[scan_start : eoi + 2]
    tmp.write_bytes(out)


def _orientation_app1(src: Path) -> bytes:
    """A minimal EXIF holding only Orientation, so a sideways phone photo still shows upright."""
    with Image.open(src) as img:
        orientation = img.getexif().get(0x0112, 1)
    if not isinstance(orientation, int) or orientation == 1 or not 1 <= orientation <= 8:
        return b""
    tiff = b"MM\x00*\x00\x00\x00\x08" + struct.pack(">HHHIHHI", 1, 0x0112, 3, 1, orientation, 0, 0)
    body = b"Exif\x00\x00" + tiff
    return b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body


def _bare_jfif(fields: bytes) -> bytes:
    """APP0 JFIF with the source's version and density, without any thumbnail."""
    body = b"JFIF\x00" + fields.ljust(5, b"\x00") + b"\x00\x00"
    return b"\xff\xe0" + struct.pack(">H", len(body) + 2) + body


def _strip_png(src: Path, tmp: Path) -> None:
    data = src.read_bytes()
    out = bytearray(data[:8])
    pos = 8
    while pos + 12 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        ctype = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if ctype in PNG_KEEP:
            out += data[pos:end]
        pos = end
        if ctype == b"IEND":
            break
    tmp.write_bytes(bytes(out))


def _strip_webp(src: Path, tmp: Path) -> None:
    data = src.read_bytes()
    body = bytearray(b"WEBP")
    pos = 12
    while pos + 8 <= len(data):
        ctype, length = struct.unpack("<4sI", data[pos : pos + 8])
        chunk = bytearray(data[pos : pos + 8 + length + (length & 1)])
        if ctype == b"VP8X" and len(chunk) > 8:
            chunk[8] &= ~(0x20 | 0x08 | 0x04) & 0xFF  # clear ICC, EXIF and XMP flags
        if ctype in WEBP_KEEP:
            body += chunk
        pos += 8 + length + (length & 1)
    tmp.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + bytes(body))


def _strip_heif(src: Path, tmp: Path) -> None:
    """The documented exception: decode and re-encode the primary image, no EXIF/XMP/thumbnails."""
    heif = pillow_heif.open_heif(src, convert_hdr_to_8bit=False)
    image = heif[heif.primary_index] if hasattr(heif, "primary_index") else heif
    clean = pillow_heif.from_bytes(
        mode=image.mode, size=image.size, data=bytes(image.data), stride=image.stride
    )
    clean.save(tmp, quality=HEIC_QUALITY, enc_params=HEIC_ENCODER, exif=None, xmp=None)


def _resave_pillow(src: Path, tmp: Path) -> None:
    """TIFF, GIF, BMP...: Pillow writes only the image (lossless for these formats)."""
    with Image.open(src) as img:
        fmt = img.format or "PNG"
        img.load()
        img.info.clear()
        img.save(tmp, format=fmt)

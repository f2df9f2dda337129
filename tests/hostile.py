"""Crafted files that are still playable (or still open), built by patching real bytes.

Each helper writes one file an attacker could send a desk: a flipped version byte, dates at the
edge of the calendar, thousands of nested boxes after the real ones, an image header claiming
more pixels than any camera makes, an EXIF directory that asks for millions of reads, a second
`moov` that carries another date. Sources are the shared media (read, never modified) or
Pillow/raw bytes; tests write into `tmp_path`.
"""

from __future__ import annotations

import io
import struct
import zlib
from datetime import UTC, datetime
from pathlib import Path

from PIL import Image

MP4_EPOCH = datetime(1904, 1, 1, tzinfo=UTC)


def box(typ: bytes, body: bytes) -> bytes:
    return struct.pack(">I", 8 + len(body)) + typ + body


def flip_version(src: Path, dst: Path, *types: bytes) -> Path:
    """The first box of each type (mvhd, tkhd, mdhd) with its version byte set to 1."""
    data = bytearray(src.read_bytes())
    for typ in types:
        at = data.find(typ)
        assert at > 0, typ
        data[at + 4] = 1
    dst.write_bytes(bytes(data))
    return dst


def second_moov(src: Path, dst: Path, created: datetime, *extra: bytes) -> Path:
    """`src` with a second `moov` appended: a copy of its mvhd dated `created`, plus `extra`."""
    data = src.read_bytes()
    at = data.find(b"mvhd") - 4
    (size,) = struct.unpack(">I", data[at : at + 4])
    mvhd = bytearray(data[at : at + size])
    assert mvhd[8] == 0, "a version 0 mvhd"
    secs = int((created - MP4_EPOCH).total_seconds())
    struct.pack_into(">II", mvhd, 12, secs, secs)
    dst.write_bytes(data + box(b"moov", bytes(mvhd) + b"".join(extra)))
    return dst


def udta_xyz(iso6709: str) -> bytes:
    """A QuickTime `udta` holding a `©xyz` location (the Android/3GPP spelling)."""
    text = iso6709.encode()
    return box(b"udta", box(b"\xa9xyz", struct.pack(">HH", len(text), 0x15C7) + text))


def nested_boxes(src: Path, dst: Path, depth: int = 5000) -> Path:
    """`src` with a trailing moov holding `depth` nested trak/udta boxes."""
    inner = b""
    for i in range(depth):
        inner = box(b"udta" if i % 2 else b"trak", inner)
    dst.write_bytes(src.read_bytes() + box(b"moov", inner))
    return dst


def nested_riff_lists(src: Path, dst: Path, depth: int = 5000) -> Path:
    """An AVI with `depth` nested LIST INFO chunks appended inside its RIFF form."""
    inner = b""
    for _ in range(depth):
        inner = b"LIST" + struct.pack("<I", 4 + len(inner)) + b"INFO" + inner
    data = bytearray(src.read_bytes()) + inner
    struct.pack_into("<I", data, 4, len(data) - 8)
    dst.write_bytes(bytes(data))
    return dst


def replace_text(src: Path, dst: Path, old: bytes, new: bytes) -> Path:
    """`src` with one occurrence of `old` replaced by `new` of the same length."""
    assert len(old) == len(new)
    data = src.read_bytes()
    assert data.count(old) >= 1, old
    dst.write_bytes(data.replace(old, new, 1))
    return dst


def exif_jpeg(dst: Path, date: str, offset: str | None = None) -> Path:
    """A small JPEG whose EXIF DateTimeOriginal (and OffsetTimeOriginal) say `date`/`offset`."""
    exif = Image.Exif()
    exif[0x0132] = date  # DateTime
    ifd = exif.get_ifd(0x8769)
    ifd[0x9003] = date  # DateTimeOriginal
    if offset is not None:
        ifd[0x9011] = offset  # OffsetTimeOriginal
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (90, 120, 30)).save(buf, "JPEG", exif=exif.tobytes())
    dst.write_bytes(buf.getvalue())
    return dst


def png(dst: Path, width: int, height: int, *, mode_rgb: bool = False) -> Path:
    """A valid PNG of `width` x `height` black pixels (rows of zeros deflate to almost nothing:
    144 megapixels fit in 140 KB)."""
    channels, colour = (3, 2) if mode_rgb else (1, 0)
    comp = zlib.compressobj(9)
    row = bytes(1 + channels * width)
    idat = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)
    dst.write_bytes(
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
    )
    return dst


def png_header_only(dst: Path, width: int, height: int) -> Path:
    """An 8x8 PNG whose IHDR is patched to claim `width` x `height` (CRC fixed up)."""
    buf = io.BytesIO()
    Image.new("L", (8, 8)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    struct.pack_into(">II", data, 16, width, height)
    struct.pack_into(">I", data, 29, zlib.crc32(bytes(data[12:29])))
    dst.write_bytes(bytes(data))
    return dst


def tiff_ifd_bomb(dst: Path, entries: int = 65535, count: int = 999) -> Path:
    """A readable 8x8 grey TIFF whose one IFD has `entries` tags, all but the 8 real ones
    asking for `count` SHORTs read from inside the IFD: ~786 KB that asks exifread for 65
    million reads (68 s and 514 MB when this was found)."""
    real = 8
    ifd = 8
    end = ifd + 2 + 12 * entries + 4
    tags = [
        (256, 3, 1, 8),  # ImageWidth
        (257, 3, 1, 8),  # ImageLength
        (258, 3, 1, 8),  # BitsPerSample
        (259, 3, 1, 1),  # Compression: none
        (262, 3, 1, 1),  # Photometric: black is zero
        (273, 4, 1, end),  # StripOffsets: the 64 pixel bytes after the IFD
        (278, 3, 1, 8),  # RowsPerStrip
        (279, 4, 1, 64),  # StripByteCounts
    ]
    out = bytearray(b"II*\x00" + struct.pack("<I", ifd) + struct.pack("<H", entries))
    for tag, typ, n, value in tags:
        out += struct.pack("<HHII", tag, typ, n, value)
    for i in range(entries - real):
        out += struct.pack("<HHII", 1000 + i % 17000, 3, count, ifd)  # unassigned tag ids
    out += struct.pack("<I", 0) + bytes(range(0, 256, 4))
    dst.write_bytes(bytes(out))
    return dst


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def exif_ifd_loop(src: Path, dst: Path) -> Path:
    """A JPEG whose EXIF IFD0 points on to the Exif sub-IFD, which points back to IFD0: exifread
    warns 'IFD loop detected' (a damaged EXIF block; the picture itself is intact)."""
    data = bytearray(src.read_bytes())
    tiff = data.find(b"Exif\x00\x00") + 6
    end = "<" if data[tiff : tiff + 2] == b"II" else ">"

    def u(fmt: str, at: int) -> int:
        return struct.unpack_from(end + fmt, data, tiff + at)[0]

    ifd0 = u("I", 4)
    n0 = u("H", ifd0)
    entries = [ifd0 + 2 + 12 * i for i in range(n0)]
    exif_ifd = next(u("I", e + 8) for e in entries if u("H", e) == 0x8769)
    struct.pack_into(end + "I", data, tiff + ifd0 + 2 + 12 * n0, exif_ifd)
    n1 = u("H", exif_ifd)
    struct.pack_into(end + "I", data, tiff + exif_ifd + 2 + 12 * n1, ifd0)
    dst.write_bytes(bytes(data))
    return dst


def jpeg_fill(src: Path, dst: Path, megabytes: int) -> Path:
    """A JPEG with `megabytes` of 0xFF fill bytes after its EXIF segment (legal padding before
    a marker, slow to scan byte by byte: Pillow's header parser takes ~0.8 s per MB)."""
    data = src.read_bytes()
    app1 = data.find(b"Exif\x00\x00") - 4
    end = app1 + 2 + struct.unpack(">H", data[app1 + 2 : app1 + 4])[0]
    dst.write_bytes(data[:end] + b"\xff" * (megabytes << 20) + data[end:])
    return dst

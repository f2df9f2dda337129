"""A small reader for the metadata ffprobe does not expose.

ffprobe reports the common container tags, but phones and cameras put provenance in places it
skips: the 3GPP `loci` box, QuickTime `udta` text atoms (`©inf`, Pentax `TAGS`), XMP in a `uuid`
box or `udta/XMP_`, the raw `mvhd` times, AVI `LIST INFO`/`IDIT` chunks, and the MDPM block that
AVCHD cameras hide in the H.264 SEI. This module reads just those, seeking from box to box and
reading only small payloads, so a multi-gigabyte file costs a few reads.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import InputError

XMP_UUID = bytes.fromhex("BE7ACFCB97A942E89C71999491E3AFAC")
MDPM_SIGNATURE = bytes.fromhex("17ee8c60f84d11d98cd60800200c9a66") + b"MDPM"
JPEG_XMP_PREFIX = b"http://ns.adobe.com/xap/1.0/\x00"
MAX_PAYLOAD = 1 << 20  # metadata boxes are small; anything bigger is media or a thumbnail
MP4_EPOCH = datetime(1904, 1, 1, tzinfo=UTC)
# Boxes whose children we walk looking for metadata (never into sample tables or mdat).
BMFF_CONTAINERS = {b"moov", b"trak", b"udta", b"meta"}
# 3GPP TS 26.244 asset boxes: full box, 2-byte language, then a string.
GPP_STRINGS = {b"titl", b"auth", b"dscp", b"cprt", b"perf", b"gnre", b"albm", b"clsf"}
MDPM_MAKES = {0x0103: "Panasonic", 0x0108: "Sony", 0x1011: "Canon", 0x1104: "JVC"}


@dataclass(frozen=True)
class Box:
    """One ISO-BMFF box: where it starts, its header length and total size."""

    type: bytes
    start: int
    header: int
    size: int
    declared: int = 0

    @property
    def body(self) -> int:
        return self.start + self.header

    @property
    def end(self) -> int:
        return self.start + self.size


@dataclass(frozen=True)
class ContainerTags:
    """What the box/chunk readers found, each value a string as the file stated it.

    `format` is the family that was walked (isobmff, riff, mpegts, jpeg) or "" when none applied.
    """

    format: str = ""
    mvhd_created: str | None = None
    mvhd_modified: str | None = None
    udta: dict[str, str] = field(default_factory=dict)
    mdta: dict[str, str] = field(default_factory=dict)
    ilst: dict[str, str] = field(default_factory=dict)
    loci: dict[str, Any] | None = None
    xmp: str | None = None
    mdat_bytes: int | None = None
    truncated: str | None = None
    riff_info: dict[str, str] = field(default_factory=dict)
    mdpm: dict[str, str] = field(default_factory=dict)

    def as_raw(self) -> dict[str, Any]:
        """JSON-serialisable view without empty entries, for `Metadata.raw`."""
        out: dict[str, Any] = {"format": self.format}
        for name in ("mvhd_created", "mvhd_modified", "loci", "xmp", "mdat_bytes", "truncated"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        for name in ("udta", "mdta", "ilst", "riff_info", "mdpm"):
            if getattr(self, name):
                out[name] = dict(getattr(self, name))
        return out


def read_container_tags(path: Path) -> ContainerTags:
    """Read the boxes/chunks ffprobe misses, choosing the walker from the first bytes.

    Args:
        path: any file; formats without a walker give an empty `ContainerTags`.

    Returns:
        The tags found. A damaged structure stops the walk and keeps what was read so far.

    Raises:
        InputError: the file cannot be opened.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(12)
            f.seek(0, 2)
            size = f.tell()
            if head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"):
                return _read_bmff(f, size)
            if head[:4] == b"RIFF" and head[8:12] in (b"AVI ", b"AVIX"):
                return ContainerTags(format="riff", riff_info=_read_riff(f, size))
            if head[:2] == b"\xff\xd8":
                return ContainerTags(format="jpeg", xmp=read_jpeg_xmp(f))
            if _ts_packet_size(f) is not None:
                return ContainerTags(format="mpegts", mdpm=_read_mdpm(f))
            return ContainerTags()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None


# --- ISO-BMFF (MP4, MOV, 3GP) -------------------------------------------------------------


def iter_boxes(f: BinaryIO, start: int, end: int) -> Iterator[Box]:
    """Boxes between `start` and `end`, by seeking; a box that runs past `end` is clipped."""
    pos = start
    while pos + 8 <= end:
        f.seek(pos)
        hdr = f.read(8)
        if len(hdr) < 8:
            return
        size, typ = struct.unpack(">I4s", hdr)
        header = 8
        if size == 1:
            ext = f.read(8)
            if len(ext) < 8:
                return
            size, header = struct.unpack(">Q", ext)[0], 16
        elif size == 0:
            size = end - pos
        if size < header:
            return
        yield Box(typ, pos, header, min(size, end - pos), size)
        pos += size


def _payload(f: BinaryIO, box: Box, skip: int = 0) -> bytes:
    f.seek(box.body + skip)
    return f.read(max(0, min(box.end - box.body - skip, MAX_PAYLOAD)))


def _read_bmff(f: BinaryIO, size: int) -> ContainerTags:
    acc: dict[str, Any] = {"udta": {}, "mdta": {}, "ilst": {}}
    for box in iter_boxes(f, 0, size):
        if box.declared > box.size:
            acc["truncated"] = (
                f"top-level '{box.type.decode('latin-1')}' box declares {box.declared} bytes "
                f"but the file ends {box.size} bytes into it"
            )
        if box.type == b"mdat":
            acc["mdat_bytes"] = acc.get("mdat_bytes", 0) + box.size - box.header
        elif box.type == b"moov":
            _walk(f, box, acc)
        elif box.type == b"uuid":
            f.seek(box.body)
            if f.read(16) == XMP_UUID:
                acc.setdefault("xmp", _text(_payload(f, box, 16)))
    return ContainerTags(format="isobmff", **acc)


def _walk(f: BinaryIO, parent: Box, acc: dict[str, Any]) -> None:
    start = parent.body
    if parent.type == b"meta":
        f.seek(start)
        peek = f.read(8)
        start += 0 if peek[4:8] == b"hdlr" else 4  # QuickTime meta has no version/flags
        _read_meta(f, Box(b"meta", parent.start, start - parent.start, parent.size), acc)
        return
    for box in iter_boxes(f, start, parent.end):
        if box.type in BMFF_CONTAINERS:
            _walk(f, box, acc)
        elif box.type == b"mvhd":
            acc.update(_mvhd_times(_payload(f, box)))
        elif parent.type == b"udta":
            _read_udta_item(f, box, acc)


def _mvhd_times(data: bytes) -> dict[str, str]:
    if len(data) < 12:
        return {}
    if data[0] == 1 and len(data) >= 20:
        created, modified = struct.unpack(">QQ", data[4:20])
    else:
        created, modified = struct.unpack(">II", data[4:12])
    out = {}
    for key, secs in (("mvhd_created", created), ("mvhd_modified", modified)):
        if secs:
            out[key] = (MP4_EPOCH + timedelta(seconds=secs)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return out


def _read_udta_item(f: BinaryIO, box: Box, acc: dict[str, Any]) -> None:
    name = box.type.decode("latin-1")
    if box.type == b"XMP_":
        acc.setdefault("xmp", _text(_payload(f, box)))
    elif box.type == b"loci":
        acc["loci"] = parse_loci(_payload(f, box))
    elif box.type == b"TAGS":
        m = re.match(rb"[ -~]{4,}", _payload(f, box)[:64])  # Pentax: make string first
        if m:
            acc["udta"]["TAGS.make"] = m.group().decode("ascii").strip()
    elif box.type[:1] == b"\xa9":
        acc["udta"][name] = _qt_text(_payload(f, box))
    elif box.type in GPP_STRINGS:
        data = _payload(f, box)
        acc["udta"][name] = _text(data[6:])


def _qt_text(data: bytes) -> str:
    """A QuickTime international text atom: 2-byte length, 2-byte language, text."""
    if len(data) >= 4:
        (length,) = struct.unpack(">H", data[:2])
        if 4 + length <= len(data):
            raw = data[4 : 4 + length].split(b"\x00")[0]
            try:
                return raw.decode("utf-8").strip()
            except UnicodeDecodeError:  # language code < 0x400: classic Mac encoding
                return raw.decode("mac_roman").strip()
    return _text(data)


def _text(data: bytes) -> str:
    if data[:2] in (b"\xfe\xff", b"\xff\xfe"):
        return data.decode("utf-16", "replace").strip("\x00 ")
    return data.split(b"\x00")[0].decode("utf-8", "replace").strip()


def parse_loci(data: bytes) -> dict[str, Any] | None:
    """The 3GPP `loci` box: name, role, then longitude, latitude, altitude as 16.16 fixed point.

    Returns:
        `{"name", "lat", "lon", "alt_m", "body", "notes"}`, or None when the box is too short.
    """
    pos = 6  # version/flags, language
    end_name = _string_end(data, pos)
    name = _text(data[pos:end_name])
    pos = end_name + 1 + 1  # terminator, role
    if pos + 12 > len(data):
        return None
    lon, lat, alt = (v / 65536.0 for v in struct.unpack(">iii", data[pos : pos + 12]))
    pos += 12
    end_body = _string_end(data, pos)
    notes_end = _string_end(data, end_body + 1)
    return {
        "name": name,
        "lat": lat,
        "lon": lon,
        "alt_m": alt,
        "body": _text(data[pos:end_body]),
        "notes": _text(data[end_body + 1 : notes_end]),
    }


def _string_end(data: bytes, pos: int) -> int:
    if data[pos : pos + 2] in (b"\xfe\xff", b"\xff\xfe"):
        i = pos + 2
        while i + 1 < len(data) and data[i : i + 2] != b"\x00\x00":
            i += 2
        return min(i + 1, len(data))
    i = data.find(b"\x00", pos)
    return len(data) if i < 0 else i


def _read_meta(f: BinaryIO, meta: Box, acc: dict[str, Any]) -> None:
    keys: list[str] = []
    mdta = False
    for box in iter_boxes(f, meta.body, meta.end):
        if box.type == b"hdlr":
            mdta = _payload(f, box)[8:12] == b"mdta"
        elif box.type == b"keys":
            keys = _parse_keys(_payload(f, box))
        elif box.type == b"ilst":
            for item in iter_boxes(f, box.body, box.end):
                value = _ilst_value(f, item)
                if value is None:
                    continue
                index = int.from_bytes(item.type, "big")
                if mdta and 1 <= index <= len(keys):
                    acc["mdta"][keys[index - 1]] = value
                else:
                    acc["ilst"][item.type.decode("latin-1")] = value


def _parse_keys(data: bytes) -> list[str]:
    keys, pos = [], 8
    while pos + 8 <= len(data):
        (size,) = struct.unpack(">I", data[pos : pos + 4])
        if size < 8:
            break
        keys.append(data[pos + 8 : pos + size].decode("utf-8", "replace"))
        pos += size
    return keys


def _ilst_value(f: BinaryIO, item: Box) -> str | None:
    for data_box in iter_boxes(f, item.body, item.end):
        if data_box.type != b"data":
            continue
        data = _payload(f, data_box)
        kind, value = int.from_bytes(data[1:4], "big"), data[8:]
        if kind == 1:
            return value.decode("utf-8", "replace")
        if kind == 2:
            return value.decode("utf-16-be", "replace")
        if kind in (21, 22) and 1 <= len(value) <= 8:
            return str(int.from_bytes(value, "big", signed=kind == 21))
        if kind == 23 and len(value) == 4:
            return repr(struct.unpack(">f", value)[0])
        if kind == 24 and len(value) == 8:
            return repr(struct.unpack(">d", value)[0])
        return f"<binary {len(value)} bytes, type {kind}>"
    return None


# --- RIFF (AVI) -------------------------------------------------------------------------


def _read_riff(f: BinaryIO, size: int) -> dict[str, str]:
    out: dict[str, str] = {}
    pos = 0
    while pos + 12 <= size:  # RIFF AVI then optional RIFF AVIX extensions
        f.seek(pos)
        ident, length, form = struct.unpack("<4sI4s", f.read(12))
        if ident != b"RIFF":
            break
        if form == b"AVI ":
            _riff_chunks(f, pos + 12, min(pos + 8 + length, size), out)
        pos += 8 + length + (length & 1)
    return out


def _riff_chunks(f: BinaryIO, start: int, end: int, out: dict[str, str]) -> None:
    pos = start
    while pos + 8 <= end:
        f.seek(pos)
        ident, length = struct.unpack("<4sI", f.read(8))
        if ident == b"LIST":
            kind = f.read(4)
            if kind not in (b"movi", b"rec "):
                _riff_chunks(f, pos + 12, min(pos + 8 + length, end), out)
        elif (ident == b"IDIT" or ident[:1] == b"I") and 0 < length <= 4096:
            value = f.read(length).split(b"\x00")[0]
            if value.strip():
                out[ident.decode("latin-1")] = value.decode("latin-1").strip()
        pos += 8 + length + (length & 1)


# --- JPEG ----------------------------------------------------------------------------------


def iter_jpeg_segments(f: BinaryIO) -> Iterator[tuple[int, int, int]]:
    """(marker, offset, total length) of each JPEG header segment up to and including SOS.

    Standalone markers have length 2. Stops at SOS: what follows is entropy-coded data.
    """
    pos = 2
    while True:
        f.seek(pos)
        b = f.read(2)
        if len(b) < 2 or b[0] != 0xFF:
            return
        marker = b[1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):
            yield marker, pos, 2
            pos += 2
            continue
        ln = f.read(2)
        if len(ln) < 2:
            return
        total = 2 + struct.unpack(">H", ln)[0]
        yield marker, pos, total
        if marker == 0xDA:
            return
        pos += total


def read_jpeg_xmp(f: BinaryIO) -> str | None:
    """The XMP packet of a JPEG's APP1 segment, if any."""
    for marker, pos, total in iter_jpeg_segments(f):
        if marker == 0xE1 and total > len(JPEG_XMP_PREFIX) + 4:
            f.seek(pos + 4)
            data = f.read(total - 4)
            if data.startswith(JPEG_XMP_PREFIX):
                return data[len(JPEG_XMP_PREFIX) :].decode("utf-8", "replace")
    return None


_XMP_ELEM = re.compile(r"<([A-Za-z][\w.-]*:[\w.-]+)>([^<]*)</\1>")
_XMP_ATTR = re.compile(r"\s([A-Za-z][\w.-]*:[\w.-]+)=\"([^\"]*)\"")


def xmp_fields(xmp: str) -> dict[str, str]:
    """Simple-valued XMP properties (`ns:Name` -> text), elements and attributes alike."""
    out: dict[str, str] = {}
    for pattern in (_XMP_ELEM, _XMP_ATTR):
        for key, value in pattern.findall(xmp):
            if not key.startswith(("xmlns:", "rdf:", "x:", "xml:")) and value.strip():
                out.setdefault(key, value.strip())
    return out


# --- MPEG-TS / AVCHD: H.264 SEI MDPM --------------------------------------------------------


def _ts_packet_size(f: BinaryIO) -> int | None:
    f.seek(0)
    head = f.read(192 * 4)
    for size, offset in ((188, 0), (192, 4)):
        if len(head) >= size * 4 and all(head[offset + i * size] == 0x47 for i in range(4)):
            return size
    return None


def _read_mdpm(f: BinaryIO, max_packets: int = 20000) -> dict[str, str]:
    """Scan the first packets of each PID for the MDPM user-data SEI of AVCHD cameras."""
    size = _ts_packet_size(f)
    if size is None:
        return {}
    f.seek(0)
    streams: dict[int, bytearray] = {}
    for _ in range(max_packets // 256):
        chunk = f.read(size * 256)
        if not chunk:
            break
        for i in range(0, len(chunk) - size + 1, size):
            pid, payload = _ts_payload(chunk[i + size - 188 : i + size])
            if payload:
                streams.setdefault(pid, bytearray()).extend(payload)
        for buf in streams.values():
            found = _parse_mdpm(bytes(buf))
            if found:
                return found
    return {}


def _ts_payload(pkt: bytes) -> tuple[int, bytes]:
    if pkt[0] != 0x47:
        return -1, b""
    pid = ((pkt[1] & 0x1F) << 8) | pkt[2]
    afc = (pkt[3] >> 4) & 3
    start = 4
    if afc in (2, 3):
        start += 1 + pkt[4]
    return pid, pkt[start:] if afc in (1, 3) else b""


def _parse_mdpm(buf: bytes) -> dict[str, str]:
    i = buf.find(MDPM_SIGNATURE)
    if i < 0:
        return {}
    data = buf[i + len(MDPM_SIGNATURE) : i + len(MDPM_SIGNATURE) + 1024].replace(
        b"\x00\x00\x03", b"\x00\x00"
    )
    entries = {}
    for k in range(data[0] if data else 0):
        rec = data[1 + 5 * k : 6 + 5 * k]
        if len(rec) < 5:
            break
        entries[rec[0]] = rec[1:]
    return _mdpm_fields(entries)


def _mdpm_fields(entries: dict[int, bytes]) -> dict[str, str]:
    out: dict[str, str] = {}
    if 0x18 in entries and 0x19 in entries:
        tz, *ymd = entries[0x18]
        y1, y2, mo = ymd
        d, h, mi, s = entries[0x19]
        sign = "-" if tz & 0x20 else "+"
        offset = f"{sign}{(tz >> 1) & 0x0F:02d}:{'30' if tz & 1 else '00'}"
        out["DateTimeOriginal"] = f"{y1:02x}{y2:02x}:{mo:02x}:{d:02x} {h:02x}:{mi:02x}:{s:02x}"
        out["OffsetTime"] = offset
        if tz & 0x40:
            out["DST"] = "yes"
    if 0xE0 in entries:
        code = struct.unpack(">H", entries[0xE0][:2])[0]
        out["Make"] = MDPM_MAKES.get(code, f"unknown 0x{code:04x}")
    model = b"".join(entries.get(t, b"") for t in (0xE4, 0xE5, 0xE6)).split(b"\x00")[0]
    if out.get("Make") == "Sony" and model.strip():
        out["Model"] = model.decode("latin-1").strip()
    return out

"""A small reader for the metadata ffprobe does not expose.

ffprobe reports the common container tags, but phones and cameras put provenance in places it
skips: the 3GPP `loci` box, QuickTime `udta` text atoms (`©inf`, Pentax `TAGS`), XMP in a `uuid`
box or `udta/XMP_`, the raw `mvhd` times, AVI `LIST INFO`/`IDIT` chunks, and the MDPM block that
AVCHD cameras hide in the H.264 SEI. This module reads just those, seeking from box to box and
reading only small payloads, so a multi-gigabyte file costs a few reads.

Hostile files are expected. The walk is bounded (`MAX_DEPTH` levels, `MAX_BOXES` boxes) and says
what it cut short. A value the file states twice (a second `moov` appended after the first, a
second XMP packet, a repeated tag) is taken from its first copy, as ffprobe and players do; a
later copy that differs is kept in `conflicts` with where both copies are, so a verifier sees
that the file carries two answers.
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
MAX_MP4_SECONDS = int((datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC) - MP4_EPOCH).total_seconds())
# Boxes whose children we walk looking for metadata (never into sample tables or mdat).
BMFF_CONTAINERS = {b"moov", b"trak", b"mdia", b"udta", b"meta"}
# 3GPP TS 26.244 asset boxes: full box, 2-byte language, then a string.
GPP_STRINGS = {b"titl", b"auth", b"dscp", b"cprt", b"perf", b"gnre", b"albm", b"clsf"}
MDPM_MAKES = {0x0103: "Panasonic", 0x0108: "Sony", 0x1011: "Canon", 0x1104: "JVC"}
# Real files nest metadata boxes 4 deep (moov/trak/udta/meta) and RIFF lists 3 deep; a walk
# deeper than this, or through more boxes/chunks than this, is a crafted file: stop and say so.
MAX_DEPTH = 16
MAX_BOXES = 100_000
MAX_JPEG_SEGMENTS = 10_000
MAX_CONFLICTS = 64  # kept in raw; more than this says enough
MAX_COPY_CHARS = 16_384  # of each conflicting copy kept in raw


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
    # what the walk did not read because the structure is deeper or longer than any real file
    cut_short: str | None = None
    # later copies that differ from the value used: {field, used, used_at, other, other_at}
    conflicts: tuple[dict[str, Any], ...] = ()
    # stated values that are not representable (an mvhd date past year 9999): {"field", "value"}
    out_of_range: tuple[dict[str, str], ...] = ()

    def as_raw(self) -> dict[str, Any]:
        """JSON-serialisable view without empty entries, for `Metadata.raw`."""
        out: dict[str, Any] = {"format": self.format}
        for name in (
            "mvhd_created",
            "mvhd_modified",
            "loci",
            "xmp",
            "mdat_bytes",
            "truncated",
            "cut_short",
        ):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        for name in ("udta", "mdta", "ilst", "riff_info", "mdpm"):
            if getattr(self, name):
                out[name] = dict(getattr(self, name))
        for name in ("conflicts", "out_of_range"):
            if getattr(self, name):
                out[name] = [dict(x) for x in getattr(self, name)]
        return out


class _Found:
    """What a walk has read so far: first copy wins, differing later copies are conflicts.

    `key` is "mvhd_created", "loci", "xmp", or "udta/<name>", "mdta/<key>", "ilst/<name>",
    "riff_info/<id>" for the dictionaries of `ContainerTags`.
    """

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.first: dict[tuple[str, str], tuple[Any, str]] = {}
        self.conflicts: list[dict[str, Any]] = []
        self.out_of_range: list[dict[str, str]] = []
        self.cut_short: str | None = None
        self.truncated: str | None = None
        self.mdat_bytes: int | None = None
        self.boxes = 0

    def put(self, key: str, value: Any, where: str) -> None:
        """Keep the first value of `key`; a differing later copy at the same place in the
        structure (the same box path, a second moov or RIFF form aside; any XMP packet) is a
        conflict. Two tracks' own items (trak 1/udta/©nam, trak 2/udta/©nam) are not."""
        self.values.setdefault(key, value)
        place = (key, "file" if key == "xmp" else _place(where))
        if place not in self.first:
            self.first[place] = (value, where)
            return
        used, used_at = self.first[place]
        if value != used and len(self.conflicts) < MAX_CONFLICTS:
            self.conflicts.append(
                {
                    "field": key,
                    "used": _clip(used),
                    "used_at": used_at,
                    "other": _clip(value),
                    "other_at": where,
                }
            )

    def count(self, where: str) -> bool:
        """Count one more box; False (and the walk stops) once `MAX_BOXES` were read."""
        self.boxes += 1
        if self.boxes <= MAX_BOXES:
            return True
        self.stop(f"more than {MAX_BOXES} boxes or chunks; the rest from {where} on")
        return False

    def deep(self, depth: int, where: str) -> bool:
        """True when `depth` is too deep to go on (and says so once)."""
        if depth <= MAX_DEPTH:
            return False
        parts = where.split("/")
        if len(parts) > 4:
            where = "/".join([*parts[:2], "...", parts[-1]])
        self.stop(f"nesting deeper than {MAX_DEPTH} levels at {where}")
        return True

    def stop(self, what: str) -> None:
        self.cut_short = self.cut_short or what

    def tags(self, fmt: str) -> ContainerTags:
        groups: dict[str, dict[str, str]] = {"udta": {}, "mdta": {}, "ilst": {}, "riff_info": {}}
        for key, value in self.values.items():
            group, _, name = key.partition("/")
            if name and group in groups:
                groups[group][name] = value
        return ContainerTags(
            format=fmt,
            mvhd_created=self.values.get("mvhd_created"),
            mvhd_modified=self.values.get("mvhd_modified"),
            udta=groups["udta"],
            mdta=groups["mdta"],
            ilst=groups["ilst"],
            loci=self.values.get("loci"),
            xmp=self.values.get("xmp"),
            mdat_bytes=self.mdat_bytes,
            truncated=self.truncated,
            riff_info=groups["riff_info"],
            cut_short=self.cut_short,
            conflicts=tuple(self.conflicts),
            out_of_range=tuple(self.out_of_range),
        )


def _place(where: str) -> str:
    """`moov #2 at byte 9/trak 1/udta/©xyz` -> `trak 1/udta`: the path inside the top-level
    box (or RIFF form), without the item itself."""
    return "/".join(where.split("/")[1:-1])


def _clip(value: Any) -> Any:
    """A conflicting copy as kept in raw: long text (an XMP packet) cut at `MAX_COPY_CHARS`."""
    if isinstance(value, str) and len(value) > MAX_COPY_CHARS:
        return value[:MAX_COPY_CHARS] + f"... ({len(value)} characters)"
    return value


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
                return _read_riff(f, size)
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
    found = _Found()
    moovs = 0
    for box in iter_boxes(f, 0, size):
        name = box.type.decode("latin-1")
        if not found.count(f"'{name}' at byte {box.start}"):
            break
        if box.declared > box.size:
            found.truncated = (
                f"top-level '{name}' box declares {box.declared} bytes "
                f"but the file ends {box.size} bytes into it"
            )
        if box.type == b"mdat":
            found.mdat_bytes = (found.mdat_bytes or 0) + box.size - box.header
        elif box.type == b"moov":
            moovs += 1
            label = "moov" if moovs == 1 else f"moov #{moovs}"
            _walk(f, box, found, f"{label} at byte {box.start}", 1)
        elif box.type == b"uuid":
            f.seek(box.body)
            if f.read(16) == XMP_UUID:
                found.put("xmp", _text(_payload(f, box, 16)), f"uuid XMP at byte {box.start}")
    return found.tags("isobmff")


def _walk(f: BinaryIO, parent: Box, found: _Found, where: str, depth: int) -> None:
    """Read the metadata inside `parent` (a moov, trak, udta or meta), depth-bounded."""
    if found.deep(depth, where):
        return
    start = parent.body
    if parent.type == b"meta":
        f.seek(start)
        peek = f.read(8)
        start += 0 if peek[4:8] == b"hdlr" else 4  # QuickTime meta has no version/flags
        _read_meta(f, Box(b"meta", parent.start, start - parent.start, parent.size), found, where)
        return
    traks = 0
    for box in iter_boxes(f, start, parent.end):
        name = box.type.decode("latin-1")
        if box.type == b"trak":
            traks += 1
            name = f"trak {traks}"
        inner = f"{where}/{name}"
        if not found.count(inner):
            return
        if box.type in BMFF_CONTAINERS:
            _walk(f, box, found, inner, depth + 1)
        elif box.type == b"mvhd":
            _mvhd_times(_payload(f, box), found, inner)
        elif box.type in (b"tkhd", b"mdhd"):  # per-track clocks: only checked, ffprobe has them
            _times(_payload(f, box), found, inner)
        elif parent.type == b"udta":
            _read_udta_item(f, box, found, inner)


def _mvhd_times(data: bytes, found: _Found, where: str) -> None:
    """The movie's creation and modification times (UTC, seconds since 1904)."""
    for key, stamp in zip(
        ("mvhd_created", "mvhd_modified"), _times(data, found, where), strict=True
    ):
        if stamp is not None:
            found.put(key, stamp, where)


def _times(data: bytes, found: _Found, where: str) -> tuple[str | None, str | None]:
    """Creation and modification time of an mvhd, tkhd or mdhd box (None when zero).

    A version byte flipped from 0 to 1 makes the times 64-bit garbage: a value past year 9999
    is recorded in `out_of_range` instead of being turned into a date.
    """
    if len(data) < 12:
        return None, None
    if data[0] == 1 and len(data) >= 20:
        secs = struct.unpack(">QQ", data[4:20])
    else:
        secs = struct.unpack(">II", data[4:12])
    out: list[str | None] = []
    for name, value in zip(("creation", "modification"), secs, strict=True):
        if value > MAX_MP4_SECONDS:
            text = f"{value} s after 1904-01-01 (a version {data[0]} box), past year 9999"
            found.out_of_range.append({"field": f"{where} {name} time", "value": text})
        ok = 0 < value <= MAX_MP4_SECONDS
        out.append(
            (MP4_EPOCH + timedelta(seconds=value)).strftime("%Y-%m-%dT%H:%M:%SZ") if ok else None
        )
    return out[0], out[1]


def _read_udta_item(f: BinaryIO, box: Box, found: _Found, where: str) -> None:
    name = box.type.decode("latin-1")
    if box.type == b"XMP_":
        found.put("xmp", _text(_payload(f, box)), where)
    elif box.type == b"loci":
        loci = parse_loci(_payload(f, box))
        if loci is not None:
            found.put("loci", loci, where)
    elif box.type == b"TAGS":
        m = re.match(rb"[ -~]{4,}", _payload(f, box)[:64])  # Pentax: make string first
        if m:
            found.put("udta/TAGS.make", m.group().decode("ascii").strip(), where)
    elif box.type[:1] == b"\xa9":
        found.put(f"udta/{name}", _qt_text(_payload(f, box)), where)
    elif box.type in GPP_STRINGS:
        data = _payload(f, box)
        found.put(f"udta/{name}", _text(data[6:]), where)


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


def _read_meta(f: BinaryIO, meta: Box, found: _Found, where: str) -> None:
    keys: list[str] = []
    mdta = False
    for box in iter_boxes(f, meta.body, meta.end):
        inner = f"{where}/{box.type.decode('latin-1')}"
        if not found.count(inner):
            return
        if box.type == b"hdlr":
            mdta = _payload(f, box)[8:12] == b"mdta"
        elif box.type == b"keys":
            keys = _parse_keys(_payload(f, box))
        elif box.type == b"ilst":
            _read_ilst(f, box, keys if mdta else [], found, inner)


def _read_ilst(f: BinaryIO, ilst: Box, keys: list[str], found: _Found, where: str) -> None:
    """Items of an `ilst`: by index into `keys` (QuickTime mdta), else by their 4cc."""
    for item in iter_boxes(f, ilst.body, ilst.end):
        if not found.count(where):
            return
        value = _ilst_value(f, item)
        if value is None:
            continue
        index = int.from_bytes(item.type, "big")
        if keys and 1 <= index <= len(keys):
            found.put(f"mdta/{keys[index - 1]}", value, where)
        else:
            found.put(f"ilst/{item.type.decode('latin-1')}", value, where)


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


def _read_riff(f: BinaryIO, size: int) -> ContainerTags:
    found = _Found()
    pos, forms = 0, 0
    while pos + 12 <= size:  # RIFF AVI then optional RIFF AVIX extensions
        f.seek(pos)
        ident, length, form = struct.unpack("<4sI4s", f.read(12))
        if ident != b"RIFF" or not found.count(f"RIFF at byte {pos}"):
            break
        if form == b"AVI ":
            forms += 1
            label = "RIFF AVI" if forms == 1 else f"RIFF AVI #{forms}"
            _riff_chunks(f, pos + 12, min(pos + 8 + length, size), found, label, 1)
        pos += 8 + length + (length & 1)
    return found.tags("riff")


def _riff_chunks(f: BinaryIO, start: int, end: int, found: _Found, where: str, depth: int) -> None:
    """INFO/IDIT chunks between `start` and `end`; LIST chunks are entered, depth-bounded."""
    if found.deep(depth, f"{where} at byte {start}"):
        return
    pos = start
    while pos + 8 <= end:
        f.seek(pos)
        ident, length = struct.unpack("<4sI", f.read(8))
        name = ident.decode("latin-1")
        if not found.count(f"{where}/{name} at byte {pos}"):
            return
        if ident == b"LIST":
            kind = f.read(4)
            if kind not in (b"movi", b"rec "):
                inner = f"{where}/LIST {kind.decode('latin-1')}"
                _riff_chunks(f, pos + 12, min(pos + 8 + length, end), found, inner, depth + 1)
        elif (ident == b"IDIT" or ident[:1] == b"I") and 0 < length <= 4096:
            value = f.read(length).split(b"\x00")[0]
            if value.strip():
                found.put(f"riff_info/{name}", value.decode("latin-1").strip(), f"{where}/{name}")
        pos += 8 + length + (length & 1)


# --- JPEG ----------------------------------------------------------------------------------


def iter_jpeg_segments(f: BinaryIO) -> Iterator[tuple[int, int, int]]:
    """(marker, offset, total length) of each JPEG header segment up to and including SOS.

    Standalone markers have length 2. Stops at SOS: what follows is entropy-coded data. Bounded:
    runs of fill bytes are skipped a block at a time, and at most `MAX_JPEG_SEGMENTS` segments
    are listed (a real header has a few dozen).
    """
    pos = 2
    for _ in range(MAX_JPEG_SEGMENTS):
        f.seek(pos)
        b = f.read(2)
        if len(b) < 2 or b[0] != 0xFF:
            return
        marker = b[1]
        if marker == 0xFF:  # fill bytes
            pos += _fill_run(f, pos + 1)
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


def _fill_run(f: BinaryIO, pos: int) -> int:
    """How many 0xFF bytes start at `pos` (at least 1: the caller saw one there)."""
    run = 0
    f.seek(pos)
    while block := f.read(65536):
        rest = block.lstrip(b"\xff")
        run += len(block) - len(rest)
        if rest:
            break
    return max(run, 1)


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

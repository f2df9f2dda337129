"""Read everything a file says about itself, without decoding pixels.

Videos: one ffprobe process (format, streams, and the first 30 s of video packet timestamps, to
judge variable frame rate by real frame intervals) plus the box reader of `containers.py` for
what ffprobe skips. Stills: exifread plus Pillow (pillow-heif for HEIC) for the true pixel size
(`stills.py`). Every clock is kept apart and every location source is tried, so a verifier sees
what the file claims and where each claim came from; the raw tags stay as evidence.

The parsers that run in Python (box reader, exifread, Pillow, C2PA) run in a child process with
a time limit and a memory limit (`bounded.py`, `[probe] parse_time_limit_s`/`parse_memory_mb`):
a file that exhausts one is still probed as far as it got, and `raw["probe_limits"]` says which
limit stopped which parser (the `probe_limit` anomaly). A date that cannot be represented or
converted to UTC is kept as text in `raw["dates_out_of_range"]`, never used as a clock.
"""

from __future__ import annotations

import dataclasses
import math
import re
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

from ..config import ProbeConfig
from ..errors import ExtractionError, InputError, ProbeError
from ..models import Location, MediaInfo, MediaKind, Metadata, ProbeResult
from . import bounded
from .bounded import Outcome, Stage
from .containers import ContainerTags, read_container_tags, xmp_fields
from .credentials import CredentialsRead, read_credentials
from .ffmpeg import ffprobe_json
from .stills import ExifRead, ImageHeader, read_exif, read_image_header

PACKET_WINDOW_S = 30  # seconds of packets read to judge frame intervals (cheap on any length)
VFR_SPREAD = 1.10  # longest frame interval > shortest by more than 10 %: variable frame rate
XMP_MAX_CHARS = 65536
_ISO6709 = re.compile(r"^([+-]\d+(?:\.\d*)?)([+-]\d+(?:\.\d*)?)([+-]\d+(?:\.\d*)?)?")
ORIENTATION_DEG = {1: 0, 2: 0, 3: 180, 4: 180, 5: 90, 6: 90, 7: 270, 8: 270}
# Stage names: they appear in `raw["probe_limits"]` and in the `probe_limit` anomaly.
BOXES = "container boxes (box/RIFF reader)"
HEADER = "image header (Pillow)"
EXIF = "EXIF (exifread)"
C2PA = "Content Credentials (C2PA reader)"


def probe_file(path: Path, kind: MediaKind, cfg: ProbeConfig) -> ProbeResult:
    """Normalised media facts and provenance metadata of one file.

    Args:
        path: the file (never modified).
        kind: what `sniff_kind` decided.
        cfg: timeouts and the parsers' limits.

    Returns:
        The media geometry/timing and the metadata, with verbatim tags in `metadata.raw`.

    Raises:
        InputError: the file cannot be read.
        ProbeError: the container or image cannot be parsed at all.
        ToolMissing: ffprobe is not installed.
        ConfigError: `c2pa_trust_anchors` is unusable.
    """
    if not path.is_file():
        raise InputError(f"{path} is not a readable file")
    bounded.warm_up()  # the parsers' fork server starts while ffprobe runs
    return _probe_video(path, cfg) if kind == "video" else _probe_image(path, cfg)


def _parse(path: Path, cfg: ProbeConfig, *stages: Stage) -> Outcome:
    """The in-process parsers, bounded; the C2PA reader always last (the slowest)."""
    c2pa = Stage(C2PA, read_credentials, (path, cfg.c2pa_trust_anchors))
    return bounded.run_stages(
        [*stages, c2pa], time_s=cfg.parse_time_limit_s, memory_mb=cfg.parse_memory_mb
    )


def _finish(media: MediaInfo, meta: Metadata, parsed: Outcome) -> ProbeResult:
    """Add what the C2PA reader found and what stopped any parser."""
    raw = dict(meta.raw)
    if parsed.hits:
        raw["probe_limits"] = [
            {**dataclasses.asdict(h), "not_run": list(h.not_run)} for h in parsed.hits
        ]
    if parsed.messages:
        raw["parser_messages"] = parsed.messages
    read = parsed.values.get(C2PA)
    credentials = None
    if isinstance(read, CredentialsRead) and read.summary is not None:
        credentials = read.summary
        if read.raw:
            raw["c2pa"] = read.raw
    meta = dataclasses.replace(meta, content_credentials=credentials, raw=raw)
    return ProbeResult(media=media, metadata=meta)


def require_decodable(media: MediaInfo) -> None:
    """Refuse, with the reason, a video whose frames no decoder here can read.

    Raises:
        ExtractionError: no video stream, or a codec ffmpeg does not know.
    """
    if media.kind != "video":
        return
    if not media.has_video_stream:
        raise ExtractionError("no video stream (audio or data only)")
    if not media.codec or media.codec in ("unknown", "none"):
        raise ExtractionError("unsupported video codec: ffmpeg has no decoder for this stream")


# --- video ------------------------------------------------------------------------------


def _probe_video(path: Path, cfg: ProbeConfig) -> ProbeResult:
    extra = [
        "-show_entries",
        "packet=stream_index,pts_time",
        "-read_intervals",
        f"%+{PACKET_WINDOW_S}",
    ]
    info = ffprobe_json(path, timeout=cfg.timeout_s, extra=extra)
    if "format" not in info:
        raise ProbeError(f"ffprobe found no container in {path.name}")
    parsed = _parse(path, cfg, Stage(BOXES, read_container_tags, (path,)))
    boxes = parsed.values.get(BOXES) or ContainerTags()
    fmt = info["format"]
    streams = info.get("streams", [])
    video = _main_video_stream(streams)
    media = _video_media(fmt, video, _packet_times(info.get("packets", []), video))
    raw = _video_raw(fmt, streams, boxes)
    return _finish(media, _video_metadata(fmt, streams, boxes, raw), parsed)


def _main_video_stream(streams: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The largest real video stream (not cover art; QuickTime may add tiny preview tracks)."""
    videos = [
        s
        for s in streams
        if s.get("codec_type") == "video" and not s.get("disposition", {}).get("attached_pic")
    ]
    if not videos:
        return None
    return max(videos, key=lambda s: (s.get("width") or 0) * (s.get("height") or 0))


def _video_media(fmt: dict[str, Any], v: dict[str, Any] | None, pts: list[float]) -> MediaInfo:
    duration = _float(fmt.get("duration")) or _float((v or {}).get("duration"))
    if v is None:
        return MediaInfo(
            kind="video",
            container=fmt.get("format_name"),
            duration_s=duration,
            has_video_stream=False,
            rotation_deg=0,
        )
    nb = v.get("nb_frames")
    return MediaInfo(
        kind="video",
        container=fmt.get("format_name"),
        duration_s=duration,
        width=v.get("width"),
        height=v.get("height"),
        fps=_rate(v.get("avg_frame_rate")),
        fps_nominal=_rate(v.get("r_frame_rate")),
        codec=v.get("codec_name"),
        rotation_deg=_rotation(v),
        frame_count=int(nb) if nb and str(nb).isdigit() and int(nb) > 0 else None,
        variable_frame_rate=_is_vfr(pts),
    )


def _packet_times(packets: list[dict[str, Any]], v: dict[str, Any] | None) -> list[float]:
    if v is None:
        return []
    idx = v.get("index")
    times = (_float(p.get("pts_time")) for p in packets if p.get("stream_index") == idx)
    return sorted({t for t in times if t is not None})


def _is_vfr(pts: list[float]) -> bool | None:
    """Frame-interval test (the truth convention): None when too few frames to tell."""
    gaps = [b - a for a, b in zip(pts, pts[1:], strict=False) if b - a > 1e-6]
    if len(gaps) < 2:
        return None
    return max(gaps) > min(gaps) * VFR_SPREAD


def _rotation(v: dict[str, Any]) -> int:
    """Clockwise degrees to display upright: minus the display matrix, or the old `rotate` tag."""
    for side in v.get("side_data_list") or []:
        if "rotation" in side:
            return _quarter(-(_float(side["rotation"]) or 0.0))
    return _quarter(_float((v.get("tags") or {}).get("rotate")) or 0.0)


def _quarter(deg: float) -> int:
    if not math.isfinite(deg):
        return 0
    return int(round(deg / 90.0)) * 90 % 360


def _video_raw(
    fmt: dict[str, Any], streams: list[dict[str, Any]], boxes: ContainerTags
) -> dict[str, Any]:
    box_raw = boxes.as_raw()
    if "xmp" in box_raw:
        box_raw["xmp"] = _trim_xmp(box_raw["xmp"])
    raw: dict[str, Any] = {
        "ffprobe": {
            "format_name": fmt.get("format_name"),
            "format_tags": dict(fmt.get("tags") or {}),
            "streams": [
                {
                    "index": s.get("index"),
                    "codec_type": s.get("codec_type"),
                    "codec_name": s.get("codec_name"),
                    "codec_tag_string": s.get("codec_tag_string"),
                    "tags": dict(s.get("tags") or {}),
                    "side_data": [
                        {k: v for k, v in d.items() if k != "displaymatrix"}
                        for d in s.get("side_data_list") or []
                    ],
                }
                for s in streams
            ],
        },
        "boxes": box_raw,
    }
    if boxes.xmp:
        raw["xmp_fields"] = xmp_fields(boxes.xmp)
    return raw


def _video_metadata(
    fmt: dict[str, Any], streams: list[dict[str, Any]], boxes: ContainerTags, raw: dict[str, Any]
) -> Metadata:
    ftags = {k.lower(): v for k, v in (fmt.get("tags") or {}).items()}
    tags = {**ftags, **{k.lower(): v for k, v in boxes.mdta.items()}}
    items = {**boxes.ilst, **boxes.udta}
    xmp = raw.get("xmp_fields", {})
    bad_dates: list[dict[str, str]] = []
    clocks = _video_clocks(ftags, tags, items, boxes, xmp, bad_dates)
    if bad_dates:
        raw["dates_out_of_range"] = bad_dates

    def first(*vals: Any) -> str | None:
        return next((str(v).strip() for v in vals if v and str(v).strip()), None)

    make = first(
        tags.get("com.apple.quicktime.make"),
        tags.get("com.android.manufacturer"),
        tags.get("make"),
        items.get("©mak"),
        boxes.mdpm.get("Make"),
        items.get("TAGS.make"),
    )
    model = first(
        tags.get("com.apple.quicktime.model"),
        tags.get("com.android.model"),
        tags.get("model"),
        items.get("©mod"),
        boxes.mdpm.get("Model"),
    )
    software = first(
        tags.get("com.apple.quicktime.software"),
        tags.get("com.android.version"),
        items.get("©swr"),
        boxes.riff_info.get("ISFT"),
        ftags.get("software"),
        xmp.get("xmp:CreatorTool"),
        xmp.get("stEvt:softwareAgent"),
    )
    # Stream-level `encoder` tags are mostly QuickTime compressor names ("H.264"); they stay in raw.
    encoder = first(ftags.get("encoder"), items.get("©too"))
    handlers = tuple(h for s in streams if (h := (s.get("tags") or {}).get("handler_name")))
    return Metadata(
        **clocks,
        location=_video_location(tags, items, boxes),
        make=make,
        model=model,
        software=software,
        encoder=encoder,
        handler_names=handlers,
        raw=raw,
    )


def _video_clocks(
    ftags: dict[str, str],
    tags: dict[str, str],
    items: dict[str, str],
    boxes: ContainerTags,
    xmp: dict[str, str],
    bad_dates: list[dict[str, str]],
) -> dict[str, Any]:
    """creation_time (UTC) plus the device's own wall clock, each with its source."""
    utc, source = None, None
    container = ftags.get("creation_time", "")
    if boxes.mvhd_created:
        utc, source = boxes.mvhd_created, "mvhd creation_time"
    elif container.endswith("Z") and (utc := _utc_iso(_parse_time(container))):
        source = "container creation_time"
    mdpm = boxes.mdpm
    device = [
        ("com.apple.quicktime.creationdate", tags.get("com.apple.quicktime.creationdate")),
        ("©day", items.get("©day")),
        ("h264_sei_mdpm", mdpm and mdpm.get("DateTimeOriginal", "") + mdpm.get("OffsetTime", "")),
        ("riff_IDIT", boxes.riff_info.get("IDIT")),
        ("riff_ICRD", boxes.riff_info.get("ICRD")),
    ]
    if utc is None:  # an editor's XMP date is the last resort
        device += [(k, xmp.get(k)) for k in ("xmp:CreateDate", "photoshop:DateCreated")]
    tag, local = next(((t, d) for t, v in device if (d := _parse_time(v or ""))), (None, None))
    return _clock_fields(utc, source, local, tag, bad_dates)


def _clock_fields(
    utc: str | None,
    source: str | None,
    local: datetime | None,
    tag: str | None,
    bad_dates: list[dict[str, str]],
) -> dict[str, Any]:
    """The creation_time fields. A zoned clock that cannot be converted to UTC (year 1 at
    +05:00 is before year 1 in UTC) is kept as a zoneless local time and noted in `bad_dates`."""
    out: dict[str, Any] = {"creation_time": utc, "creation_time_source": source}
    if local is None:
        return out
    wall = local.replace(tzinfo=None).isoformat(timespec="seconds")
    out["creation_time_local"] = wall
    zoned = None
    if local.tzinfo is not None:
        out["creation_utc_offset"] = _offset_text(local)
        zoned = _utc_iso(local)
        if zoned is None:
            value = f"{wall}{out['creation_utc_offset']}"
            bad_dates.append({"field": str(tag), "value": f"{value}, outside years 1-9999 in UTC"})
    if utc is None:
        # A zoneless clock is kept without 'Z' so nobody mistakes it for UTC.
        out["creation_time"] = zoned or wall
        out["creation_time_source"] = tag if zoned else f"{tag} (no zone)"
    return out


def _video_location(
    tags: dict[str, str], items: dict[str, str], boxes: ContainerTags
) -> Location | None:
    candidates = (
        ("com.apple.quicktime.location.ISO6709", tags.get("com.apple.quicktime.location.iso6709")),
        ("udta/©xyz", items.get("©xyz")),
        ("location", tags.get("location")),
        ("location-eng", tags.get("location-eng")),
    )
    for source, text in candidates:
        if text and (loc := parse_iso6709(text, source)) is not None:
            return loc
    if boxes.loci:
        return Location(
            boxes.loci["lat"], boxes.loci["lon"], boxes.loci["alt_m"], "udta/loci (3GPP)"
        )
    return None


def parse_iso6709(text: str, source: str = "") -> Location | None:
    """`+32.0929+034.8620+028.516/` and the DDMM/DDMMSS forms of ISO 6709 to decimal degrees."""
    m = _ISO6709.match(text.strip())
    if not m:
        return None
    lat = _iso_angle(m.group(1), 2)
    lon = _iso_angle(m.group(2), 3)
    alt = _float(m.group(3))
    if lat is None or lon is None or abs(lat) > 90 or abs(lon) > 180:
        return None
    return Location(lat, lon, alt, source)


def _iso_angle(part: str, deg_digits: int) -> float | None:
    """One ISO 6709 angle: ±D.D, ±DDMM.M or ±DDMMSS.S (latitude 2 degree digits, longitude 3)."""
    sign = -1.0 if part[0] == "-" else 1.0
    whole, _, frac = part[1:].partition(".")
    extra = len(whole) - deg_digits
    if extra <= 0:
        return sign * float(part[1:])
    if extra not in (2, 4):
        return None
    d = deg_digits
    value = float(whole[:d])
    if extra == 2:
        value += float(f"{whole[d:]}.{frac or 0}") / 60
    else:
        value += float(whole[d : d + 2]) / 60 + float(f"{whole[d + 2 :]}.{frac or 0}") / 3600
    return sign * value


# --- stills -------------------------------------------------------------------------------


def _probe_image(path: Path, cfg: ProbeConfig) -> ProbeResult:
    # EXIF first: the most telling, and bounded by construction (stills.MAX_EXIF_READS)
    parsed = _parse(
        path, cfg, Stage(EXIF, read_exif, (path,)), Stage(HEADER, read_image_header, (path,))
    )
    header = parsed.values.get(HEADER) or ImageHeader()
    read = parsed.values.get(EXIF) or ExifRead()
    exif = read.tags
    if header.size is None and not exif:
        raise ProbeError(f"{path.name}: not a readable image ({_unreadable(header, read, parsed)})")
    raw = _image_raw(header, read)
    orientation = _int(exif.get("Image Orientation"))
    fmt = (header.format or "").lower() or None
    media = MediaInfo(
        kind="image",
        container=fmt,
        width=header.size[0] if header.size else None,
        height=header.size[1] if header.size else None,
        codec=fmt,
        rotation_deg=ORIENTATION_DEG.get(orientation or 1, 0),
        frame_count=1,
    )
    return _finish(media, _image_metadata(exif, raw), parsed)


def _unreadable(header: ImageHeader, read: ExifRead, parsed: Outcome) -> str:
    """Why neither pixels nor EXIF were found, in a few words."""
    why = [f"{h.stage} stopped: {h.limit} limit ({h.detail})" for h in parsed.hits]
    if header.problem:
        why.append(header.problem)
    if read.cut_short:
        why.append(f"EXIF not read: {read.cut_short}")
    return "; ".join(why) or "no pixels, no EXIF"


def _image_raw(header: ImageHeader, read: ExifRead) -> dict[str, Any]:
    raw: dict[str, Any] = {"exif": read.tags}
    if read.damage:
        raw["exif_damage"] = list(read.damage)
    if read.cut_short:
        raw["exif_cut_short"] = read.cut_short
    if header.xmp:
        raw["xmp"] = _trim_xmp(header.xmp)
        raw["xmp_fields"] = xmp_fields(header.xmp)
    if header.text:
        raw["image_text"] = header.text
    return raw


def _image_metadata(exif: dict[str, str], raw: dict[str, Any]) -> Metadata:
    local = _parse_time(exif.get("EXIF DateTimeOriginal") or exif.get("Image DateTime") or "")
    offset = exif.get("EXIF OffsetTimeOriginal") or exif.get("EXIF OffsetTime") or ""
    if (
        local is not None
        and offset
        and (zoned := _parse_time(exif.get("EXIF DateTimeOriginal", "") + offset))
    ):
        local = zoned
    tag = "EXIF DateTimeOriginal" if exif.get("EXIF DateTimeOriginal") else "EXIF DateTime"
    bad_dates: list[dict[str, str]] = []
    clocks = _clock_fields(None, None, local, tag if local else None, bad_dates)
    if bad_dates:
        raw["dates_out_of_range"] = bad_dates

    def s(key: str) -> str | None:
        return (exif.get(key) or "").strip() or None

    return Metadata(
        **clocks,
        location=_exif_location(exif),
        make=s("Image Make"),
        model=s("Image Model"),
        software=s("Image Software"),
        raw=raw,
    )


def _exif_location(exif: dict[str, str]) -> Location | None:
    lat = _dms(exif.get("GPS GPSLatitude"))
    lon = _dms(exif.get("GPS GPSLongitude"))
    if lat is None or lon is None:
        return None
    if exif.get("GPS GPSLatitudeRef", "N").strip().upper().startswith("S"):
        lat = -lat
    if exif.get("GPS GPSLongitudeRef", "E").strip().upper().startswith("W"):
        lon = -lon
    if abs(lat) > 90 or abs(lon) > 180:
        return None  # kept in raw["exif"]; not a position on Earth
    alt = _ratio(exif.get("GPS GPSAltitude", ""))
    if alt is not None and exif.get("GPS GPSAltitudeRef", "0").strip() == "1":
        alt = -alt
    return Location(lat, lon, alt, "EXIF GPS IFD")


def _dms(text: str | None) -> float | None:
    """exifread's `[41, 2559/50, 0]` (degrees, minutes, seconds as ratios) to decimal degrees."""
    if not text:
        return None
    parts = [_ratio(p) for p in text.strip("[] ").split(",")]
    if not parts or any(p is None for p in parts):
        return None
    return sum(p / 60**i for i, p in enumerate(parts[:3]) if p is not None)


# --- small parsers ---------------------------------------------------------------------------


def _trim_xmp(xmp: str) -> str:
    """The XMP packet without its writable padding (kilobytes of spaces), capped in size."""
    return re.sub(r"\s{64,}", "\n", xmp)[:XMP_MAX_CHARS]


def _ratio(text: str) -> float | None:
    try:
        value = float(Fraction(text.strip()))
    except (ValueError, ZeroDivisionError, OverflowError):
        return None
    return value if math.isfinite(value) else None


def _rate(text: Any) -> float | None:
    value = _ratio(str(text)) if text else None
    return value if value else None


def _float(text: Any) -> float | None:
    """A finite float, else None (no NaN or infinity reaches a report)."""
    try:
        value = float(text)
    except (TypeError, ValueError, OverflowError):
        return None
    return value if math.isfinite(value) else None


def _int(text: str | None) -> int | None:
    try:
        return int(str(text).strip("[] "))
    except (TypeError, ValueError):
        return None


_TIME_FORMATS = (
    "%Y-%m-%dT%H:%M:%S.%f%z",
    "%Y-%m-%dT%H:%M:%S%z",
    "%Y-%m-%dT%H:%M%z",
    "%Y-%m-%d %H:%M:%S%z",
    "%Y:%m:%d %H:%M:%S%z",
    "%Y-%m-%dT%H:%M:%S.%f",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%Y:%m:%d %H:%M:%S",
    "%a %b %d %H:%M:%S %Y",
    "%Y-%m-%dT%H:%M",
    "%Y/%m/%d %H:%M:%S",
)


def _parse_time(text: str) -> datetime | None:
    """Any of the date spellings cameras use; aware when the text has a zone. Zero dates: None."""
    text = text.strip().replace("Z", "+00:00") if text else ""
    if not text or text.startswith(("0000", "    ")):
        return None
    for pattern in _TIME_FORMATS:
        try:
            return datetime.strptime(text.title() if "%a" in pattern else text, pattern)
        except ValueError:
            continue
    return None


def _utc_iso(dt: datetime | None) -> str | None:
    """`YYYY-MM-DDTHH:MM:SSZ`; None when the UTC time falls outside years 1-9999."""
    if dt is None:
        return None
    try:
        if dt.tzinfo is not None:
            dt = dt.astimezone(UTC)
    except OverflowError:
        return None
    return dt.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def _offset_text(dt: datetime) -> str:
    off = dt.utcoffset() or timedelta(0)
    minutes = int(off.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"

"""Facts about a file a verifier should look at, each a stable code plus one sentence.

A pure function of what probing (and, when available, decoding) found: no I/O, so the same
inputs always give the same list, in a fixed order. An anomaly is not a verdict; a platform
re-upload with no metadata is normal, but the desk must know it is looking at one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .config import ProbeConfig
from .models import Anomaly, DecodeStats, ProbeResult

# Writers that never appear in a camera original: muxers/encoders and editing applications.
FFMPEG_WRITER = re.compile(r"(?<![a-z])(lavf|lavc|libav|ffmpeg|libx26[45]|x26[45])", re.I)
EDITORS = re.compile(
    r"(handbrake|adobe|premiere|after effects|photoshop|lightroom|bridge|final cut|imovie|"
    r"capcut|inshot|kinemaster|filmora|davinci|resolve|shotcut|kdenlive|openshot|movavi|vsdc|"
    r"vn video|videoleap|splice|snapseed|picsart|gimp|canva|clipchamp|camtasia|avidemux|"
    r"mkvmerge|mp4box|gpac|l-smash|vegas)",
    re.I,
)
FFMPEG_HANDLERS = {"VideoHandler", "SoundHandler", "DataHandler", "SubtitleHandler"}
GPAC_HANDLER = re.compile(r"gpac|l-smash", re.I)
NAIVE_SLACK = timedelta(hours=14)  # a zoneless clock may run up to UTC+14


@dataclass(frozen=True)
class _Facts:
    """The inputs of one check, bundled so every check has the same signature."""

    probe: ProbeResult
    decode: DecodeStats | None
    acquired_at: datetime
    now: datetime
    cfg: ProbeConfig
    decoded_size: tuple[int, int] | None


def detect_anomalies(
    probe: ProbeResult,
    *,
    decode: DecodeStats | None,
    acquired_at: datetime,
    now: datetime,
    cfg: ProbeConfig,
    decoded_size: tuple[int, int] | None = None,
) -> list[Anomaly]:
    """Every anomaly the probe (and decode statistics, if given) reveal.

    Args:
        probe: what `probe_file` read.
        decode: what the keyframe step decoded; None skips the decode-based checks.
        acquired_at: when the desk acquired the file (UTC; naive values are taken as UTC).
        now: the current time, passed in so the result is reproducible.
        cfg: tolerances (`future_tolerance_s`, `duration_mismatch_ratio`).
        decoded_size: pixel size of a decoded frame, when the caller has one.

    Returns:
        Anomalies in a fixed order of checks; empty when nothing stands out.
    """
    facts = _Facts(probe, decode, _aware(acquired_at), _aware(now), cfg, decoded_size)
    out: list[Anomaly] = []
    for check in CHECKS:
        out.extend(check(facts))
    return out


def _no_metadata(f: _Facts) -> list[Anomaly]:
    md = f.probe.metadata
    if md.creation_time or md.creation_time_local or md.location or md.make or md.model:
        return []
    if md.software:
        return []
    return [
        Anomaly(
            "no_metadata",
            "The file carries no creation time, location, make, model or "
            "software: typical of a platform re-upload or deliberate stripping, so its "
            "origin must be established from content and sources.",
        )
    ]


def _null_island(f: _Facts) -> list[Anomaly]:
    loc = f.probe.metadata.location
    if loc is None or abs(loc.lat) > 1e-6 or abs(loc.lon) > 1e-6:
        return []
    return [
        Anomaly(
            "gps_null_island",
            f"The location ({loc.source or 'GPS'}) is exactly 0,0: a "
            "placeholder written without a GPS fix, not a real position.",
            "critical",
        )
    ]


def _creation_times(f: _Facts) -> list[Anomaly]:
    created, naive = _created(f.probe.metadata.creation_time)
    if created is None:
        return []
    slack = timedelta(seconds=f.cfg.future_tolerance_s) + (NAIVE_SLACK if naive else timedelta())
    stamp = f.probe.metadata.creation_time
    if created > f.now + slack:
        return [
            Anomaly(
                "creation_in_future",
                f"The creation time {stamp} lies in the future: the "
                "device clock was wrong or the tag was edited.",
                "critical",
            )
        ]
    if created > f.acquired_at + slack:
        return [
            Anomaly(
                "created_after_acquisition",
                f"The creation time {stamp} is later than "
                f"the acquisition ({f.acquired_at:%Y-%m-%dT%H:%M:%SZ}): the tag was "
                "rewritten after the desk received the file, or a clock is wrong.",
            )
        ]
    return []


def _reencoded(f: _Facts) -> list[Anomaly]:
    md = f.probe.metadata
    traces: list[str] = []
    for label, value in _writer_strings(f.probe):
        if FFMPEG_WRITER.search(value):
            traces.append(f"{label} '{value}' (ffmpeg/libav)")
        elif EDITORS.search(value):
            traces.append(f"{label} '{value}' (editing software)")
    handlers = [h for h in md.handler_names if h in FFMPEG_HANDLERS or GPAC_HANDLER.search(h)]
    if handlers:
        traces.append(
            f"handler names {', '.join(sorted(set(handlers)))} (written by a muxer, not a camera)"
        )
    if not traces:
        return []
    return [
        Anomaly(
            "reencoded",
            "This is not a camera original: " + "; ".join(traces) + ". It "
            "was re-muxed or re-encoded, so other metadata may have been changed or lost.",
        )
    ]


def _writer_strings(probe: ProbeResult) -> list[tuple[str, str]]:
    md, raw = probe.metadata, probe.metadata.raw
    found = [("encoder", md.encoder), ("software", md.software)]
    for s in raw.get("ffprobe", {}).get("streams", []):
        found.append((f"stream {s.get('index')} encoder", (s.get("tags") or {}).get("encoder")))
    xmp = raw.get("xmp_fields", {})
    found += [
        (f"XMP {k}", xmp.get(k))
        for k in ("xmp:CreatorTool", "stEvt:softwareAgent", "photoshop:History")
    ]
    seen: set[str] = set()
    out = []
    for label, value in found:
        if value and value not in seen:
            seen.add(value)
            out.append((label, str(value)))
    return out


def _exif_dimensions(f: _Facts) -> list[Anomaly]:
    exif = f.probe.metadata.raw.get("exif", {})
    declared = _exif_size(exif)
    actual = f.decoded_size or _media_size(f.probe)
    if declared is None or actual is None or declared in (actual, actual[::-1]):
        return []
    return [
        Anomaly(
            "exif_dimensions_mismatch",
            f"EXIF says {declared[0]}x{declared[1]} pixels but "
            f"the image is {actual[0]}x{actual[1]}: it was resized or cropped after the "
            "camera wrote it.",
        )
    ]


def _exif_size(exif: dict[str, str]) -> tuple[int, int] | None:
    for wk, hk in (
        ("EXIF ExifImageWidth", "EXIF ExifImageLength"),
        ("Image ImageWidth", "Image ImageLength"),
    ):
        w, h = _int(exif.get(wk)), _int(exif.get(hk))
        if w and h:
            return w, h
    return None


def _media_size(probe: ProbeResult) -> tuple[int, int] | None:
    m = probe.media
    return (m.width, m.height) if m.width and m.height else None


def _truncated(f: _Facts) -> list[Anomaly]:
    boxes = f.probe.metadata.raw.get("boxes", {})
    if boxes.get("truncated"):
        return [Anomaly("truncated", f"The file is cut short: {boxes['truncated']}.", "critical")]
    d, m, ratio = f.decode, f.probe.media, f.cfg.duration_mismatch_ratio
    if d is None or d.frames_decoded == 0:
        return []
    if m.frame_count and d.frames_decoded < m.frame_count * (1 - ratio):
        return [
            Anomaly(
                "truncated",
                f"The container declares {m.frame_count} frames but only "
                f"{d.frames_decoded} decode: the file is truncated or damaged.",
                "critical",
            )
        ]
    if m.duration_s and d.last_pts_s is not None:
        covered = d.last_pts_s + (1 / m.fps if m.fps else 0)
        if covered < m.duration_s * (1 - ratio):
            return [
                Anomaly(
                    "truncated",
                    f"The container declares {m.duration_s:.2f} s but "
                    f"decoded frames end at {covered:.2f} s: the file is truncated or "
                    "damaged.",
                    "critical",
                )
            ]
    return []


def _no_frames(f: _Facts) -> list[Anomaly]:
    m = f.probe.media
    if m.kind != "video":
        return []
    declared = m.frame_count or (m.duration_s or 0) > 0
    empty_mdat = f.probe.metadata.raw.get("boxes", {}).get("mdat_bytes") == 0
    nothing = f.decode.frames_decoded == 0 if f.decode is not None else empty_mdat
    if declared and nothing:
        what = f"{m.frame_count} frames" if m.frame_count else f"{m.duration_s:.2f} s of video"
        return [
            Anomaly(
                "no_decodable_frames",
                f"The header declares {what} but no frame "
                "decodes: a header-only or emptied file; its metadata is all there is.",
                "critical",
            )
        ]
    return []


def _corrupt(f: _Facts) -> list[Anomaly]:
    n = f.decode.corrupt_frames if f.decode is not None else 0
    if not n:
        return []
    return [
        Anomaly(
            "corrupt_frames",
            f"{n} frame(s) failed to decode cleanly: damaged data mid-stream (a bad copy, a "
            "partial download or tampering); nearby keyframes may show artefacts.",
            "warning",
        )
    ]


def _vfr(f: _Facts) -> list[Anomaly]:
    if not f.probe.media.variable_frame_rate:
        return []
    m = f.probe.media
    return [
        Anomaly(
            "variable_frame_rate",
            f"Frame intervals vary (average {m.fps or 0:.3f} fps, "
            f"nominal {m.fps_nominal or 0:g}): typical of phone cameras; times must come "
            "from frame timestamps, not frame numbers.",
            "info",
        )
    ]


def _rotated(f: _Facts) -> list[Anomaly]:
    deg = f.probe.media.rotation_deg
    if not deg:
        return []
    return [
        Anomaly(
            "rotated",
            f"The file is stored sideways or upside down and displays after a "
            f"{deg} degree clockwise rotation; keyframes are shown upright.",
            "info",
        )
    ]


def _content_credentials(f: _Facts) -> list[Anomaly]:
    """What a C2PA manifest declares, and whether it still holds (`media/credentials.py`)."""
    cc = f.probe.metadata.content_credentials
    if cc is None:
        return []
    who = (cc.signer or "an unnamed signer") + (f" ({cc.issuer})" if cc.issuer else "")
    tool = f" with {cc.generator}" if cc.generator else ""
    if cc.state == "remote":
        return [
            Anomaly(
                "c2pa_remote",
                f"The file says its Content Credentials (C2PA) are stored at "
                f"{cc.remote_url or 'an address it names'}, not in the file. They were "
                f"not fetched: the server would learn that this file was opened, when and from "
                f"where. Fetch them deliberately, from a machine that may be seen, to check them.",
            )
        ]
    if cc.state == "unreadable":
        why = "; ".join(cc.problems) or "unknown reason"
        return [
            Anomaly(
                "c2pa_unreadable",
                f"The file carries a Content Credentials (C2PA) store that cannot be read "
                f"({why}): it may have been damaged or tampered with.",
            )
        ]
    out = [
        Anomaly(
            "c2pa_present",
            f"The file carries Content Credentials (C2PA) signed by {who}{tool}. They say who "
            f"signed and what the signer declared, not that the declaration is true"
            + ("." if cc.state == "trusted" else "; the signer is not on the desk's trust list."),
            "info",
        )
    ]
    if cc.state == "invalid":
        problems = ", ".join(cc.problems) or "validation failed"
        out.append(
            Anomaly(
                "c2pa_invalid",
                f"The Content Credentials no longer match the file ({problems}): the file "
                f"was changed after it was signed, or the signature is broken.",
                "critical",
            )
        )
    if cc.ai_generated:
        by = f" ({', '.join(cc.ai_declared_by)})" if cc.ai_declared_by else ""
        out.append(
            Anomaly(
                "c2pa_ai_generated",
                f"The Content Credentials declare the picture made or altered by generative AI"
                f"{by}: digital source type {', '.join(cc.source_types)}.",
                "critical",
            )
        )
    return out


def _xmp_conflicts(f: _Facts) -> list[Anomaly]:
    raw = f.probe.metadata.raw
    xmp, exif = raw.get("xmp_fields", {}), raw.get("exif", {})
    out = []
    exif_sw, xmp_sw = exif.get("Image Software", "").strip(), xmp.get("exif:Software", "").strip()
    if exif_sw and xmp_sw and exif_sw != xmp_sw:
        out.append(
            Anomaly(
                "software_edit_trace",
                f"EXIF Software says '{exif_sw}' but the XMP "
                f"keeps '{xmp_sw}': the file was re-saved by other software after "
                "capture.",
            )
        )
    loc = f.probe.metadata.location
    xmp_lon = _xmp_angle(xmp.get("exif:GPSLongitude", ""))
    if loc is not None and xmp_lon is not None and (xmp_lon < 0) != (loc.lon < 0):
        out.append(
            Anomaly(
                "xmp_exif_conflict",
                f"XMP gives longitude {xmp_lon:+.5f} but EXIF "
                f"gives {loc.lon:+.5f}: the XMP lost the hemisphere; EXIF is used.",
            )
        )
    return out


def _xmp_angle(text: str) -> float | None:
    """XMP GPS 'DDD,MM.mmk' or 'DDD,MM,SSk'; without the k (N/S/E/W) letter it reads as E/N."""
    m = re.match(
        r"^\s*(\d+)[,\s]+(\d+(?:[.,]\d+)?)(?:[,\s]+(\d+(?:[.,]\d+)?))?\s*([NSEWnsew])?", text
    )
    if not m:
        return None
    deg, mins = float(m.group(1)), float(m.group(2).replace(",", "."))
    secs = float((m.group(3) or "0").replace(",", "."))
    value = deg + mins / 60 + secs / 3600
    return -value if (m.group(4) or "").upper() in ("S", "W") else value


def _probe_limits(f: _Facts) -> list[Anomaly]:
    """What the probe did not read because a limit stopped it (`media/bounded.py`, the box
    reader's depth and count bounds, the EXIF read budget), or will not decode (`max_pixels`)."""
    raw = f.probe.metadata.raw
    parts = [_hit_text(h) for h in raw.get("probe_limits") or [] if isinstance(h, dict)]
    if raw.get("boxes", {}).get("cut_short"):
        parts.append(f"the box reader stopped ({raw['boxes']['cut_short']})")
    if raw.get("exif_cut_short"):
        parts.append(f"EXIF was not read ({raw['exif_cut_short']})")
    m = f.probe.media
    if m.width and m.height and m.width * m.height > f.cfg.max_pixels:
        parts.append(
            f"the picture is {m.width}x{m.height} ({m.width * m.height / 1e6:.0f} megapixels), "
            f"over the max_pixels cap ({f.cfg.max_pixels / 1e6:g} megapixels): its pixels are "
            "not decoded (no keyframe, hash or re-encoded copy)"
        )
    if not parts:
        return []
    return [
        Anomaly(
            "probe_limit",
            "Reading this file hit a limit: " + "; ".join(parts) + ". What is reported is "
            "incomplete; a real camera file never needs this much work, so it may be crafted.",
        )
    ]


def _hit_text(hit: dict[str, Any]) -> str:
    what = {"time": "the time limit", "memory": "the memory limit", "crashed": "a crash"}
    text = f"{what.get(str(hit.get('limit')), 'a limit')} ({hit.get('detail')}) stopped the "
    text += str(hit.get("stage"))
    if hit.get("not_run"):
        text += f", so {', '.join(map(str, hit['not_run']))} did not run"
    return text


def _conflicting_boxes(f: _Facts) -> list[Anomaly]:
    """A value the file states twice with two answers (a second moov, a second XMP packet)."""
    found = f.probe.metadata.raw.get("boxes", {}).get("conflicts") or []
    if not found:
        return []
    shown = [
        f"{c.get('field')} is {_short(c.get('used'))} in {c.get('used_at')} (used, as players "
        f"do) but {_short(c.get('other'))} in {c.get('other_at')}"
        for c in found[:3]
        if isinstance(c, dict)
    ]
    more = f" (and {len(found) - 3} more)" if len(found) > 3 else ""
    return [
        Anomaly(
            "conflicting_boxes",
            "The file states the same metadata twice and the copies disagree: "
            + "; ".join(shown)
            + f"{more}. Players and ffprobe read only the first copy, so a second one slips "
            "past them: the file was edited, perhaps to show tools a different value. Every "
            "copy is kept in the raw tags.",
            "critical",
        )
    ]


def _exif_damaged(f: _Facts) -> list[Anomaly]:
    damage = f.probe.metadata.raw.get("exif_damage") or []
    if not damage:
        return []
    shown = "; ".join(str(d) for d in damage[:3]) + (" ..." if len(damage) > 3 else "")
    return [
        Anomaly(
            "exif_damaged",
            f"The EXIF block is damaged (exifread: {shown}): some tags may be missing or "
            "wrong, by corruption in transit or by editing.",
        )
    ]


def _dates_out_of_range(f: _Facts) -> list[Anomaly]:
    raw = f.probe.metadata.raw
    bad = [
        *(raw.get("dates_out_of_range") or []),
        *(raw.get("boxes", {}).get("out_of_range") or []),
    ]
    if not bad:
        return []
    shown = "; ".join(f"{d.get('field')}: {d.get('value')}" for d in bad[:3] if isinstance(d, dict))
    return [
        Anomaly(
            "date_out_of_range",
            f"A date in the file cannot be a real clock ({shown}). It was not used as the "
            "creation time in UTC; the file was damaged or its dates were forged.",
        )
    ]


def _short(value: Any, limit: int = 80) -> str:
    text = " ".join(str(value).split())
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def _created(text: str | None) -> tuple[datetime | None, bool]:
    """The creation time as aware UTC, and whether it was zoneless (no 'Z')."""
    if not text:
        return None, False
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return _aware(dt), dt.tzinfo is None
    except (ValueError, OverflowError):
        return None, False


def _aware(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _int(text: Any) -> int | None:
    try:
        return int(str(text).strip("[] "))
    except (TypeError, ValueError):
        return None


CHECKS: tuple[Callable[[_Facts], list[Anomaly]], ...] = (
    _no_metadata,
    _null_island,
    _creation_times,
    _reencoded,
    _xmp_conflicts,
    _exif_dimensions,
    _truncated,
    _no_frames,
    _corrupt,
    _vfr,
    _rotated,
    _content_credentials,
    _probe_limits,
    _conflicting_boxes,
    _exif_damaged,
    _dates_out_of_range,
)

"""Plain text of report facts, shared by the HTML view, the Markdown and the terminal: times,
sizes, places, and where footage was first seen."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any


def timecode(seconds: float) -> str:
    """`62.345` -> `"00:01:02.345"` (hours grow past 99 if needed).

    Raises:
        ValueError: a negative, infinite or NaN time.
    """
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"not a time position: {seconds!r}")
    total_ms = round(seconds * 1000)
    hours, rest = divmod(total_ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, ms = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{ms:03d}"


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{n:,} bytes" if unit == "bytes" else f"{size:.1f} {unit} ({n:,} bytes)"
        size /= 1024
    return f"{n:,} bytes"


def show(value: Any) -> str:
    """Plain text for a table cell; None is an em dash so 'absent' never looks like 'empty'."""
    if value is None:
        return "\u2014"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value)) if value else "\u2014"
    return str(value)


def location_text(loc: dict[str, Any] | None) -> str:
    if loc is None:
        return "\u2014"
    alt = f", {loc['alt_m']:g} m" if loc.get("alt_m") is not None else ""
    src = f" [{loc['source']}]" if loc.get("source") else ""
    return f"{loc['lat']:.6f}, {loc['lon']:.6f}{alt}{src}"


def osm_link(loc: dict[str, Any] | None) -> str | None:
    """A plain OpenStreetMap link a reader may click; the report never fetches it."""
    if loc is None:
        return None
    lat, lon = float(loc["lat"]), float(loc["lon"])
    return (
        f"https://www.openstreetmap.org/?mlat={lat:.6f}&mlon={lon:.6f}#map=16/{lat:.6f}/{lon:.6f}"
    )


def first_seen(matches: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The matched clip acquired first: where the footage was seen before anywhere else (the
    one fact a desk reads first). None without matches or acquisition times."""
    dated = [m for m in matches if m.get("earliest_acquired_at")]
    if not dated:
        return None
    return min(dated, key=lambda m: (m["earliest_acquired_at"], str(m["clip_id"])))


def seen_before_line(report: dict[str, Any]) -> str | None:
    """One line for the terminal: where this footage was first seen and how much earlier than
    this clip's first acquisition, e.g. "seen before: clip 1 (a.mp4), acquired 3 days earlier
    from https://t.me/x/1 (picture and sound)" (and whether this clip is it mirrored); when
    only the sound matched anything, "shares sound with: clip 2 ..."; None without matches."""
    matches = report.get("matches") or []
    footage = [m for m in matches if m.get("modality", "picture") != "sound"]
    first = first_seen(footage or matches)
    if first is None:
        return None
    name = f" ({first['filename']})" if first.get("filename") else ""
    when = f"acquired {first['earliest_acquired_at']}"
    ours = [a.get("at") for a in report.get("acquisitions") or [] if a.get("at")]
    try:
        gap = (_utc(min(ours)) - _utc(first["earliest_acquired_at"])).total_seconds()
        when = f"acquired {duration_text(gap)} earlier" if gap >= 0 else when
    except ValueError:
        pass
    where = f" from {first['source_url']}" if first.get("source_url") else ""
    others = len(matches) - 1
    what = "footage or sound" if any(m.get("modality") == "sound" for m in matches) else "footage"
    more = f"; {others} more earlier clip(s) share {what}" if others > 0 else ""
    flipped = "; this clip is it mirrored (flipped left to right)" if first.get("mirrored") else ""
    head, senses = SENSES_LINE.get(first.get("modality", ""), ("seen before", ""))
    return f"{head}: clip {first['clip_id']}{name}, {when}{where}{senses}{flipped}{more}"


# How the terminal line names what agrees (absent `modality`: a report before sound matching).
SENSES_LINE = {
    "picture": ("seen before", " (picture)"),
    "both": ("seen before", " (picture and sound)"),
    "sound": ("shares sound with", " (sound only: not the same footage)"),
}


def _utc(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def duration_text(seconds: float) -> str:
    """3 days, 5 h, 12 min, 4 s: the largest unit that is at least 1."""
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            n = seconds / size
            return f"{n:.0f} {unit}" if n >= 10 or unit != "days" else f"{n:.1f} {unit}"
    return f"{seconds:.0f} s"

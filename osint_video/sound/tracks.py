"""What a file's container says about its sound: audio tracks, and the picture's time line.

Read from ffprobe's answer (the probe's, cached: no second run). `order` is a track's place
among the audio streams, the `a:N` that ffmpeg decodes it by.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..models import SoundTrack


@dataclass(frozen=True)
class Timeline:
    """The picture's declared start and duration (seconds; None: not said)."""

    start_s: float | None
    duration_s: float | None


def audio_tracks(info: dict[str, Any]) -> list[SoundTrack]:
    """Every audio stream of an ffprobe answer, in stream order."""
    audio = [s for s in info.get("streams") or [] if s.get("codec_type") == "audio"]
    return [_track(order, s) for order, s in enumerate(audio)]


def _track(order: int, s: dict[str, Any]) -> SoundTrack:
    tags = {str(k).lower(): v for k, v in (s.get("tags") or {}).items()}
    return SoundTrack(
        order=order,
        index=int(s.get("index", order)),
        codec=_text(s.get("codec_name")),
        channels=_int(s.get("channels")),
        channel_layout=_text(s.get("channel_layout")),
        sample_rate=_int(s.get("sample_rate")),
        bit_rate=_int(s.get("bit_rate")),
        language=_text(tags.get("language")),
        title=_text(tags.get("title") or tags.get("handler_name")),
        start_s=_seconds(s.get("start_time")),
        duration_s=_seconds(s.get("duration")) or _seconds(tags.get("duration")),
    )


def picture_timeline(info: dict[str, Any]) -> Timeline:
    """The main video stream's declared start and duration (the largest, not cover art)."""
    videos = [
        s
        for s in info.get("streams") or []
        if s.get("codec_type") == "video" and not (s.get("disposition") or {}).get("attached_pic")
    ]
    if not videos:
        return Timeline(None, None)
    v = max(videos, key=lambda s: (s.get("width") or 0) * (s.get("height") or 0))
    duration = _seconds(v.get("duration")) or _seconds((v.get("tags") or {}).get("DURATION"))
    return Timeline(_seconds(v.get("start_time")), duration)


def _seconds(value: Any) -> float | None:
    """A time as ffprobe writes it: "12.5" or a Matroska tag "00:01:02.500000000"."""
    if value is None:
        return None
    text = str(value)
    try:
        if ":" in text:
            h, m, s = text.split(":")
            out = int(h) * 3600 + int(m) * 60 + float(s)
        else:
            out = float(text)
    except ValueError:
        return None
    return round(out, 6) if math.isfinite(out) else None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "", "unknown") else None

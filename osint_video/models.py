"""Typed values passed between pipeline steps.

Each step takes and returns these frozen dataclasses; new information means a new field, never a
new dict key. The one loose dict is `Metadata.raw`: the verbatim container/EXIF tags, kept as
evidence exactly as the tools returned them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

MediaKind = Literal["video", "image"]


@dataclass(frozen=True)
class Location:
    """A WGS84 position; south and west are negative. `source` names the tag it came from."""

    lat: float
    lon: float
    alt_m: float | None = None
    source: str = ""


@dataclass(frozen=True)
class MediaInfo:
    """What the decoder will see: geometry, timing, codec.

    `rotation_deg` is clockwise degrees needed to display upright (ExifTool's convention; the
    opposite sign of ffprobe's display matrix). `fps` is the average rate, `fps_nominal` the
    container's declared (r_frame_rate) rate; on VFR phone video these differ widely.
    `frame_count` is what the container declares (None when it does not say).
    """

    kind: MediaKind
    container: str | None = None
    duration_s: float | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    fps_nominal: float | None = None
    codec: str | None = None
    rotation_deg: int = 0
    frame_count: int | None = None
    variable_frame_rate: bool | None = None
    has_video_stream: bool = True


@dataclass(frozen=True)
class Metadata:
    """Normalised provenance metadata; every clock kept apart.

    `creation_time` is UTC ISO 8601 when the file states a zone (mvhd is UTC by spec);
    `creation_time_local` and `creation_utc_offset` keep the device's own wall clock where the
    file has one (Apple creationdate, EXIF OffsetTime). `creation_time_source` names the tag.
    """

    creation_time: str | None = None
    creation_time_source: str | None = None
    creation_time_local: str | None = None
    creation_utc_offset: str | None = None
    location: Location | None = None
    make: str | None = None
    model: str | None = None
    software: str | None = None
    encoder: str | None = None
    handler_names: tuple[str, ...] = ()
    # C2PA Content Credentials (`media/credentials.py`), None when the file has none
    content_credentials: dict[str, Any] | None = field(default=None, hash=False, compare=False)
    raw: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class ProbeResult:
    """Everything read from a file without decoding its pixels."""

    media: MediaInfo
    metadata: Metadata


@dataclass(frozen=True)
class Anomaly:
    """A fact about the file a verifier should look at; `code` is stable, `message` is prose."""

    code: str
    message: str
    severity: Literal["info", "warning", "critical"] = "warning"


@dataclass(frozen=True)
class Shot:
    """Frames [start_frame, end_frame] inclusive, 0-based decode order; times from PTS."""

    index: int
    start_frame: int
    end_frame: int
    start_s: float
    end_s: float


@dataclass(frozen=True)
class Cut:
    """A shot boundary: `frame` is the first frame of the new shot."""

    frame: int
    time_s: float
    score: float = 0.0


@dataclass(frozen=True)
class DecodeStats:
    """What decoding actually found, to compare with what the container declared."""

    frames_decoded: int
    last_pts_s: float | None
    corrupt_frames: int = 0
    min_interval_s: float | None = None
    max_interval_s: float | None = None


@dataclass(frozen=True)
class KeyframeImage:
    """A keyframe written to disk (PNG, upright), before hashing."""

    index: int
    shot: int
    frame: int
    time_s: float
    path: str
    sharpness: float = 0.0


@dataclass(frozen=True)
class TextWord:
    """One word of on-screen text: as read, tesseract's confidence (0-1), its box in pixels
    of the upright frame it was read from (x, y, width, height)."""

    text: str
    confidence: float
    box: tuple[int, int, int, int]


@dataclass(frozen=True)
class OnScreenText:
    """A line of text shown on screen, and when.

    `start_s`..`end_s` is the time it was seen on screen (from the first to the last sample
    that showed it; a text read at a keyframe only has that keyframe's time). `time_s` is the
    frame it was read from (`frame` and `keyframe` are that frame's number and keyframe index
    when it is a keyframe); `box` and the words' boxes are in that frame's upright pixels;
    `language` is "ru", "uk", "en", "other" or None (no letters).
    """

    text: str
    language: str | None
    start_s: float
    end_s: float
    time_s: float
    frame: int | None
    keyframe: int | None
    box: tuple[int, int, int, int]
    words: tuple[TextWord, ...]
    confidence: float


@dataclass(frozen=True)
class CustodyEvent:
    """One step of the chain of custody: who did what to which bytes, when, with which tools."""

    seq: int
    at: str
    actor: str
    action: str
    details: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

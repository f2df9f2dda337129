"""Typed values passed between pipeline steps.

Each step takes and returns these frozen dataclasses; new information means a new field, never a
new dict key. The one loose dict is `Metadata.raw`: the verbatim container/EXIF tags, kept as
evidence exactly as the tools returned them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
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
class ContentCredentials:
    """The active manifest of a file's C2PA store, in a verifier's terms (`media/credentials.py`
    reads it).

    `state`: `valid` (signature and hashes check out), `trusted` (and the signer is on a trust
    list), `invalid` (something changed after signing, or the signature fails: see
    `problems`), `unreadable` (a manifest store is there but cannot be parsed), `remote` (the
    file points to a manifest stored at `remote_url`, not fetched). `actions` are the active
    manifest's; `source_types`, `ai_generated` and `ai_declared_by` cover every manifest of
    the store, the ingredients' too.
    """

    state: str
    signer: str | None = None
    issuer: str | None = None
    signed_at: str | None = None
    generator: str | None = None
    title: str | None = None
    actions: tuple[dict[str, Any], ...] = ()
    source_types: tuple[str, ...] = ()
    ai_generated: bool = False
    ai_declared_by: tuple[str, ...] = ()  # software agents of the actions that declare it
    problems: tuple[str, ...] = ()
    manifests: int = 0
    remote_url: str | None = None
    ingredients: tuple[dict[str, Any], ...] = ()

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("actions", "source_types", "problems", "ingredients", "ai_declared_by"):
            out[key] = list(getattr(self, key))
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ContentCredentials:
        """The summary as report.json and the case store hold it (unknown keys ignored)."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for key in ("actions", "source_types", "problems", "ingredients", "ai_declared_by"):
            values[key] = tuple(values.get(key) or ())
        return cls(**values)


def describe_credentials(cc: ContentCredentials | Mapping[str, Any] | None) -> str:
    """One line for a C2PA summary: state, signer, tool, what it declares, what it records
    (reports and annotation tasks show it; an em dash without credentials).

    Takes the typed summary, or the `content_credentials` object of a report.json.
    """
    if not cc:
        return "\u2014"
    if not isinstance(cc, ContentCredentials):
        cc = ContentCredentials.from_json(cc)
    parts = [cc.state or "?"]
    if cc.remote_url:
        parts.append(f"manifest stored at {cc.remote_url} (not fetched)")
    if cc.signer or cc.issuer:
        parts.append(f"signed by {cc.signer or '?'}" + (f" ({cc.issuer})" if cc.issuer else ""))
    if cc.signed_at:
        parts.append(f"at {cc.signed_at}")
    if cc.generator:
        parts.append(f"with {cc.generator}")
    if cc.ai_generated:
        parts.append("declares generative AI: " + ", ".join(cc.source_types))
    acts = [
        str(a.get("action")) + (f" by {a['software_agent']}" if a.get("software_agent") else "")
        for a in cc.actions
    ]
    if acts:
        parts.append("actions: " + "; ".join(acts))
    made_from = [
        str(i.get("title") or "?") + (f" (signed by {i['signer']})" if i.get("signer") else "")
        for i in cc.ingredients
    ]
    if made_from:
        parts.append("made from: " + "; ".join(made_from))
    if cc.problems:
        parts.append("problems: " + ", ".join(cc.problems))
    return " \u00b7 ".join(parts)


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
    content_credentials: ContentCredentials | None = field(default=None, hash=False, compare=False)
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
class SoundTrack:
    """One audio track of a file: what its container declares and what decoding it found.

    `order` is its place among the file's audio streams (ffmpeg's `a:N`), `index` its stream
    index. `start_s`/`duration_s` are declared (None: not said), `decoded_s` is how much sound
    decoded. `fingerprint` says what came of fingerprinting it: "made", "too_short" (under
    ~3 s: Chromaprint needs 2.7 s for one sub-fingerprint), "undecodable", "not_taken" (past
    `[sound] max_tracks`) or "off". `items` sub-fingerprints were made, `informative` of them
    carry information (used for matching); `truncated`: cut at `[sound] max_duration_s`.
    """

    order: int
    index: int
    codec: str | None = None
    channels: int | None = None
    channel_layout: str | None = None
    sample_rate: int | None = None
    bit_rate: int | None = None
    language: str | None = None
    title: str | None = None
    start_s: float | None = None
    duration_s: float | None = None
    decoded_s: float | None = None
    fingerprint: str = "made"
    items: int = 0
    informative: int = 0
    truncated: bool = False
    error: str | None = None


@dataclass(frozen=True)
class SoundInfo:
    """The sound of a clip (`steps/sound.py`): its tracks, and what the picture did meanwhile.

    `picture_start_s`/`picture_duration_s` are the video stream's (declared); `picture_still`
    is True when every sampled picture looks alike (a still with sound added), None when the
    picture was not sampled. `algorithm` names the fingerprint (`chromaprint:2`), `item_s` the
    time between sub-fingerprints and `span_s` the sound each one covers.
    """

    tracks: tuple[SoundTrack, ...] = ()
    algorithm: str = ""
    item_s: float = 0.0
    span_s: float = 0.0
    picture_start_s: float | None = None
    picture_duration_s: float | None = None
    picture_still: bool | None = None
    screen_recording: str | None = None  # what said so (a tag's value), None: nothing did

    @property
    def fingerprinted(self) -> tuple[SoundTrack, ...]:
        return tuple(t for t in self.tracks if t.fingerprint == "made")


@dataclass(frozen=True)
class CustodyEvent:
    """One step of the chain of custody: who did what to which bytes, when, with which tools.

    The one event type: as stored, as hashed (`custody.chain`), and as report.json lists it.
    `prev_hash` and `hash` chain it to the clip's previous event.
    """

    seq: int
    at: str
    actor: str
    action: str
    details: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    prev_hash: str | None = None
    hash: str | None = None

    @classmethod
    def from_report(cls, entry: Mapping[str, Any]) -> CustodyEvent:
        return cls(
            int(entry["seq"]),
            str(entry["at"]),
            str(entry["actor"]),
            str(entry["action"]),
            dict(entry["details"]),
            entry.get("prev_hash"),
            entry.get("hash"),
        )


# -- the read model of a clip (`store/records.py` builds it from the case store) ----------


@dataclass(frozen=True)
class AcquisitionRecord:
    """Who brought the file, from where, when and why. `source_path` and `link_target` are as
    given on the desk's machine (reports publish their names and hashes only); fields whose
    original bytes were not UTF-8 keep them in `original_bytes` ({field: base64})."""

    at: datetime
    operator: str
    case: str | None = None
    source_path: str | None = None
    source_url: str | None = None
    note: str | None = None
    link_target: str | None = None
    original_bytes: dict[str, str] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class SourcePage:
    """Where a URL intake found the clip (yt-dlp's info JSON)."""

    url: str | None = None
    platform: str | None = None
    uploader: str | None = None
    uploaded_at: str | None = None
    title: str | None = None
    platform_id: str | None = None


@dataclass(frozen=True)
class KeyframeRecord:
    """A keyframe as stored: `path` is workspace-relative; hashes say what made them
    (`phash:64:...`); `duplicate_of` is the index of the keyframe it repeats in this clip."""

    index: int
    shot: int
    frame: int
    time_s: float
    path: str
    phash: str | None
    dhash: str | None
    duplicate_of: int | None
    informative: bool
    sharpness: float


@dataclass(frozen=True)
class MatchRecord:
    """An earlier clip sharing footage with this one; `entry` is the report's matches[] entry
    as archive matching wrote it (ranges, frames, distances, mirrored, first acquisition)."""

    other_clip_id: int
    score: float
    entry: dict[str, Any] = field(hash=False, compare=False)


@dataclass(frozen=True)
class DerivedFiles:
    """The clip's files in its derived folder, workspace-relative (None: not made)."""

    stripped_copy: str | None = None
    contact_sheet: str | None = None
    html_report: str | None = None
    report_json: str | None = None
    c2pa_thumbnail: str | None = None  # the signer's thumbnail, as embedded


@dataclass(frozen=True)
class ClipRecord:
    """Everything the case store knows of one clip, typed: what reports, annotation tasks,
    archive matching and the web desk read (never ORM rows or the JSON columns' dicts).

    `media`, `metadata` are None before the clip was probed in processing; `onscreen_text` is
    None when its text was never read (processed by a version before that step), `sound` when
    its sound was never analysed.
    """

    id: int
    sha256: str
    size_bytes: int
    filename: str
    kind: MediaKind
    evidence_path: str
    status: str
    error: str | None
    created_at: datetime
    updated_at: datetime
    priority: str
    assignee: str | None
    duplicate_of: int | None
    original_bytes: dict[str, str]
    acquisitions: tuple[AcquisitionRecord, ...]
    source: SourcePage | None
    media: MediaInfo | None
    metadata: Metadata | None
    anomalies: tuple[Anomaly, ...]
    decode: DecodeStats | None
    shots: tuple[Shot, ...]
    keyframes: tuple[KeyframeRecord, ...]
    onscreen_text: tuple[OnScreenText, ...] | None
    matches: tuple[MatchRecord, ...]
    sound: SoundInfo | None
    custody: tuple[CustodyEvent, ...]
    derived: DerivedFiles

    @property
    def first_acquired_at(self) -> datetime:
        return min((a.at for a in self.acquisitions), default=self.created_at)

    @property
    def cases(self) -> tuple[str, ...]:
        """The cases it was acquired for, in order, each once."""
        return tuple(dict.fromkeys(a.case for a in self.acquisitions if a.case))

    @property
    def source_url(self) -> str | None:
        """The first source URL it was acquired from."""
        return next((a.source_url for a in self.acquisitions if a.source_url), None)

    @property
    def unique_keyframes(self) -> tuple[KeyframeRecord, ...]:
        return tuple(k for k in self.keyframes if k.duplicate_of is None)

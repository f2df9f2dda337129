"""The read model of a clip: the case store's rows turned into the typed values of `models.py`.

What the reports, the annotators' tasks, archive matching and the web desk read about a clip is
a `ClipRecord`, not ORM rows and `clip.media or {}` dicts: one place knows how a row is stored
(JSON columns, workspace-relative paths, lossless names), every reader gets typed fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ..models import (
    AcquisitionRecord,
    Anomaly,
    ClipRecord,
    ContentCredentials,
    CustodyEvent,
    DecodeStats,
    DerivedFiles,
    KeyframeRecord,
    Location,
    MatchRecord,
    MediaInfo,
    Metadata,
    OnScreenText,
    Shot,
    SoundInfo,
    SoundTrack,
    SourcePage,
    TextWord,
)
from .schema import AcquisitionRow, ClipRow, CustodyRow, KeyframeRow

PRIORITY_NAMES = {0: "low", 1: "normal", 2: "high", 3: "urgent"}  # desk/workflow.PRIORITIES


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def iso(value: datetime) -> str:
    """A stored time as report.json and custody write it (UTC, microseconds, `Z`)."""
    return as_utc(value).isoformat(timespec="microseconds").replace("+00:00", "Z")


def to_record(row: ClipRow) -> ClipRecord:
    """The typed record of a clip row loaded with its acquisitions, shots, keyframes, custody
    and matches (`CaseStore.load`)."""
    return ClipRecord(
        id=row.id,
        sha256=row.sha256,
        size_bytes=row.size_bytes,
        filename=row.filename,
        kind=row.kind,  # type: ignore[arg-type]
        evidence_path=row.evidence_path,
        status=row.status,
        error=row.error,
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
        priority=PRIORITY_NAMES.get(row.priority, str(row.priority)),
        assignee=row.assignee,
        duplicate_of=row.duplicate_of,
        original_bytes=dict(row.original_bytes or {}),
        acquisitions=tuple(_acquisition(a) for a in row.acquisitions),
        source=_source(row.source),
        media=_media(row.media, row.kind),
        metadata=metadata_of(row.meta),
        anomalies=tuple(Anomaly(**a) for a in row.anomalies or []),
        decode=DecodeStats(**row.decode) if row.decode else None,
        shots=tuple(
            Shot(s.index, s.start_frame, s.end_frame, s.start_s, s.end_s) for s in row.shots
        ),
        keyframes=tuple(_keyframe(k) for k in row.keyframes),
        onscreen_text=(
            None if row.onscreen_text is None else tuple(text_of(t) for t in row.onscreen_text)
        ),
        matches=tuple(
            MatchRecord(m.other_clip_id, float(m.score), dict(m.details)) for m in row.matches
        ),
        sound=sound_of(row.sound),
        custody=tuple(custody_event(e) for e in row.custody),
        derived=_derived(row.derived),
    )


def _acquisition(a: AcquisitionRow) -> AcquisitionRecord:
    return AcquisitionRecord(
        at=as_utc(a.at),
        operator=a.operator,
        case=a.case,
        source_path=a.source_path,
        source_url=a.source_url,
        note=a.note,
        link_target=a.link_target,
        original_bytes=dict(a.original_bytes or {}),
    )


SOURCE_KEYS = ("url", "platform", "uploader", "uploaded_at", "title", "platform_id")


def _source(source: Mapping[str, Any] | None) -> SourcePage | None:
    if not source:
        return None
    return SourcePage(**{k: source.get(k) for k in SOURCE_KEYS})


def _fields(cls: type, data: Mapping[str, Any]) -> dict[str, Any]:
    """The keys of `data` that `cls` has (a row written by an older version may lack some,
    and never has more than the dataclass knew then)."""
    names = cls.__dataclass_fields__  # type: ignore[attr-defined]
    return {k: v for k, v in data.items() if k in names}


def _media(media: Mapping[str, Any] | None, kind: str) -> MediaInfo | None:
    if media is None:
        return None
    return MediaInfo(**{"kind": kind, **_fields(MediaInfo, media)})


def metadata_of(meta: Mapping[str, Any] | None) -> Metadata | None:
    """Metadata as stored (JSON) back to its typed form; None when the clip was never probed."""
    if meta is None:
        return None
    values = _fields(Metadata, meta)
    loc = values.get("location")
    values["location"] = Location(**_fields(Location, loc)) if loc else None
    values["handler_names"] = tuple(values.get("handler_names") or ())
    cc = values.get("content_credentials")
    values["content_credentials"] = ContentCredentials.from_json(cc) if cc else None
    values["raw"] = dict(values.get("raw") or {})
    return Metadata(**values)


def sound_of(sound: Mapping[str, Any] | None) -> SoundInfo | None:
    """The stored sound facts back to their typed form; None when never analysed."""
    if sound is None:
        return None
    values = _fields(SoundInfo, sound)
    values["tracks"] = tuple(
        SoundTrack(**_fields(SoundTrack, t)) for t in sound.get("tracks") or []
    )
    return SoundInfo(**values)


def _keyframe(k: KeyframeRow) -> KeyframeRecord:
    return KeyframeRecord(
        index=k.index,
        shot=k.shot,
        frame=k.frame,
        time_s=k.time_s,
        path=k.path,
        phash=k.phash,
        dhash=k.dhash,
        duplicate_of=k.duplicate_of,
        informative=bool(k.informative),
        sharpness=float(k.sharpness or 0.0),
    )


def text_of(item: Mapping[str, Any]) -> OnScreenText:
    """One stored on-screen text item back to its typed form."""
    words = tuple(
        TextWord(str(w["text"]), float(w["confidence"]), tuple(w["box"]))  # type: ignore[arg-type]
        for w in item.get("words") or []
    )
    return OnScreenText(
        text=str(item["text"]),
        language=item.get("language"),
        start_s=float(item["start_s"]),
        end_s=float(item["end_s"]),
        time_s=float(item["time_s"]),
        frame=item.get("frame"),
        keyframe=item.get("keyframe"),
        box=tuple(item["box"]),  # type: ignore[arg-type]
        words=words,
        confidence=float(item["confidence"]),
    )


def custody_event(e: CustodyRow) -> CustodyEvent:
    """A stored event as hashed and reported (its time in ISO form, UTC)."""
    return CustodyEvent(e.seq, iso(e.at), e.actor, e.action, dict(e.details), e.prev_hash, e.hash)


def _derived(derived: Mapping[str, Any] | None) -> DerivedFiles:
    d = derived or {}
    return DerivedFiles(
        stripped_copy=d.get("stripped_copy"),
        contact_sheet=d.get("contact_sheet"),
        html_report=d.get("html_report"),
        report_json=d.get("report_json"),
        c2pa_thumbnail=d.get("c2pa_thumbnail"),
    )

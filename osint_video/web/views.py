"""What the clip and case pages show, built from the case store's read model (`record()`).

Everything here is plain data for the templates (which escape it all): no markup is built in
Python, so a file name, note or metadata tag holding HTML is shown as text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from sqlalchemy import select

from ..annotate.validate import values
from ..desk.workflow import TRANSITIONS
from ..models import ClipRecord
from ..store import annotations as labels
from ..store.cases import CaseStore
from ..store.schema import LsProjectRow, LsTaskRow, MatchRow
from ..workspace import Workspace

SEVERITY = {"critical": 0, "warning": 1, "info": 2}


def mmss(t: float | None) -> str:
    """00:41 (or 1:02:03 past an hour); `-` for nothing."""
    if t is None:
        return "-"
    s = int(round(t))
    h, m, sec = s // 3600, s // 60 % 60, s % 60
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m:02d}:{sec:02d}"


def when(value: datetime | str | None) -> str:
    """A UTC time as `2026-03-01 14:05 UTC`."""
    if value is None:
        return "-"
    if isinstance(value, str):
        return value[:16].replace("T", " ") + " UTC"
    return value.strftime("%Y-%m-%d %H:%M UTC")


def size(n: int | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return str(n)


def pathseg(value: str) -> str:
    """One URL path segment (a case name with `/` or `?` stays one segment)."""
    return quote(str(value), safe="")


FILTERS = {"mmss": mmss, "when": when, "size": size, "pathseg": pathseg}


@dataclass(frozen=True)
class Senses:
    """Which senses agree (`modality`: picture, sound or both; a match from before sound
    matching is picture), the sound's ranges, and where the two disagree. A sound-only match is
    not the same footage ("shares sound with"): a popular sound is laid under unrelated
    pictures."""

    modality: str = "picture"
    sound_ranges: list[dict[str, float]] = field(default_factory=list)
    sound_differs: list[dict[str, float]] = field(default_factory=list)
    picture_differs: list[dict[str, float]] = field(default_factory=list)
    reframed: bool = False

    @property
    def sound_only(self) -> bool:
        return self.modality == "sound"


def _swap(r: dict[str, float]) -> dict[str, float]:
    """A range seen from the other clip: its `this_*` times become `other_*` and back."""
    return {
        "this_start_s": r["other_start_s"],
        "this_end_s": r["other_end_s"],
        "other_start_s": r["this_start_s"],
        "other_end_s": r["this_end_s"],
    }


def _senses(details: dict[str, Any], swapped: bool = False) -> Senses:
    """The senses of a stored match entry (its `details`), in this clip's terms."""

    def ranges(key: str) -> list[dict[str, float]]:
        return [_swap(r) if swapped else dict(r) for r in details.get(key) or []]

    return Senses(
        str(details.get("modality") or "picture"),
        ranges("sound_ranges"),
        ranges("sound_differs"),
        ranges("picture_differs"),
        bool(details.get("picture_reframed")),
    )


@dataclass(frozen=True)
class Side:
    """The other clip of a match, as the side-by-side view shows it."""

    clip_id: int
    filename: str
    case: str | None
    source_url: str | None
    first_acquired_at: str | None
    score: float
    ranges: list[dict[str, float]]  # where the picture matches
    mirrored: bool  # which clip is the flipped one: see `flip_here`
    flip_here: bool
    duplicate: bool = False
    senses: Senses = field(default_factory=Senses)


@dataclass(frozen=True)
class Task:
    kind: str
    frame: int | None
    url: str


@dataclass(frozen=True)
class ClipPage:
    clip: ClipRecord
    anomalies: list[Any]
    metadata: list[tuple[str, str]]
    matches: list[Side]
    seen_later: list[Side]
    annotations: list[dict[str, Any]]
    verdict: Any
    tasks: list[Task]
    moves: list[str]
    downloads: dict[str, bool] = field(default_factory=dict)
    playable: bool = False


def _metadata(clip: ClipRecord) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    m, media = clip.metadata, clip.media
    if media is not None:
        dims = f"{media.width}x{media.height}" if media.width else None
        for k, v in (
            ("container", media.container),
            ("codec", media.codec),
            ("size", dims),
            ("duration", f"{media.duration_s:.2f} s" if media.duration_s else None),
            ("frame rate", f"{media.fps:.3f}" if media.fps else None),
            ("rotation", f"{media.rotation_deg}°" if media.rotation_deg else None),
        ):
            if v:
                out.append((k, str(v)))
    if m is not None:
        loc = m.location
        for k, v in (
            ("created (UTC)", m.creation_time),
            ("created, device clock", m.creation_time_local),
            ("UTC offset", m.creation_utc_offset),
            ("creation time from", m.creation_time_source),
            ("location", f"{loc.lat:.6f}, {loc.lon:.6f} ({loc.source})" if loc else None),
            ("make", m.make),
            ("model", m.model),
            ("software", m.software),
            ("encoder", m.encoder),
            ("handlers", ", ".join(m.handler_names) or None),
        ):
            if v:
                out.append((k, str(v)))
        for k, v in sorted(_flat(_dig(m.raw, "ffprobe", "format_tags"))):
            out.append((f"tag {k}", v))
        for k, v in sorted(_flat(_dig(m.raw, "boxes", "ilst"))):
            out.append((f"item {k}", v))
    return out


def _dig(data: Any, *keys: str) -> Any:
    """data[k1][k2]... where each level is a dict (else None): raw tags are as files gave them."""
    for key in keys:
        data = data.get(key) if isinstance(data, dict) else None
    return data


def _flat(tags: Any) -> list[tuple[str, str]]:
    if not isinstance(tags, dict):
        return []
    return [(str(k), str(v)[:500]) for k, v in tags.items() if not isinstance(v, dict | list)]


def _later(store: CaseStore, clip_id: int) -> list[Side]:
    """Later clips whose matching found this one (their ranges swapped into our terms)."""
    with store.session() as ses:
        rows = ses.execute(
            select(MatchRow.clip_id, MatchRow.score, MatchRow.details)
            .where(MatchRow.other_clip_id == clip_id)
            .order_by(MatchRow.clip_id)
        ).all()
    out = []
    for later_id, score, details in rows:
        facts = store.clip_facts(later_id)
        picture = details.get("picture_ranges", details.get("ranges")) or []
        ranges = [_swap(r) for r in picture]
        mirrored = bool(details.get("mirrored"))
        out.append(
            Side(
                later_id,
                facts["filename"],
                facts["case"],
                facts["source_url"],
                facts["earliest_acquired_at"],
                float(score),
                ranges,
                mirrored,
                flip_here=False,
                duplicate=facts["duplicate_of"] == clip_id,
                senses=_senses(details, swapped=True),
            )
        )
    return out


def _tasks(store: CaseStore, clip_id: int) -> list[Task]:
    with store.session() as ses:
        rows = ses.execute(
            select(
                LsTaskRow.frame,
                LsTaskRow.task_id,
                LsProjectRow.kind,
                LsProjectRow.server,
                LsProjectRow.project_id,
            )
            .join(LsProjectRow, LsProjectRow.id == LsTaskRow.project_row)
            .where(LsTaskRow.clip_id == clip_id, LsTaskRow.task_id.is_not(None))
            .order_by(LsProjectRow.kind, LsTaskRow.frame)
        ).all()
    return [
        Task(kind, frame, f"{server.rstrip('/')}/projects/{pid}/data?task={tid}")
        for frame, tid, kind, server, pid in rows
    ]


def clip_page(ws: Workspace, clip_id: int) -> ClipPage:
    """Everything the clip page shows. Raises NotFound for an unknown clip."""
    clip = ws.cases.record(clip_id)
    anomalies = sorted(clip.anomalies, key=lambda a: SEVERITY.get(a.severity, 3))
    matches = [
        Side(
            m.other_clip_id,
            str(m.entry.get("filename") or ""),
            m.entry.get("case"),
            m.entry.get("source_url"),
            m.entry.get("earliest_acquired_at"),
            m.score,
            list(m.entry.get("picture_ranges", m.entry.get("ranges")) or []),
            bool(m.entry.get("mirrored")),
            flip_here=bool(m.entry.get("mirrored")),
            duplicate=clip.duplicate_of == m.other_clip_id,
            senses=_senses(m.entry),
        )
        for m in clip.matches
    ]
    notes = [
        {
            "level": a.kind,
            "frame": a.frame,
            "annotator": a.annotator,
            "valid": a.valid,
            "problems": a.problems,
            "values": values(a.result),
            "updated_at": a.updated_at or a.created_at,
        }
        for a in labels.annotations_of(ws.cases, clip_id)
    ]
    derived = ws.derived_dir(clip.sha256)
    downloads = {
        "report.json": (derived / "report.json").is_file(),
        "report.json.sig": (derived / "report.json.sig").is_file(),
        "report.html": (derived / "report.html").is_file(),
        "stripped": bool(clip.derived.stripped_copy),
        "keyframes": bool(clip.keyframes),
    }
    return ClipPage(
        clip,
        anomalies,
        _metadata(clip),
        matches,
        _later(ws.cases, clip_id),
        notes,
        labels.verdict_of(ws.cases, clip_id),
        _tasks(ws.cases, clip_id),
        sorted(TRANSITIONS.get(clip.status, frozenset()) - {clip.status}),
        downloads,
        playable=clip.kind == "video" and bool(clip.derived.stripped_copy),
    )

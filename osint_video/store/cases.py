"""The case store: clips, acquisitions, derived rows and custody events, behind a small API.

Every public method is one transaction. The pipeline calls `acquire` (the original is safe and
recorded), then `save_results` or `save_failure` once, so a crash leaves either the previous
state or the new one, never half of each. A clip left in `processing` by a crash is picked up
again by the next triage.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, delete, event, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, selectinload, sessionmaker

from ..errors import NotFound, StoreError
from .schema import AcquisitionRow, Base, ClipRow, CustodyRow, KeyframeRow, ShotRow


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything we store is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def iso(value: datetime) -> str:
    return as_utc(value).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Acquisition:
    """Who brought a file, from where, when, and why."""

    operator: str
    at: datetime
    case: str | None = None
    source_path: str | None = None
    source_url: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class ClipSummary:
    """One row of `queue list`."""

    id: int
    sha256: str
    filename: str
    kind: str
    status: str
    cases: tuple[str, ...]
    acquired_at: str
    duration_s: float | None
    keyframes: int
    unique_keyframes: int
    error: str | None


@dataclass(frozen=True)
class NewEvent:
    """A custody event before it gets its sequence number."""

    action: str
    details: dict[str, Any]


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


class CaseStore:
    """SQLAlchemy-backed store; `url` is any SQLAlchemy URL (SQLite default, PostgreSQL later)."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            if url.startswith("sqlite:///"):
                Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            self.engine: Engine = create_engine(url)
            if self.engine.dialect.name == "sqlite":
                event.listen(self.engine, "connect", _sqlite_pragmas)
            Base.metadata.create_all(self.engine)
        except (SQLAlchemyError, OSError) as exc:
            raise StoreError(f"cannot open the case store {url}: {exc}") from None
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: committed on success, rolled back on any error."""
        with self._sessions() as ses:
            try:
                yield ses
                ses.commit()
            except SQLAlchemyError as exc:
                ses.rollback()
                detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
                raise StoreError(f"case store error: {exc.__class__.__name__}: {detail}") from None
            except BaseException:
                ses.rollback()
                raise

    def close(self) -> None:
        self.engine.dispose()

    # -- writes -----------------------------------------------------------------------------

    def acquire(
        self,
        *,
        sha256: str,
        size_bytes: int,
        kind: str,
        filename: str,
        evidence_path: str,
        acquisition: Acquisition,
        event: NewEvent,
    ) -> tuple[int, bool]:
        """Record an acquisition, creating the clip on first sight. Returns (clip id, is new)."""
        with self.session() as ses:
            clip = ses.scalar(select(ClipRow).where(ClipRow.sha256 == sha256))
            is_new = clip is None
            if clip is None:
                now = utcnow()
                clip = ClipRow(
                    sha256=sha256,
                    size_bytes=size_bytes,
                    kind=kind,
                    filename=filename,
                    evidence_path=evidence_path,
                    status="queued",
                    created_at=now,
                    updated_at=now,
                )
                ses.add(clip)
                ses.flush()
            ses.add(
                AcquisitionRow(
                    clip_id=clip.id,
                    at=acquisition.at,
                    operator=acquisition.operator,
                    case=acquisition.case,
                    source_path=acquisition.source_path,
                    source_url=acquisition.source_url,
                    note=acquisition.note,
                )
            )
            self._append_events(ses, clip.id, acquisition.operator, [event])
            return clip.id, is_new

    def set_status(self, clip_id: int, status: str, *, error: str | None = None) -> None:
        with self.session() as ses:
            clip = self._get(ses, clip_id)
            clip.status, clip.error, clip.updated_at = status, error, utcnow()

    def save_results(
        self,
        clip_id: int,
        *,
        actor: str,
        status: str,
        fields: dict[str, Any],
        shots: list[dict[str, Any]],
        keyframes: list[dict[str, Any]],
        events: list[NewEvent],
        error: str | None = None,
    ) -> None:
        """Replace a clip's derived data and append its custody events, atomically."""
        with self.session() as ses:
            clip = self._get(ses, clip_id)
            for key, value in fields.items():
                setattr(clip, key, value)
            ses.execute(delete(ShotRow).where(ShotRow.clip_id == clip_id))
            ses.execute(delete(KeyframeRow).where(KeyframeRow.clip_id == clip_id))
            ses.add_all([ShotRow(clip_id=clip_id, **s) for s in shots])
            ses.add_all([KeyframeRow(clip_id=clip_id, **k) for k in keyframes])
            clip.status, clip.error, clip.updated_at = status, error, utcnow()
            self._append_events(ses, clip_id, actor, events)

    def update_derived(self, clip_id: int, derived: dict[str, Any]) -> None:
        with self.session() as ses:
            clip = self._get(ses, clip_id)
            clip.derived = {**(clip.derived or {}), **derived}

    def append_events(self, clip_id: int, actor: str, events: list[NewEvent]) -> None:
        with self.session() as ses:
            self._append_events(ses, clip_id, actor, events)

    def _append_events(
        self, ses: Session, clip_id: int, actor: str, events: list[NewEvent]
    ) -> None:
        last = ses.scalar(select(func.max(CustodyRow.seq)).where(CustodyRow.clip_id == clip_id))
        seq = last or 0
        for ev in events:
            seq += 1
            ses.add(
                CustodyRow(
                    clip_id=clip_id,
                    seq=seq,
                    at=utcnow(),
                    actor=actor,
                    action=ev.action,
                    details=ev.details,
                )
            )

    # -- reads ------------------------------------------------------------------------------

    def _get(self, ses: Session, clip_id: int) -> ClipRow:
        clip = ses.get(ClipRow, clip_id)
        if clip is None:
            raise NotFound(f"no clip with id {clip_id}")
        return clip

    def load(self, clip_id: int) -> ClipRow:
        """A clip with every related row loaded (detached, safe to read after the session)."""
        with self.session() as ses:
            stmt = (
                select(ClipRow)
                .where(ClipRow.id == clip_id)
                .options(
                    selectinload(ClipRow.acquisitions),
                    selectinload(ClipRow.shots),
                    selectinload(ClipRow.keyframes),
                    selectinload(ClipRow.custody),
                    selectinload(ClipRow.matches),
                )
            )
            clip = ses.scalar(stmt)
            if clip is None:
                raise NotFound(f"no clip with id {clip_id}")
            return clip

    def resolve(self, ref: str) -> int:
        """A clip id (digits) or a unique prefix (>= 4 hex digits) of its SHA-256.

        Raises:
            NotFound: nothing matches, or a prefix matches several clips.
        """
        ref = ref.strip().lower()
        with self.session() as ses:
            if ref.isdigit() and ses.get(ClipRow, int(ref)) is not None:
                return int(ref)
            if len(ref) < 4 or any(c not in "0123456789abcdef" for c in ref):
                raise NotFound(
                    f"no clip {ref!r}: give a clip id or at least 4 hex digits of its sha256"
                )
            ids = ses.scalars(
                select(ClipRow.id).where(ClipRow.sha256.like(f"{ref}%")).limit(3)
            ).all()
        if not ids:
            raise NotFound(f"no clip matches {ref!r}")
        if len(ids) > 1:
            raise NotFound(f"{ref!r} matches several clips: give more digits of the sha256")
        return ids[0]

    def list_clips(
        self, *, case: str | None = None, status: str | None = None
    ) -> list[ClipSummary]:
        with self.session() as ses:
            stmt = (
                select(ClipRow)
                .options(selectinload(ClipRow.acquisitions), selectinload(ClipRow.keyframes))
                .order_by(ClipRow.id)
            )
            if status:
                stmt = stmt.where(ClipRow.status == status)
            if case:
                stmt = stmt.where(ClipRow.acquisitions.any(AcquisitionRow.case == case))
            return [self._summary(c) for c in ses.scalars(stmt)]

    @staticmethod
    def _summary(clip: ClipRow) -> ClipSummary:
        cases = tuple(dict.fromkeys(a.case for a in clip.acquisitions if a.case))
        first = min((as_utc(a.at) for a in clip.acquisitions), default=as_utc(clip.created_at))
        unique = sum(1 for k in clip.keyframes if k.duplicate_of is None)
        return ClipSummary(
            clip.id,
            clip.sha256,
            clip.filename,
            clip.kind,
            clip.status,
            cases,
            iso(first),
            clip.duration_s,
            len(clip.keyframes),
            unique,
            clip.error,
        )

"""The case store: clips, acquisitions, derived rows and custody events, behind a small API.

Every public method is one transaction. The pipeline calls `acquire` (the original is safe and
recorded), then `save_results` or `save_failure` once, so a crash leaves either the previous
state or the new one, never half of each. A clip left in `processing` by a crash is picked up
again by the next triage.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, selectinload, sessionmaker

from .. import lossless
from ..custody.chain import GENESIS, event_hash, normalise, redact_details
from ..errors import NotFound, StoreError
from ..models import ClipRecord, CustodyEvent
from ..tools import tool_versions
from . import migrate
from .locks import Locks
from .records import PRIORITY_NAMES, as_utc, custody_event, iso, to_record
from .schema import AcquisitionRow, ClipRow, CustodyRow, KeyframeRow, ShotRow


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Acquisition:
    """Who brought a file, from where, when, and why.

    Text may carry bytes that are not UTF-8 (file names, arguments: Python's surrogateescape
    form); `CaseStore.acquire` stores it readable with the exact bytes beside it (`lossless`).
    `source_path` is the path as given; `link_target` where it led when it was a symlink.
    """

    operator: str
    at: datetime
    case: str | None = None
    source_path: str | None = None
    source_url: str | None = None
    note: str | None = None
    link_target: str | None = None

    def stored_fields(self) -> tuple[dict[str, str | None], dict[str, str]]:
        """The text fields as stored (readable) and {field: base64} of those not UTF-8."""
        return lossless.split(
            {
                "operator": self.operator,
                "case": self.case,
                "source_path": self.source_path,
                "source_url": self.source_url,
                "note": self.note,
                "link_target": self.link_target,
            }
        )


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
    duplicate_of: int | None = None
    priority: str = "normal"
    assignee: str | None = None
    # {"filename": base64} when the file name was not valid UTF-8 (`lossless`).
    original_bytes: dict[str, str] | None = None


# The clip columns processing sets (`save_results`); the rest belong to intake and the desk.
RESULT_FIELDS = (
    "media",
    "meta",
    "anomalies",
    "decode",
    "duration_s",
    "derived",
    "onscreen_text",
    "onscreen_search",
    "sound",
)


@dataclass(frozen=True)
class NewEvent:
    """A custody event before it gets its sequence number."""

    action: str
    details: dict[str, Any]


def _event_details(details: dict[str, Any]) -> dict[str, Any]:
    """What an event records beyond the step's own details: the host and the tool versions.

    Text that is not valid UTF-8 (a file name, a note) is stored readable, its exact bytes in
    the details' `original_bytes` (`lossless.keep_originals`), so the event can be hashed.
    """
    out = lossless.keep_originals(redact_details(details))
    out.setdefault("host", socket.gethostname())
    out.setdefault("tools", tool_versions())
    return normalise(out)


def _moved(old: str, new: str, note: str | None) -> NewEvent:
    """The same `status_changed` event the desk workflow writes, for the pipeline's moves."""
    return NewEvent("status_changed", {"from": old, "to": new, "note": note})


def _lock_clip(ses: Session, clip_id: int) -> str | None:
    """Take the clip's write lock, then read its SHA-256 (None: no such clip).

    The next seq is read from the log, so two appends at once (a report written while a
    match is recorded, two processes on one SQLite file) must not both read before either
    writes, or they pick the same seq and one fails on the unique key. PostgreSQL: the
    clip's row lock (FOR UPDATE). SQLite: a SELECT takes no lock, so a no-op UPDATE takes
    the database's write lock (waiting out the busy timeout) before anything is read.
    """
    if ses.get_bind().dialect.name == "sqlite":
        ses.execute(
            update(ClipRow).where(ClipRow.id == clip_id).values(updated_at=ClipRow.updated_at)
        )
    return ses.scalar(select(ClipRow.sha256).where(ClipRow.id == clip_id).with_for_update())


def _beside_db(url: str, suffix: str) -> Path | None:
    """A path beside a SQLite database (its custody journal, its lock folder); other databases
    and in-memory SQLite have none."""
    if not url.startswith("sqlite:///") or url.endswith(":memory:"):
        return None
    db = Path(url.removeprefix("sqlite:///"))
    return db.with_name(db.name + suffix)


class CaseStore:
    """SQLAlchemy-backed store; `url` is any SQLAlchemy URL (SQLite default, PostgreSQL later)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = migrate.engine_for(url)  # pre-ping, connect timeout, SQLite pragmas
        try:
            # SQLite upgrades itself; PostgreSQL must be at head (`osint-video db upgrade`).
            migrate.ensure_schema(self.engine, url)
        except (SQLAlchemyError, StoreError) as exc:
            self.engine.dispose()
            if isinstance(exc, StoreError):
                raise
            msg = f"cannot open the case store at {migrate.where(url)}: {migrate.first_line(exc)}"
            raise StoreError(msg) from None
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.journal = _beside_db(url, ".custody.jsonl")
        self.locks = Locks(self.engine, _beside_db(url, "-locks"))

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: committed on success, rolled back on any error."""
        with self._sessions() as ses:
            try:
                yield ses
                ses.commit()
                self._write_journal(ses)
            except SQLAlchemyError as exc:
                ses.rollback()
                detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
                raise StoreError(f"case store error: {exc.__class__.__name__}: {detail}") from None
            except BaseException:
                ses.rollback()
                raise

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def report_lock(self, clip_id: int) -> Iterator[None]:
        """One writer at a time for the clip's report files (`store/locks.py`)."""
        with self.locks.hold(f"report-{clip_id}"):
            yield

    @contextmanager
    def ingest_lock(self, sha256: str) -> Iterator[None]:
        """One intake at a time of these bytes, from storing to recording (`store/locks.py`).

        Why: an intake that fails removes the evidence file it stored, and must not remove one
        that another intake of the same bytes (another editor, another process) is recording
        at that moment.
        """
        with self.locks.hold(f"ingest-{sha256}"):
            yield

    def clip_with_sha(self, sha256: str) -> int | None:
        """The id of the clip whose original has this SHA-256, or None."""
        with self.session() as ses:
            found: int | None = ses.scalar(select(ClipRow.id).where(ClipRow.sha256 == sha256))
            return found

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
        name, name_bytes = lossless.split({"filename": filename})
        fields, originals = acquisition.stored_fields()
        with self.session() as ses:
            clip = ses.scalar(select(ClipRow).where(ClipRow.sha256 == sha256))
            is_new = clip is None
            if clip is None:
                now = utcnow()
                clip = ClipRow(
                    sha256=sha256,
                    size_bytes=size_bytes,
                    kind=kind,
                    filename=name["filename"],
                    evidence_path=evidence_path,
                    status="queued",
                    created_at=now,
                    updated_at=now,
                    original_bytes=name_bytes or None,
                )
                ses.add(clip)
                ses.flush()
            ses.add(
                AcquisitionRow(
                    clip_id=clip.id, at=acquisition.at, original_bytes=originals or None, **fields
                )
            )
            self._append_events(ses, clip.id, acquisition.operator, [event])
            return clip.id, is_new

    def set_status(
        self,
        clip_id: int,
        status: str,
        *,
        error: str | None = None,
        actor: str | None = None,
        note: str | None = None,
    ) -> str:
        """The pipeline's own status moves; with `actor`, the move is a custody event too.

        Desk decisions go through `desk.workflow.change_status` (transitions, conflicts); this
        is for the machine's moves (processing, failed after the last retry, back to queued
        after a stall), which still belong in the history of the clip.
        """
        with self.session() as ses:
            clip = self._get(ses, clip_id)
            old = clip.status
            clip.status, clip.error, clip.updated_at = status, error, utcnow()
            if actor is not None and old != status:
                self._append_events(ses, clip_id, actor, [_moved(old, status, note or error)])
            return old

    def record_failure(
        self, clip_id: int, actor: str, event: NewEvent, error: str | None = None
    ) -> None:
        """A step's failure after the clip's results were saved: its event and, when the
        failure is the clip's (`error`), a line added to the clip's error; status unchanged."""
        with self.session() as ses:
            clip = self._get(ses, clip_id)
            if error is not None:
                clip.error = "; ".join(e for e in (clip.error, error) if e)
                clip.updated_at = utcnow()
            self._append_events(ses, clip_id, actor, [event])

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
        """Replace a clip's derived data and append its custody events, atomically.

        Raises:
            StoreError: a field that is not one of `RESULT_FIELDS` (a step storing what the
                case store does not know is a bug, not something to set blindly).
        """
        unknown = sorted(set(fields) - set(RESULT_FIELDS))
        if unknown:
            raise StoreError(f"not a result field of a clip: {', '.join(unknown)}")
        with self.session() as ses:
            clip = self._get(ses, clip_id)
            for key, value in fields.items():
                setattr(clip, key, value)
            ses.execute(delete(ShotRow).where(ShotRow.clip_id == clip_id))
            ses.execute(delete(KeyframeRow).where(KeyframeRow.clip_id == clip_id))
            ses.add_all([ShotRow(clip_id=clip_id, **s) for s in shots])
            ses.add_all([KeyframeRow(clip_id=clip_id, **k) for k in keyframes])
            old = clip.status
            clip.status, clip.error, clip.updated_at = status, error, utcnow()
            moved = [_moved(old, status, error)] if old != status else []
            self._append_events(ses, clip_id, actor, [*events, *moved])

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
        """Chain `events` onto the clip's log inside the caller's transaction.

        Details are normalised (as they will read back), stripped of absolute source paths, and
        given `host` and `tools`; each event's hash covers the previous one's. The journal
        line of each event is written once the transaction commits (see `session`).
        """
        clip_sha = _lock_clip(ses, clip_id)
        if clip_sha is None:
            raise NotFound(f"no clip with id {clip_id}")
        actor = lossless.readable(actor)  # an operator name from the environment, as stored
        last = ses.execute(
            select(CustodyRow.seq, CustodyRow.hash)
            .where(CustodyRow.clip_id == clip_id)
            .order_by(CustodyRow.seq.desc())
            .limit(1)
        ).first()
        seq, prev = (last[0], last[1] or GENESIS) if last else (0, GENESIS)
        pending = ses.info.setdefault("custody_journal", [])
        for ev in events:
            seq += 1
            at = utcnow()
            item = CustodyEvent(seq, iso(at), actor, ev.action, _event_details(ev.details), prev)
            digest = event_hash(clip_sha, item)
            ses.add(
                CustodyRow(
                    clip_id=clip_id,
                    seq=seq,
                    at=at,
                    actor=actor,
                    action=ev.action,
                    details=item.details,
                    prev_hash=prev,
                    hash=digest,
                )
            )
            pending.append({"clip_sha256": clip_sha, "seq": seq, "hash": digest})
            prev = digest

    def _write_journal(self, ses: Session) -> None:
        """Append committed events to the journal, the outside record that shows truncation."""
        lines = ses.info.pop("custody_journal", None)
        if not lines or self.journal is None:
            return
        data = "".join(json.dumps(x, sort_keys=True) + "\n" for x in lines).encode()
        try:
            fd = os.open(self.journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise StoreError(
                f"custody events were saved but the journal {self.journal} was not: {exc}"
            ) from None

    def custody_events(self, clip_id: int) -> tuple[str, list[CustodyEvent]]:
        """A clip's sha256 and its custody events exactly as stored, in seq order."""
        with self.session() as ses:
            clip = self._get(ses, clip_id)
            rows = ses.scalars(
                select(CustodyRow).where(CustodyRow.clip_id == clip_id).order_by(CustodyRow.seq)
            ).all()
            return clip.sha256, [custody_event(r) for r in rows]

    def custody_for(self, clip_ids: list[int]) -> dict[int, list[CustodyEvent]]:
        """Custody events of many clips in one query ({clip id: events in seq order})."""
        out: dict[int, list[CustodyEvent]] = {cid: [] for cid in clip_ids}
        with self.session() as ses:
            for start in range(0, len(clip_ids), 500):
                batch = clip_ids[start : start + 500]
                rows = ses.scalars(
                    select(CustodyRow)
                    .where(CustodyRow.clip_id.in_(batch))
                    .order_by(CustodyRow.clip_id, CustodyRow.seq)
                )
                for r in rows:
                    out[r.clip_id].append(custody_event(r))
        return out

    def journal_heads(self) -> dict[str, dict[int, str]]:
        """{clip sha256: {seq: hash}} from the journal (empty when there is none)."""
        out: dict[str, dict[int, str]] = {}
        if self.journal is None or not self.journal.is_file():
            return out
        with open(self.journal, encoding="utf-8") as fh:
            for line in fh:
                try:
                    x = json.loads(line)
                    out.setdefault(x["clip_sha256"], {})[int(x["seq"])] = x["hash"]
                except (ValueError, KeyError, TypeError):
                    continue  # a torn last line after a crash; the chain itself still counts
        return out

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

    def record(self, clip_id: int) -> ClipRecord:
        """The typed read model of a clip (`store/records.py`): what every reader gets.

        Raises:
            NotFound: no such clip.
        """
        return to_record(self.load(clip_id))

    def clip_facts(self, clip_id: int) -> dict[str, Any]:
        """What a match states about a clip: sha256, file name, first case and source URL,
        first acquisition (ISO, UTC), metadata creation time, and every case it is in."""
        clip = self.record(clip_id)
        return {
            "sha256": clip.sha256,
            "filename": clip.filename,
            "case": next(iter(clip.cases), None),
            "source_url": clip.source_url,
            "earliest_acquired_at": iso(clip.first_acquired_at),
            "earliest_created_at": clip.metadata.creation_time if clip.metadata else None,
            "cases": set(clip.cases),
            "duplicate_of": clip.duplicate_of,
        }

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
        self,
        *,
        case: str | None = None,
        status: str | None = None,
        assignee: str | None = None,
        text: str | None = None,
    ) -> list[ClipSummary]:
        """Clips matching every filter given; `text` is found in the on-screen text whatever
        its case (compared casefolded, so Cyrillic too)."""
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
            if assignee:
                stmt = stmt.where(ClipRow.assignee == assignee)
            if text:
                needle = text.casefold().replace("\\", "\\\\").replace("%", "\\%")
                needle = needle.replace("_", "\\_")
                stmt = stmt.where(ClipRow.onscreen_search.like(f"%{needle}%", escape="\\"))
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
            clip.duplicate_of,
            PRIORITY_NAMES.get(clip.priority, str(clip.priority)),
            clip.assignee,
            clip.original_bytes or None,
        )

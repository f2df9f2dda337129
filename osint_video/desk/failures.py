"""URLs that could not be brought in, kept so the desk sees them and can retry them.

A clip row means bytes in the evidence store and a custody chain anchored on their SHA-256; a
URL that returned a 404 has neither. So a failed URL is not a clip: it is a row of
`intake_failures` (url, case, priority, note, error, who, when, attempts), shown by `queue list`
as item `u<id>` with status `failed`, and `queue retry u<id>` tries the download again. A retry
that succeeds links the new clip (`clip_id`); the row stays as the record that the URL once
failed, and leaves the failed list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select

from ..errors import NotFound
from ..store.cases import CaseStore, as_utc, iso, utcnow
from ..store.schema import IntakeFailureRow

ITEM_RE = re.compile(r"^[uU](\d+)$")


@dataclass(frozen=True)
class FailedUrl:
    """One failed URL intake, as `queue list` shows it."""

    item: str
    url: str
    case: str | None
    priority: int
    note: str | None
    error: str
    actor: str
    at: str
    last_at: str
    attempts: int
    clip_id: int | None


def item_id(ref: str) -> int | None:
    """The row id of an item reference `u<id>`, or None when `ref` is not one."""
    m = ITEM_RE.match(ref.strip())
    return int(m.group(1)) if m else None


def _as_failed(row: IntakeFailureRow) -> FailedUrl:
    return FailedUrl(
        f"u{row.id}",
        row.url,
        row.case,
        row.priority,
        row.note,
        row.error,
        row.actor,
        iso(as_utc(row.at)),
        iso(as_utc(row.last_at)),
        row.attempts,
        row.clip_id,
    )


def record_failure(
    store: CaseStore,
    url: str,
    error: str,
    *,
    actor: str,
    case: str | None = None,
    priority: int = 1,
    note: str | None = None,
) -> FailedUrl:
    """Keep a URL that failed; returns its item (`u<id>`)."""
    now = utcnow()
    with store.session() as ses:
        row = IntakeFailureRow(
            url=url,
            case=case,
            priority=priority,
            note=note,
            error=error,
            actor=actor,
            at=now,
            last_at=now,
            attempts=1,
        )
        ses.add(row)
        ses.flush()
        return _as_failed(row)


def get_failure(store: CaseStore, row_id: int) -> FailedUrl:
    """Raises NotFound for an unknown item."""
    with store.session() as ses:
        row = ses.get(IntakeFailureRow, row_id)
        if row is None:
            raise NotFound(f"no failed URL item u{row_id}")
        return _as_failed(row)


def list_failures(store: CaseStore, *, case: str | None = None) -> list[FailedUrl]:
    """Failed URL items not yet retried successfully, oldest first."""
    with store.session() as ses:
        stmt = (
            select(IntakeFailureRow)
            .where(IntakeFailureRow.clip_id.is_(None))
            .order_by(IntakeFailureRow.id)
        )
        if case:
            stmt = stmt.where(IntakeFailureRow.case == case)
        return [_as_failed(r) for r in ses.scalars(stmt)]


def record_retry(
    store: CaseStore, row_id: int, *, clip_id: int | None = None, error: str | None = None
) -> FailedUrl:
    """A retry's outcome: the clip it produced, or its new error (attempts counted)."""
    with store.session() as ses:
        row = ses.get(IntakeFailureRow, row_id)
        if row is None:
            raise NotFound(f"no failed URL item u{row_id}")
        row.attempts += 1
        row.last_at = utcnow()
        if clip_id is not None:
            row.clip_id = clip_id
        if error is not None:
            row.error = error
        ses.flush()
        return _as_failed(row)

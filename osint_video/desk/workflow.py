"""The desk's queue workflow: which status may follow which, who changed it, and races.

A clip moves through the desk like this (TRANSITIONS is the whole table)::

    queued -> processing -> processed -> in_review -> verified | disputed | rejected
       ^          |                                       |
       +- failed <+            (reopened) in_review <-----+

- queued -> processing: a worker (or `triage`) starts it; queued -> failed: it could not be
  started (evidence unreadable).
- processing -> processed | failed: the pipeline's outcome; processing -> queued: a job given
  back (a worker stopped, the job is retried elsewhere).
- processed -> in_review: an annotator picks it up; processed -> processing | queued: process
  again (new config, a better keyframe method) now or by a worker.
- in_review -> verified | disputed | rejected: the desk's verdict; in_review -> in_review: a
  reviewer's note recorded without changing the verdict.
- verified -> in_review | disputed; disputed -> in_review | verified | rejected;
  rejected -> in_review: verdicts are never final, but every change of mind is on record.
- failed -> queued: retry (the old error is kept in the custody event).

Every change here is a compare-and-set (`UPDATE clips SET status=new WHERE id=? AND
status=old`) and its custody event is written in the same transaction: two desks changing the
same clip at once cannot both win, and the loser learns who moved it instead of silently
overwriting. The pipeline's own status changes (`CaseStore.set_status`) are documented by its
step events; they do not go through here.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from ..errors import ConflictError, NotFound, WorkflowError
from ..store.cases import CaseStore, NewEvent, utcnow
from ..store.records import PRIORITY_NAMES
from ..store.schema import STATUSES, ClipRow

__all__ = [
    "PRIORITIES",
    "STATUSES",
    "TRANSITIONS",
    "assign",
    "change_status",
    "check_status",
    "priority_name",
    "priority_value",
    "set_priority",
]

TRANSITIONS: dict[str, frozenset[str]] = {
    "queued": frozenset({"processing", "failed"}),
    "processing": frozenset({"processed", "failed", "queued"}),
    "processed": frozenset({"in_review", "processing", "queued"}),
    "in_review": frozenset({"verified", "disputed", "rejected", "in_review"}),
    "verified": frozenset({"in_review", "disputed"}),
    "disputed": frozenset({"in_review", "verified", "rejected"}),
    "rejected": frozenset({"in_review"}),
    "failed": frozenset({"queued"}),
}

# Stored as an integer so workers can ORDER BY it; names are what people type and read.
PRIORITIES: dict[str, int] = {name: value for value, name in PRIORITY_NAMES.items()}


def check_status(status: str) -> str:
    """Return `status` if it is a known queue status.

    Raises:
        WorkflowError: it is not one of STATUSES.
    """
    if status not in STATUSES:
        raise WorkflowError(f"unknown status {status!r}: expected one of {', '.join(STATUSES)}")
    return status


def check_transition(old: str, new: str) -> None:
    """Raises WorkflowError unless the workflow allows `old -> new`."""
    check_status(new)
    allowed = TRANSITIONS.get(old, frozenset())
    if new not in allowed:
        nexts = ", ".join(s for s in STATUSES if s in allowed) or "nothing"
        raise WorkflowError(f"a clip cannot go from {old} to {new} (from {old}: {nexts})")


def priority_value(name: str) -> int:
    """The stored integer of a priority name (low, normal, high, urgent).

    Raises:
        WorkflowError: an unknown name.
    """
    try:
        return PRIORITIES[name]
    except KeyError:
        raise WorkflowError(
            f"unknown priority {name!r}: expected one of {', '.join(PRIORITIES)}"
        ) from None


def priority_name(value: int | None) -> str:
    """The name of a stored priority (an out-of-range value is shown as its number)."""
    for name, v in PRIORITIES.items():
        if v == value:
            return name
    return "normal" if value is None else str(value)


def _conflict(clip_id: int, seen: str, now: str | None) -> ConflictError:
    return ConflictError(
        f"clip {clip_id} changed from {seen} to {now} by someone else; reload and retry"
    )


def change_status(
    store: CaseStore,
    clip_id: int,
    new_status: str,
    *,
    actor: str,
    note: str | None = None,
    expected: str | None = None,
) -> str:
    """Move a clip to `new_status`, recording who, when, from, to and why in custody.

    Args:
        store: the case store.
        clip_id: the clip.
        new_status: one of STATUSES, allowed from the current status by TRANSITIONS.
        actor: who makes the change (custody `actor`).
        note: why, kept in the custody event.
        expected: the status the caller saw when it decided (a desk's screen); the change is
            refused if the clip is no longer in it. None: the status read now.

    Returns:
        The old status.

    Raises:
        WorkflowError: unknown status, or a transition the workflow forbids.
        ConflictError: someone else changed the status since it was read.
        NotFound: no such clip.
    """
    check_status(new_status)
    current, error = _read(store, clip_id, ClipRow.status, ClipRow.error)
    old = check_status(expected) if expected is not None else current
    if old != current:  # the caller decided on a stale view: say so before judging the move
        raise _conflict(clip_id, old, current)
    check_transition(old, new_status)
    values: dict[str, Any] = {"status": new_status, "updated_at": utcnow()}
    details: dict[str, Any] = {"from": old, "to": new_status, "note": note}
    if old == "failed":
        # The clip's error is cleared for the retry; the custody event keeps it.
        details["error"], values["error"] = error, None
    with store.session() as ses:
        # The compare-and-set is the transaction's first statement: it takes the write lock
        # (SQLite) or the row lock (PostgreSQL) before anything is read, so a concurrent
        # change either happened before it (no row matches: conflict) or waits for it.
        done = ses.execute(
            update(ClipRow).where(ClipRow.id == clip_id, ClipRow.status == old).values(**values)
        )
        if done.rowcount != 1:  # type: ignore[attr-defined]
            now = ses.scalar(select(ClipRow.status).where(ClipRow.id == clip_id))
            raise _conflict(clip_id, old, now)
        store._append_events(ses, clip_id, actor, [NewEvent("status_changed", details)])
    return old


def _read(store: CaseStore, clip_id: int, *columns: Any) -> Any:
    """Current values of a clip's columns (a short read of its own, before the write)."""
    with store.session() as ses:
        row = ses.execute(select(*columns).where(ClipRow.id == clip_id)).first()
    if row is None:
        raise NotFound(f"no clip with id {clip_id}")
    return row if len(columns) > 1 else row[0]


def assign(
    store: CaseStore, clip_id: int, annotator: str | None, *, actor: str, note: str | None = None
) -> str | None:
    """Give a clip to an annotator (None: unassign), recorded in custody ("assigned").

    Returns:
        The previous assignee (None if there was none).

    Raises:
        NotFound: no such clip.
        WorkflowError: an empty annotator name.
    """
    if annotator is not None and not annotator.strip():
        raise WorkflowError("annotator name is empty (use --unassign to remove an assignee)")
    return _set_field(store, clip_id, "assignee", annotator, "assigned", actor, note)


def set_priority(
    store: CaseStore, clip_id: int, priority: str, *, actor: str, note: str | None = None
) -> str:
    """Set a clip's priority by name, recorded in custody ("priority_set").

    Returns:
        The previous priority's name.

    Raises:
        WorkflowError: an unknown priority name.
        NotFound: no such clip.
    """
    value = priority_value(priority)
    old = _set_field(store, clip_id, "priority", value, "priority_set", actor, note)
    return priority_name(old)


def _set_field(
    store: CaseStore,
    clip_id: int,
    column: str,
    value: Any,
    action: str,
    actor: str,
    note: str | None,
) -> Any:
    """Compare-and-set one workflow column and log `action` {from, to, note} atomically."""
    col = getattr(ClipRow, column)
    old = _read(store, clip_id, col)
    match = col.is_(None) if old is None else col == old
    with store.session() as ses:
        done = ses.execute(
            update(ClipRow)
            .where(ClipRow.id == clip_id, match)
            .values({column: value, "updated_at": utcnow()})
        )
        if done.rowcount != 1:  # type: ignore[attr-defined]
            raise ConflictError(
                f"clip {clip_id}: its {column} was changed by someone else; reload and retry"
            )
        shown = (priority_name(old), priority_name(value)) if column == "priority" else (old, value)
        details = {"from": shown[0], "to": shown[1], "note": note}
        store._append_events(ses, clip_id, actor, [NewEvent(action, details)])
    return old

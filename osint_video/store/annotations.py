"""Case store functions for Label Studio bookkeeping: projects, pushed tasks, annotations, verdicts.

Each function is one transaction of the `CaseStore` it is given. Task rows are written as intents
(no task id) before an import and completed after it, so the store never claims a task was sent
when the server did not confirm it, and an interrupted push can be reconciled.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select

from .cases import CaseStore, utcnow
from .schema import LsAnnotationRow, LsProjectRow, LsTaskRow, LsVerdictRow


@dataclass(frozen=True)
class ProjectRef:
    """Our row of a Label Studio project (`row` is our id, `project_id` the server's)."""

    row: int
    server: str
    case: str
    kind: str
    project_id: int
    title: str
    storage_id: int | None


def _ref(p: LsProjectRow) -> ProjectRef:
    return ProjectRef(p.id, p.server, p.case, p.kind, p.project_id, p.title, p.storage_id)


def get_project(store: CaseStore, server: str, case: str, kind: str) -> ProjectRef | None:
    with store.session() as ses:
        p = ses.scalar(
            select(LsProjectRow).where(
                LsProjectRow.server == server, LsProjectRow.case == case, LsProjectRow.kind == kind
            )
        )
        return _ref(p) if p else None


def projects(store: CaseStore, server: str, case: str | None = None) -> list[ProjectRef]:
    with store.session() as ses:
        stmt = select(LsProjectRow).where(LsProjectRow.server == server)
        if case is not None:
            stmt = stmt.where(LsProjectRow.case == case)
        return [_ref(p) for p in ses.scalars(stmt.order_by(LsProjectRow.id))]


def save_project(
    store: CaseStore, server: str, case: str, kind: str, project_id: int, title: str
) -> ProjectRef:
    """Record (or re-point, after a recreation) the project of a case; a new server project
    has none of our tasks, so the old task rows are dropped and everything is sent again."""
    with store.session() as ses:
        p = ses.scalar(
            select(LsProjectRow).where(
                LsProjectRow.server == server, LsProjectRow.case == case, LsProjectRow.kind == kind
            )
        )
        if p is None:
            p = LsProjectRow(server=server, case=case, kind=kind, created_at=utcnow())
            ses.add(p)
        elif p.project_id != project_id:
            ses.execute(delete(LsTaskRow).where(LsTaskRow.project_row == p.id))
            p.storage_id = None
        p.project_id, p.title = project_id, title
        ses.flush()
        return _ref(p)


def set_storage(store: CaseStore, row: int, storage_id: int) -> None:
    with store.session() as ses:
        p = ses.get(LsProjectRow, row)
        if p is not None:
            p.storage_id = storage_id


@dataclass(frozen=True)
class TaskRef:
    key: str
    clip_id: int
    frame: int | None
    task_id: int | None


def tasks(store: CaseStore, row: int) -> dict[str, TaskRef]:
    """{key: task} of a project, intents (task_id None) included."""
    with store.session() as ses:
        rows = ses.scalars(select(LsTaskRow).where(LsTaskRow.project_row == row))
        return {t.key: TaskRef(t.key, t.clip_id, t.frame, t.task_id) for t in rows}


def record_intents(store: CaseStore, row: int, items: Iterable[TaskRef]) -> None:
    """Note tasks about to be imported (no id yet); existing rows are left alone."""
    with store.session() as ses:
        known = set(ses.scalars(select(LsTaskRow.key).where(LsTaskRow.project_row == row)))
        now = utcnow()
        ses.add_all(
            LsTaskRow(project_row=row, key=t.key, clip_id=t.clip_id, frame=t.frame, created_at=now)
            for t in items
            if t.key not in known
        )


def mark_sent(store: CaseStore, row: int, ids: dict[str, int]) -> None:
    """Complete intents with the server's task ids ({key: task id})."""
    if not ids:
        return
    with store.session() as ses:
        now = utcnow()
        for t in ses.scalars(
            select(LsTaskRow).where(LsTaskRow.project_row == row, LsTaskRow.key.in_(list(ids)))
        ):
            t.task_id, t.sent_at = ids[t.key], now


def drop_intents(store: CaseStore, row: int, keys: Iterable[str]) -> None:
    """Forget intents the server never received (reconciliation found no such task)."""
    keys = list(keys)
    with store.session() as ses:
        for start in range(0, len(keys), 500):
            ses.execute(
                delete(LsTaskRow).where(
                    LsTaskRow.project_row == row,
                    LsTaskRow.key.in_(keys[start : start + 500]),
                    LsTaskRow.task_id.is_(None),
                )
            )


def task_index(store: CaseStore, project_row: int) -> dict[int, TaskRef]:
    """{server task id: task} of a project's sent tasks."""
    return {t.task_id: t for t in tasks(store, project_row).values() if t.task_id is not None}


# -- annotations --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stored:
    """An annotation as stored (what the report and the verdict read)."""

    ls_id: int
    ls_project_id: int
    task_id: int
    clip_id: int
    kind: str
    frame: int | None
    annotator: str
    created_at: str | None
    updated_at: str | None
    lead_time: float | None
    result: list[Any]
    valid: bool
    problems: list[Any]


_FIELDS = (
    "ls_id ls_project_id task_id clip_id kind frame annotator created_at updated_at lead_time "
    "result valid problems"
).split()


def _stored(r: LsAnnotationRow) -> Stored:
    return Stored(**{f: getattr(r, f) for f in _FIELDS})


@dataclass(frozen=True)
class SyncCounts:
    added: int
    updated: int
    deleted: int
    unchanged: int


def sync_annotations(
    store: CaseStore, server: str, ls_project_id: int, items: list[dict[str, Any]]
) -> tuple[SyncCounts, set[int]]:
    """Make the stored annotations of one server project equal to `items` (a full export).

    Args:
        items: dicts with the `Stored` fields plus `annotator_id`.

    Returns:
        The counts, and the ids of clips whose annotations changed.
    """
    added = updated = unchanged = 0
    touched: set[int] = set()
    with store.session() as ses:
        rows = {
            r.ls_id: r
            for r in ses.scalars(
                select(LsAnnotationRow).where(
                    LsAnnotationRow.server == server,
                    LsAnnotationRow.ls_project_id == ls_project_id,
                )
            )
        }
        now = utcnow()
        for item in items:
            row = rows.pop(item["ls_id"], None)
            if row is None:
                ses.add(LsAnnotationRow(server=server, pulled_at=now, **item))
                added += 1
            elif any(getattr(row, k) != v for k, v in item.items()):
                for k, v in item.items():
                    setattr(row, k, v)
                row.pulled_at = now
                updated += 1
            else:
                unchanged += 1
                continue
            touched.add(item["clip_id"])
        for row in rows.values():
            touched.add(row.clip_id)
            ses.delete(row)
    return SyncCounts(added, updated, len(rows), unchanged), touched


def annotations_of(store: CaseStore, clip_id: int) -> list[Stored]:
    with store.session() as ses:
        rows = ses.scalars(
            select(LsAnnotationRow)
            .where(LsAnnotationRow.clip_id == clip_id)
            .order_by(LsAnnotationRow.kind, LsAnnotationRow.frame, LsAnnotationRow.ls_id)
        )
        return [_stored(r) for r in rows]


# -- verdicts -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerdictRecord:
    value: str
    confidence: float | None
    annotators: list[str]
    agreement: float
    decision: str | None
    decided_at: datetime


def save_verdict(store: CaseStore, clip_id: int, verdict: VerdictRecord | None) -> None:
    """Replace a clip's verdict (None removes it: no valid verdict annotation is left)."""
    with store.session() as ses:
        ses.execute(delete(LsVerdictRow).where(LsVerdictRow.clip_id == clip_id))
        if verdict is not None:
            ses.add(LsVerdictRow(clip_id=clip_id, **verdict.__dict__))


def verdict_of(store: CaseStore, clip_id: int) -> VerdictRecord | None:
    with store.session() as ses:
        v = ses.get(LsVerdictRow, clip_id)
        if v is None:
            return None
        return VerdictRecord(
            v.value, v.confidence, list(v.annotators), v.agreement, v.decision, v.decided_at
        )

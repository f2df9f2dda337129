"""`annotate pull`: every annotation of the case's projects into the store, then the verdicts.

Each pull takes a full export of each project (annotated tasks, annotations in full) and makes
the stored annotations of that project equal to it: new ones added, edited ones updated,
deleted ones removed. Annotations are validated against our configs; invalid ones are kept and
reported but never count in a verdict. Verdicts are recomputed for the clips of the verdict
projects and the status rule (see `verdict`) moves clips through the desk workflow.

A project deleted on the server is an error naming it (its annotations already pulled stay in
the store untouched); the other projects are still pulled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select

from ..desk.workflow import TRANSITIONS, change_status
from ..store import annotations as db
from ..store.cases import NewEvent, utcnow
from ..store.schema import ClipRow
from ..workspace import Workspace
from .client import AnnotateError, Client
from .push import key_of
from .validate import problems
from .verdict import compute, decide

REVIEWED = ("in_review", "verified", "disputed", "rejected")


@dataclass(frozen=True)
class Invalid:
    ls_id: int
    clip_id: int
    annotator: str
    problems: list[str]


@dataclass(frozen=True)
class PullSummary:
    server: str
    added: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    foreign_tasks: int = 0
    invalid: list[Invalid] = field(default_factory=list)
    verdicts: dict[int, dict[str, Any]] = field(default_factory=dict)
    status_changes: dict[int, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    changed_clips: list[int] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _clip_ids_by_sha(ws: Workspace) -> dict[str, int]:
    with ws.cases.session() as ses:
        return {sha: cid for cid, sha in ses.execute(select(ClipRow.id, ClipRow.sha256))}


def _locate(
    task: dict[str, Any], index: dict[int, db.TaskRef], by_sha: dict[str, int]
) -> tuple[int, int | None] | None:
    """(clip id, frame) of an exported task: our record, else its data (someone else's push)."""
    ref = index.get(int(task["id"]))
    if ref is not None:
        return ref.clip_id, ref.frame
    data = task.get("data") or {}
    key = key_of(data)
    clip_id = by_sha.get(str(data.get("sha256")))
    if key is None or clip_id is None:
        return None
    return clip_id, (int(data["frame"]) if key.startswith("kf:") else None)


def _items(
    kind: str,
    ls_project_id: int,
    export: list[dict[str, Any]],
    where: Callable[[dict[str, Any]], tuple[int, int | None] | None],
    users: dict[int, str],
) -> tuple[list[dict[str, Any]], int]:
    """Store-ready dicts of an export's annotations, and the number of tasks not ours."""
    out, foreign = [], 0
    for task in export:
        loc = where(task)
        if loc is None:
            foreign += 1
            continue
        for a in task.get("annotations") or []:
            if a.get("was_cancelled"):
                continue  # a skip, not an annotation
            who = a.get("completed_by")
            who_id = who.get("id") if isinstance(who, dict) else who
            bad = problems(kind, a.get("result") or [])
            out.append(
                {
                    "ls_id": int(a["id"]),
                    "ls_project_id": ls_project_id,
                    "task_id": int(task["id"]),
                    "clip_id": loc[0],
                    "kind": kind,
                    "frame": loc[1],
                    "annotator": users.get(int(who_id or 0), f"user {who_id}"),
                    "annotator_id": who_id,
                    "created_at": a.get("created_at"),
                    "updated_at": a.get("updated_at"),
                    "lead_time": a.get("lead_time"),
                    "result": a.get("result") or [],
                    "valid": not bad,
                    "problems": bad,
                }
            )
    return out, foreign


def _pull_project(
    ws: Workspace, client: Client, ref: db.ProjectRef, users: dict[int, str], by_sha: dict
) -> tuple[db.SyncCounts, set[int], set[int], list[dict[str, Any]], int]:
    export = client.export(ref.project_id)
    index = db.task_index(ws.cases, ref.row)
    items, foreign = _items(
        ref.kind, ref.project_id, export, lambda t: _locate(t, index, by_sha), users
    )
    counts, touched = db.sync_annotations(ws.cases, client.url, ref.project_id, items)
    clips = {t.clip_id for t in index.values()} | {i["clip_id"] for i in items}
    return counts, touched, (clips if ref.kind == "clip" else set()), items, foreign


def _move(ws: Workspace, clip_id: int, target: str, note: str, actor: str) -> str | None:
    """Move a reviewed clip to `target` (through in_review when the workflow requires it)."""
    current = ws.cases.record(clip_id).status
    if current == target or current not in REVIEWED:
        return None
    if target not in TRANSITIONS.get(current, frozenset()):
        change_status(ws.cases, clip_id, "in_review", actor=actor, note=note, expected=current)
        current = "in_review"
    change_status(ws.cases, clip_id, target, actor=actor, note=note, expected=current)
    return target


def apply_verdict(ws: Workspace, clip_id: int, actor: str) -> tuple[dict | None, str | None]:
    """Recompute a clip's verdict from its stored annotations and apply the status rule.

    Returns:
        The verdict (as the report shows it, None without one) and the new status, if moved.
    """
    cfg = ws.config.annotate
    before = db.verdict_of(ws.cases, clip_id)
    verdict = compute(db.annotations_of(ws.cases, clip_id))
    decision = decide(verdict, cfg)
    record = None
    if verdict is not None:
        record = db.VerdictRecord(
            verdict.value,
            verdict.confidence,
            verdict.annotators,
            verdict.agreement,
            decision,
            utcnow(),
        )
    db.save_verdict(ws.cases, clip_id, record)
    target = decision
    if target is None and before is not None and before.decision is not None:
        target = "in_review"  # the annotations behind the last decision changed
    moved = None
    if target is not None:
        note = (
            f"Label Studio verdict {verdict.value} by {', '.join(verdict.annotators)} "
            f"(agreement {verdict.agreement:g})"
            if verdict
            else "Label Studio verdict withdrawn"
        )
        moved = _move(ws, clip_id, target, note, actor)
    return (asdict(verdict) if verdict else None), moved


def pull(ws: Workspace, client: Client, *, case: str | None = None) -> PullSummary:
    """Pull every project of a case (or all our projects on this server).

    Raises:
        AnnotateError: unreachable server or wrong key (nothing changed in the store).
    """
    refs = db.projects(ws.cases, client.url, case)
    if not refs:
        where = f"case {case!r}" if case else "any case"
        raise AnnotateError(f"nothing pushed to {client.url} for {where} yet: run annotate push")
    users = client.users()
    by_sha = _clip_ids_by_sha(ws)
    s = PullSummary(client.url)
    totals = {"added": 0, "updated": 0, "deleted": 0, "unchanged": 0, "foreign": 0}
    verdict_clips: set[int] = set()
    changed: set[int] = set()
    actor = ws.config.operator()
    for ref in refs:
        if not client.project_exists(ref.project_id):
            s.errors.append(
                f"project {ref.title!r} (id {ref.project_id}) no longer exists on the server; "
                f"annotations already pulled are kept: run `annotate push --case "
                f"{ref.case!r}` to recreate it"
            )
            continue
        counts, touched, reviewed, items, foreign = _pull_project(ws, client, ref, users, by_sha)
        for k in ("added", "updated", "deleted", "unchanged"):
            totals[k] += getattr(counts, k)
        totals["foreign"] += foreign
        s.invalid.extend(
            Invalid(i["ls_id"], i["clip_id"], i["annotator"], i["problems"])
            for i in items
            if not i["valid"]
        )
        verdict_clips |= touched | reviewed
        changed |= touched
        _custody(ws, touched, ref, counts, actor)
    for cid in sorted(verdict_clips):
        verdict, moved = apply_verdict(ws, cid, actor)
        if verdict:
            s.verdicts[cid] = verdict
        if moved:
            s.status_changes[cid] = moved
            changed.add(cid)
    return PullSummary(
        s.server,
        totals["added"],
        totals["updated"],
        totals["deleted"],
        totals["unchanged"],
        totals["foreign"],
        s.invalid,
        s.verdicts,
        s.status_changes,
        s.errors,
        sorted(changed),
    )


def _custody(
    ws: Workspace, clips: set[int], ref: db.ProjectRef, counts: db.SyncCounts, actor: str
) -> None:
    if not (counts.added or counts.updated or counts.deleted):
        return
    for cid in sorted(clips):
        n = len([a for a in db.annotations_of(ws.cases, cid) if a.ls_project_id == ref.project_id])
        details = {"project_id": ref.project_id, "kind": ref.kind, "annotations": n}
        ws.cases.append_events(cid, actor, [NewEvent("annotations_pulled", details)])

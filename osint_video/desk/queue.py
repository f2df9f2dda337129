"""Library behind `osint-video queue ...`: add files and URLs, list, assign, change, retry.

`add` does steps 1-4 of the pipeline for each input (the original is safe in the evidence store
and recorded, status `queued`); processing is a worker's job, or `triage`'s on a single
analyst's machine. One bad input never stops the others, and a URL that fails is kept as a
`failed` item (see failures.py) so nobody has to remember to try it again.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..config import Config
from ..errlog import one_line
from ..errors import OsintVideoError, WorkflowError
from ..lossless import is_exact, original_b64, readable
from ..media.credentials import check_trust_anchors
from ..paths import expand_paths, is_url
from ..progress import SILENT, Tracker, say_for
from ..store.cases import ClipSummary
from ..workspace import Workspace
from . import failures, workflow

Say = Callable[[str, float], None]


@dataclass(frozen=True)
class AddResult:
    """One input of `queue add`: a clip id, or a failed URL item (`u<id>`), or just an error."""

    input: str
    clip_id: int | None = None
    item: str | None = None
    status: str = "failed"
    error: str | None = None
    already_known: bool = False
    source: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        """The fields; an input that is not UTF-8 is readable, its bytes in `original_bytes`."""
        out = {**asdict(self), "input": readable(self.input)}
        if (b64 := original_b64(self.input)) is not None:
            out["original_bytes"] = {"input": b64}
        return out


@dataclass(frozen=True)
class AddOptions:
    """What applies to every input of one `queue add`."""

    case: str | None = None
    priority: str | None = None
    note: str | None = None
    source_url: str | None = None


def _inputs(raw: Sequence[str], follow: bool) -> list[tuple[str, Path | None, str | None]]:
    """(input, path or None for a URL, problem) for every input, folders expanded (symbolic
    links followed out of a folder only with `follow`: `paths.expand_paths`)."""
    out: list[tuple[str, Path | None, str | None]] = []
    for text in raw:
        if is_url(text):
            out.append((text, None, None))
        else:
            out += [(str(p), p, err) for p, err in expand_paths([Path(text)], follow)]
    return out


def add(
    cfg: Config,
    raw: Sequence[str],
    opts: AddOptions,
    *,
    tracker: Tracker = SILENT,
) -> list[AddResult]:
    """Queue files, folders and URLs; returns one result per file or URL, in order.

    `tracker` is told of each input's progress, keyed by its position.

    Raises:
        WorkflowError: an unknown priority (checked before anything is stored).
        ConfigError: `[probe] c2pa_trust_anchors` names an unusable file (idem).
    """
    if opts.priority is not None:
        workflow.priority_value(opts.priority)
    check_trust_anchors(cfg.probe.c2pa_trust_anchors)
    ws = Workspace.open(cfg)
    results: list[AddResult] = []
    try:
        for i, (text, path, problem) in enumerate(_inputs(raw, cfg.intake.follow_symlinks)):
            if problem:
                results.append(AddResult(text, error=problem))
                continue
            tracker.begin(i, text[-40:])
            results.append(_add_one(ws, text, path, opts, say_for(tracker, i)))
            tracker.end(i)
        enqueue_if_desk(ws, [r.clip_id for r in results if r.clip_id and r.status == "queued"])
    finally:
        ws.close()
    return results


def _add_one(ws: Workspace, text: str, path: Path | None, opts: AddOptions, say: Say) -> AddResult:
    try:
        if path is None:
            return _add_url(ws, text, opts, say)
        from ..pipeline import TriageRequest, intake

        req = TriageRequest(path, opts.case, opts.source_url, opts.note)
        taken = intake(ws, req, say)
        return _accepted(ws, text, taken.clip_id, not taken.is_new, opts.priority)
    except Exception as exc:  # noqa: BLE001 - one bad input must not stop the others
        return AddResult(text, error=one_line(ws.home, text, exc))


def _add_url(ws: Workspace, url: str, opts: AddOptions, say: Say) -> AddResult:
    """Download and intake; a failure becomes a failed item (priority, note and case kept)."""
    from .intake import intake_url

    if not is_exact(url):  # not a URL anyone can fetch, nor one `queue retry` could try again
        return AddResult(url, error="the URL has bytes that are not UTF-8: percent-encode them")
    try:
        got = intake_url(ws, url, case=opts.case, note=opts.note, progress=say)
    except OsintVideoError as exc:
        prio = workflow.priority_value(opts.priority or "normal")
        item = failures.record_failure(
            ws.cases,
            url,
            str(exc),
            actor=ws.config.operator(),
            case=opts.case,
            priority=prio,
            note=opts.note,
        )
        return AddResult(url, item=item.item, error=str(exc))
    res = _accepted(ws, url, got.taken.clip_id, not got.taken.is_new, opts.priority)
    return AddResult(**{**asdict(res), "source": got.source})


def _accepted(
    ws: Workspace, text: str, clip_id: int, known: bool, priority: str | None
) -> AddResult:
    if priority is not None:
        workflow.set_priority(ws.cases, clip_id, priority, actor=ws.config.operator())
    status = ws.cases.load(clip_id).status
    return AddResult(text, clip_id, status=status, already_known=known)


def enqueue_if_desk(ws: Workspace, clip_ids: list[int]) -> bool:
    """Hand queued clips to the desk's workers (PostgreSQL + osint_video.desk.tasks only).

    On SQLite there are no workers (`triage` processes locally), so nothing happens.
    """
    if not clip_ids or ws.cases.engine.dialect.name != "postgresql":
        return False
    if importlib.util.find_spec("osint_video.desk.tasks") is None:
        return False
    from . import tasks  # type: ignore[attr-defined]

    tasks.enqueue(ws, clip_ids)
    return True


def retry(cfg: Config, ref: str, *, note: str | None = None) -> AddResult:
    """Retry a failed clip (failed -> queued) or a failed URL item `u<id>` (download again).

    Raises:
        NotFound: no such clip or item.
        WorkflowError: the clip is not failed, or the item was already retried successfully.
        ConflictError: someone else changed the clip meanwhile.
    """
    ws = Workspace.open(cfg)
    try:
        row_id = failures.item_id(ref)
        if row_id is not None:
            return _retry_url(ws, row_id)
        clip_id = ws.cases.resolve(ref)
        status = ws.cases.load(clip_id).status
        if status != "failed":
            raise WorkflowError(f"clip {clip_id} is {status}, not failed: nothing to retry")
        workflow.change_status(
            ws.cases, clip_id, "queued", actor=cfg.operator(), note=note, expected="failed"
        )
        enqueue_if_desk(ws, [clip_id])
        return AddResult(ref, clip_id, status="queued")
    finally:
        ws.close()


def _retry_url(ws: Workspace, row_id: int) -> AddResult:
    item = failures.get_failure(ws.cases, row_id)
    if item.clip_id is not None:
        raise WorkflowError(f"item {item.item} was already retried: it is clip {item.clip_id}")
    from .intake import intake_url

    try:
        got = intake_url(ws, item.url, case=item.case, note=item.note)
    except OsintVideoError as exc:
        failures.record_retry(ws.cases, row_id, error=str(exc))
        return AddResult(item.url, item=item.item, error=str(exc))
    clip_id = got.taken.clip_id
    failures.record_retry(ws.cases, row_id, clip_id=clip_id)
    prio = workflow.priority_name(item.priority)
    res = _accepted(ws, item.url, clip_id, not got.taken.is_new, prio if prio != "normal" else None)
    enqueue_if_desk(ws, [clip_id] if res.status == "queued" else [])
    return AddResult(**{**asdict(res), "item": item.item, "source": got.source})


def listing(
    cfg: Config,
    *,
    status: str | None = None,
    case: str | None = None,
    assignee: str | None = None,
    text: str | None = None,
) -> tuple[list[ClipSummary], list[failures.FailedUrl]]:
    """Clips matching the filters, and the failed URL items (none when filtering by assignee,
    by on-screen text or by a status other than failed)."""
    if status is not None:
        workflow.check_status(status)
    ws = Workspace.open(cfg)
    try:
        clips = ws.cases.list_clips(case=case, status=status, assignee=assignee, text=text)
        fails: list[failures.FailedUrl] = []
        if status in (None, "failed") and assignee is None and text is None:
            fails = failures.list_failures(ws.cases, case=case)
        return clips, fails
    finally:
        ws.close()


def change(
    cfg: Config, ref: str, new_status: str, *, note: str | None, expected: str | None
) -> tuple[int, str]:
    """`queue status`: returns (clip id, old status). Raises as `workflow.change_status`."""
    ws = Workspace.open(cfg)
    try:
        clip_id = ws.cases.resolve(ref)
        old = workflow.change_status(
            ws.cases, clip_id, new_status, actor=cfg.operator(), note=note, expected=expected
        )
        return clip_id, old
    finally:
        ws.close()


def give(cfg: Config, ref: str, annotator: str | None, *, note: str | None) -> tuple[int, Any]:
    """`queue assign`: returns (clip id, previous assignee)."""
    ws = Workspace.open(cfg)
    try:
        clip_id = ws.cases.resolve(ref)
        return clip_id, workflow.assign(
            ws.cases, clip_id, annotator, actor=cfg.operator(), note=note
        )
    finally:
        ws.close()


def prioritise(cfg: Config, ref: str, priority: str, *, note: str | None) -> tuple[int, str]:
    """`queue priority`: returns (clip id, previous priority name)."""
    ws = Workspace.open(cfg)
    try:
        clip_id = ws.cases.resolve(ref)
        old = workflow.set_priority(ws.cases, clip_id, priority, actor=cfg.operator(), note=note)
        return clip_id, old
    finally:
        ws.close()

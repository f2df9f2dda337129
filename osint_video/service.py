"""Library entry points behind the CLI commands (a worker or a notebook calls these too)."""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import Config
from .errlog import one_line
from .lossless import original_b64, readable
from .paths import expand_paths
from .pipeline import TriageOutcome, TriageRequest, triage
from .progress import SILENT, Tracker, say_for
from .steps.report import publish
from .store.cases import ClipSummary
from .workspace import Workspace


@dataclass(frozen=True)
class TriageItem:
    """One input's result, for printing and for --json."""

    path: Path
    clip_id: int | None = None
    status: str = "rejected"
    error: str | None = None
    report_path: str | None = None
    report: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        """The report (if any) with `input` and `error`; an input name that is not UTF-8 is
        readable, with its bytes in `original_bytes.input` (`lossless`)."""
        name = str(self.path)
        head: dict[str, Any] = {"input": readable(name)}
        if (b64 := original_b64(name)) is not None:
            head["original_bytes"] = {"input": b64}
        if self.report is not None:
            return {**self.report, **head, "error": self.error}
        return {**head, "status": self.status, "error": self.error}


def triage_paths(
    cfg: Config,
    paths: Sequence[Path],
    *,
    case: str | None = None,
    source_url: str | None = None,
    note: str | None = None,
    reprocess: bool = False,
    tracker: Tracker = SILENT,
    workers: int | None = None,
) -> list[TriageItem]:
    """Triage every file under `paths`; one bad item never stops the others.

    Args:
        tracker: told of each file's progress (keyed by its position in the input) and of
            notes (a repost's "seen before", a report not rewritten).
        workers: processes for steps 5-11 (None: [worker] triage_processes, 0 there meaning
            one per core, never more than files). Above 1, clips run in a local process pool
            (`pool.py`); the results are the same as one by one.
    """
    from .media.credentials import check_trust_anchors
    from .pool import default_workers

    check_trust_anchors(cfg.probe.c2pa_trust_anchors)  # a config error once, before any file
    found = list(expand_paths(paths, cfg.intake.follow_symlinks))
    files = sum(1 for _p, problem in found if not problem)
    n = default_workers(files, cfg.worker.triage_processes if workers is None else workers)
    reqs = [TriageRequest(path, case, source_url, note, reprocess) for path, _ in found]
    ws = Workspace.open(cfg)
    try:
        if n > 1:
            items = _triage_parallel(ws, found, reqs, n, tracker)
        else:
            items = [
                _triage_one(ws, i, req, problem, tracker)
                for i, (req, (_, problem)) in enumerate(zip(reqs, found, strict=True))
            ]
        return _reread(ws, items)
    finally:
        ws.close()


def _reread(ws: Workspace, items: list[TriageItem]) -> list[TriageItem]:
    """Each item's report as it is now on disk: a later clip of the run that matched an
    earlier one rewrote the earlier report (its `seen_later`, the `SeenLater` step)."""
    out = []
    for it in items:
        path = ws.home / it.report_path if it.report_path else None
        if path is not None and path.is_file():
            it = dataclasses.replace(it, report=json.loads(path.read_text("utf-8")))
        out.append(it)
    return out


def _triage_one(
    ws: Workspace, index: int, req: TriageRequest, problem: str | None, tracker: Tracker
) -> TriageItem:
    if problem:
        return TriageItem(req.path, error=problem)
    tracker.begin(index, str(Path(req.path.name)))
    item = _one(ws, req, say_for(tracker, index), tracker.note)
    tracker.end(index)
    return item


def _triage_parallel(
    ws: Workspace,
    found: list[tuple[Path, str | None]],
    reqs: list[TriageRequest],
    workers: int,
    tracker: Tracker,
) -> list[TriageItem]:
    """Record each file here (input order), process the clips in a local process pool."""
    from .pipeline import intake, known_outcome
    from .pool import LocalPool, PoolJob, tune_sqlite

    tune_sqlite(ws.cases.engine)
    started: set[int] = set()

    def moved(index: int, stage: str, frac: float) -> None:
        if index not in started:
            started.add(index)
            tracker.begin(index, str(Path(reqs[index].path.name)))
        tracker.update(index, stage, frac)
        if stage == "done":
            tracker.end(index)

    items: dict[int, TriageItem] = {}
    first: dict[int, int] = {}  # clip id -> index of the input that processes it
    again: dict[int, int] = {}  # index of a repeated input -> index of its first
    pool = LocalPool(ws.config, workers, moved, tracker.note)
    try:
        for i, (req, (_path, problem)) in enumerate(zip(reqs, found, strict=True)):
            if problem:
                items[i] = TriageItem(req.path, error=problem)
                continue
            try:
                taken = intake(ws, req, functools.partial(moved, i))
                # a clip this run already processes is a repeat, however far its job got:
                # its reports are refreshed once, after the pool (as one by one would)
                repeat = taken.clip_id in first
                known = None if repeat else known_outcome(ws, taken, req)
            except Exception as exc:  # noqa: BLE001 - one bad file must not stop the others
                items[i] = _error_item(ws, req.path, exc)
                continue
            if known is not None:
                items[i] = _item(ws, req.path, known)
            elif repeat:
                again[i] = first[taken.clip_id]
            else:
                first[taken.clip_id] = i
                pool.submit(PoolJob(i, taken.clip_id, taken.probe))
            if known is not None or i in again:
                moved(i, "done", 1.0)
        results = pool.finish()
    finally:
        pool.close()
    for j in sorted(set(again.values())):  # the repeats' acquisitions, in the reports
        outcome, _error = results.get(j, (None, None))
        if outcome is not None and outcome.clip_id is not None and outcome.report_json:
            try:
                publish(ws, outcome.clip_id, ws.config.operator())
            except Exception as exc:  # noqa: BLE001 - its first report stands
                why = one_line(ws.home, f"reports of clip {outcome.clip_id}", exc)
                tracker.note(f"reports of clip {outcome.clip_id}: {why}")
    for i, (outcome, error) in results.items():
        items[i] = _item(ws, reqs[i].path, outcome) if outcome else TriageItem(reqs[i].path)
        items[i] = items[i] if outcome else dataclasses.replace(items[i], error=error)
    for i, j in again.items():
        items[i] = dataclasses.replace(items[j], path=reqs[i].path)
    return [items[i] for i in range(len(reqs))]


def _item(ws: Workspace, path: Path, res: TriageOutcome) -> TriageItem:
    try:
        data = (
            json.loads((ws.home / res.report_json).read_text("utf-8")) if res.report_json else None
        )
    except Exception as exc:  # noqa: BLE001 - one bad file must not stop the others
        return _error_item(ws, path, exc)
    return TriageItem(path, res.clip_id, res.status, res.error, res.report_json, data)


def _one(ws: Workspace, req: TriageRequest, progress: Any, notify: Any = None) -> TriageItem:
    try:
        res: TriageOutcome = triage(ws, req, progress, notify)
    except Exception as exc:  # noqa: BLE001 - one bad file must not stop the others
        return _error_item(ws, req.path, exc)
    return _item(ws, req.path, res)


def _error_item(ws: Workspace, path: Path, exc: Exception) -> TriageItem:
    """A failed input as one line (an unexpected error also leaves its traceback in a log)."""
    return TriageItem(path, error=one_line(ws.home, str(path), exc))


def list_queue(
    cfg: Config, *, case: str | None = None, status: str | None = None
) -> list[ClipSummary]:
    ws = Workspace.open(cfg)
    try:
        return ws.cases.list_clips(case=case, status=status)
    finally:
        ws.close()


def report(cfg: Config, ref: str, fmt: str, out: Path | None = None) -> Path:
    """Regenerate a clip's reports; return the file of the asked format (copied to `out`)."""
    from .report.service import clip_report

    return clip_report(cfg, ref, fmt, out)


def case_report(cfg: Config, case: str, fmt: str, out: Path | None = None) -> Path:
    """Write the report of a whole case; returns its path."""
    from .report.service import case_report as build

    return build(cfg, case, fmt, out)

"""Library entry points behind the CLI commands (a worker or a notebook calls these too)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from .config import Config
from .errors import OsintVideoError
from .pipeline import TriageOutcome, TriageRequest, triage
from .store.cases import ClipSummary
from .workspace import Workspace


def shown(path: Path) -> str:
    """A path safe to print on one line (newlines and control characters escaped)."""
    text = str(path)
    if any(ord(c) < 32 or c == "\x7f" for c in text):
        return repr(text)[1:-1]
    return text


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
        if self.report is not None:
            return {**self.report, "input": str(self.path), "error": self.error}
        return {"input": str(self.path), "status": self.status, "error": self.error}


def expand_paths(paths: Sequence[Path]) -> Iterator[tuple[Path, str | None]]:
    """Files as given, folders walked recursively in a stable order; (path, error-or-None)."""
    for p in paths:
        if p.is_dir():
            found = False
            for root, dirs, files in os.walk(p, onerror=None):
                dirs.sort()
                for name in sorted(files):
                    found = True
                    yield Path(root) / name, None
            if not found:
                yield p, "folder contains no files"
        elif p.exists() or p.is_symlink():
            yield p, None
        else:
            yield p, "no such file or folder"


def _progress(console: Console, quiet: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[stage]}"),
        TimeElapsedColumn(),
        console=console,
        disable=quiet,
        transient=True,
    )


def triage_paths(
    cfg: Config,
    paths: Sequence[Path],
    *,
    case: str | None = None,
    source_url: str | None = None,
    note: str | None = None,
    reprocess: bool = False,
    console: Console | None = None,
    quiet: bool = False,
) -> list[TriageItem]:
    """Triage every file under `paths`; one bad item never stops the others."""
    ws = Workspace.open(cfg)
    items: list[TriageItem] = []
    try:
        with _progress(console or Console(stderr=True), quiet) as bar:
            for path, problem in list(expand_paths(paths)):
                if problem:
                    items.append(TriageItem(path, error=problem))
                    continue
                task = bar.add_task(shown(Path(path.name))[:40], total=1.0, stage="")
                req = TriageRequest(path, case, source_url, note, reprocess)
                items.append(
                    _one(
                        ws,
                        req,
                        lambda s, f, t=task: bar.update(t, completed=f, stage=s),
                        lambda msg: bar.console.print(f"note: {msg}", markup=False),
                    )
                )
                bar.remove_task(task)
    finally:
        ws.close()
    return items


def _one(ws: Workspace, req: TriageRequest, progress: Any, notify: Any = None) -> TriageItem:
    try:
        res: TriageOutcome = triage(ws, req, progress, notify)
    except OsintVideoError as exc:
        return TriageItem(req.path, error=str(exc))
    except OSError as exc:
        return TriageItem(req.path, error=f"cannot read: {exc.strerror or exc}")
    except Exception as exc:  # noqa: BLE001 - one bad file must not stop the others
        log = _log_internal_error(ws, req.path)
        return TriageItem(
            req.path, error=f"internal error ({type(exc).__name__}: {exc}); details in {log}"
        )
    report = None
    if res.report_json:
        report = json.loads((ws.home / res.report_json).read_text("utf-8"))
    return TriageItem(req.path, res.clip_id, res.status, res.error, res.report_json, report)


def _log_internal_error(ws: Workspace, path: Path) -> Path:
    """Keep the traceback of an unexpected failure for a bug report; the user sees one line."""
    import traceback

    from .store.cases import iso, utcnow

    log = ws.home / "logs" / "errors.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a", encoding="utf-8") as fh:
        fh.write(f"--- {iso(utcnow())} {shown(path)}\n{traceback.format_exc()}\n")
    return log


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

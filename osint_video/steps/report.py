"""Steps: publish the clip's reports, then rewrite the reports of the earlier clips it matched.

`publish` is the one way any part of the tool writes a clip's report files (the pipeline, a
re-triage of a known file, `report CLIP`, annotation pulls, status changes): report.json (the
source of truth, signed when the desk has a key), the contact sheet and report.html, then a
`report_generated` custody event naming every file by SHA-256. One writer at a time per clip
(`CaseStore.report_lock`): report.json and its signature are two files, and two writers at
once could pair one's report.json with the other's signature.
"""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from typing import Any

from ..errors import OsintVideoError, ReportError
from ..store.cases import NewEvent, utcnow
from ..tools import tool_versions
from ..workspace import Workspace
from .base import Job, Step

REPORT_TOOLS = ("jinja2", "pillow", "cryptography")


def publish(ws: Workspace, clip_id: int, actor: str) -> str:
    """Write a clip's report files and record them; returns report.json's workspace path."""
    with ws.cases.report_lock(clip_id):
        return _publish(ws, clip_id, actor)


def _publish(ws: Workspace, clip_id: int, actor: str, run: str | None = None) -> str:
    from ..report.provenance import write_clip_reports

    rel, outputs, stamp = write_clip_reports(ws, clip_id)
    details: dict[str, Any] = {
        "outputs": outputs,
        "generated_at": utcnow().isoformat(),
        "tools": tool_versions(REPORT_TOOLS),
    }
    if stamp is not None:
        details["timestamp"] = stamp  # the RFC 3161 token, or why there is none
    if run is not None:
        details["run"] = run
    ws.cases.append_events(clip_id, actor, [NewEvent("report_generated", details)])
    return rel


class Report(Step[str]):
    name = "report"
    action = "report_generated"
    weight = 0.05
    tools = REPORT_TOOLS

    def lock(self, job: Job) -> AbstractContextManager[Any]:
        return job.ws.cases.report_lock(job.clip_id)

    def run(self, job: Job) -> str:
        return _publish(job.ws, job.clip_id, job.actor, job.run)

    def write(self, job: Job, result: str, event: NewEvent | None) -> None:
        """`run` recorded the files it wrote (with their digests) as it wrote them."""


def matched_earlier(report: dict[str, Any] | None) -> list[int]:
    """The clips a report's archive matching found (the ones whose `seen_later` may change)."""
    found = (report or {}).get("matches") or []
    return sorted({m["clip_id"] for m in found if isinstance(m.get("clip_id"), int)})


def refresh_seen_later(ws: Workspace, clip_id: int, actor: str) -> bool:
    """Rewrite an earlier clip's reports when they do not list every later clip that matched
    it (the original's report names its reposts). Checked and written under the clip's report
    lock, so two workers that matched the same original at once rewrite it once, not twice.

    Returns:
        Whether it was rewritten.

    Raises:
        ReportError: its report.json cannot be read.
    """
    from ..report.provenance import seen_later

    with ws.cases.report_lock(clip_id):
        now = {e["clip_id"] for e in seen_later(ws.cases, clip_id)}
        rel = ws.cases.record(clip_id).derived.report_json
        shown = _read_report(ws, rel) if rel else {}
        if {e.get("clip_id") for e in shown.get("seen_later") or []} == now:
            return False
        _publish(ws, clip_id, actor)
        return True


def _read_report(ws: Workspace, rel: str) -> dict[str, Any]:
    try:
        data = json.loads((ws.home / rel).read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise ReportError(f"cannot read {rel}: {exc}") from None
    return data if isinstance(data, dict) else {}


class SeenLater(Step[list[int]]):
    """The earlier clips this one matched get this clip in their reports' `seen_later`.

    Not critical: a failure is recorded on this clip (an event and a note), but the clip's
    own work stands; `report CLIP` writes the earlier report again later.
    """

    name = "seen_later"
    action = None
    weight = 0.02
    critical = False

    def run(self, job: Job) -> list[int]:
        rel = job.ws.cases.record(job.clip_id).derived.report_json
        report = _read_report(job.ws, rel) if rel else {}
        rewritten = []
        for cid in matched_earlier(report):
            try:
                if refresh_seen_later(job.ws, cid, job.actor):
                    rewritten.append(cid)
            except OsintVideoError as exc:
                raise OsintVideoError(f"report of clip {cid} not rewritten: {exc}") from None
        return rewritten

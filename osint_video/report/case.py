"""The case report: every clip of a case on one page, its status, verdict, what to look at.

Built from the case store (not from the clips' report files, which may be older), rendered to
JSON (validated against its own schema), HTML, Markdown or PDF, and signed like a clip report.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from jsonschema import Draft202012Validator

from ..errors import NotFound, ReportError
from ..models import ClipRecord
from ..store.cases import iso, utcnow
from ..version import __version__
from ..workspace import Workspace
from .render import environment

CASE_SCHEMA_VERSION = "1.1"


@functools.cache
def case_schema() -> dict[str, Any]:
    """The JSON Schema of a case report shipped with the package."""
    text = (
        resources.files("osint_video.report")
        .joinpath("schema")
        .joinpath(f"case-report-{CASE_SCHEMA_VERSION}.schema.json")
        .read_text("utf-8")
    )
    schema: dict[str, Any] = json.loads(text)
    return schema


def validate_case_report(case: dict[str, Any]) -> None:
    """Raises ReportError naming the first problems when `case` does not match its schema."""
    errors = list(Draft202012Validator(case_schema()).iter_errors(case))
    if errors:
        raise ReportError(
            "invalid case report: " + "; ".join(f"{e.json_path}: {e.message}" for e in errors[:5])
        )


def _verdict(ws: Workspace, clip: ClipRecord) -> str | None:
    """The clip's verdict when annotation has produced one (store first, then its report)."""
    value = getattr(clip, "verdict", None)
    if isinstance(value, dict):
        value = value.get("value")
    if value:
        return str(value)
    report = ws.derived_dir(clip.sha256) / "report.json"
    try:
        found = (json.loads(report.read_text("utf-8")).get("verdict") or {}).get("value")
    except (OSError, ValueError, AttributeError):
        return None
    return str(found) if found else None


def _clip_entry(ws: Workspace, clip: ClipRecord) -> dict[str, Any]:
    return {
        "id": clip.id,
        "sha256": clip.sha256,
        "filename": clip.filename,
        "kind": clip.kind,
        "status": clip.status,
        "verdict": _verdict(ws, clip),
        "duration_s": clip.media.duration_s if clip.media else None,
        "acquired_at": iso(clip.first_acquired_at) if clip.acquisitions else None,
        "keyframes": len(clip.keyframes),
        "key_anomalies": [
            {"code": a.code, "severity": a.severity, "message": a.message}
            for a in clip.anomalies
            if a.severity in ("warning", "critical")
        ],
        "matches": [
            {"clip_id": m.other_clip_id, "sha256": m.entry.get("sha256"), "score": m.score}
            for m in clip.matches
        ],
        "duplicate_of_clip": clip.duplicate_of,
        "report": clip.derived.report_json,
        "error": clip.error,
        "custody_head": _head(clip),
    }


def _head(clip: ClipRecord) -> dict[str, Any] | None:
    """The clip's last custody event as this report commits to it (`verify` checks the log
    still reaches it)."""
    last = clip.custody[-1] if clip.custody else None
    if last is None or not last.hash:
        return None
    return {"seq": last.seq, "hash": last.hash, "at": last.at}


def build_case_report(ws: Workspace, case: str, signature: dict[str, str] | None) -> dict[str, Any]:
    """The case report dict.

    Raises:
        NotFound: no clip was acquired for `case`.
    """
    summaries = ws.cases.list_clips(case=case)
    if not summaries:
        raise NotFound(f"no clip was acquired for case {case!r}")
    clips = [_clip_entry(ws, ws.cases.record(s.id)) for s in summaries]
    statuses: dict[str, int] = {}
    for c in clips:
        statuses[c["status"]] = statuses.get(c["status"], 0) + 1
    return {
        "report_type": "case",
        "schema_version": CASE_SCHEMA_VERSION,
        "case": case,
        "generated_at": iso(utcnow()),
        "tool": {"name": "osint-video", "version": __version__},
        "statuses": statuses,
        "clips": clips,
        "signature": signature,
    }


def render_case_html(case: dict[str, Any], cache_dir: Path | None = None) -> str:
    """The self-contained HTML case report (no script, nothing fetched); compiled templates are
    kept in `cache_dir` when given (`render.template_cache_dir` of the workspace)."""
    validate_case_report(case)
    try:
        return environment(cache_dir).get_template("case.html.j2").render(c=case)
    except jinja2.TemplateError as exc:
        raise ReportError(f"could not render the case report: {exc}") from exc


def case_file_name(case: str, suffix: str) -> str:
    """A file name for a case report (`suffix` such as ".html") whatever characters the case
    name holds."""
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in case)[:80] or "case"
    return f"case-{safe}{suffix}"


def case_dir(ws: Workspace) -> Path:
    return ws.home / "reports"

"""Turn report.json (the source of truth) into a self-contained HTML page.

The HTML is read by desk editors and archived next to the evidence, possibly for years, so it
must work offline and never reach out: CSS is inline, keyframes are inlined as data: URIs, there
is no script, and a Content-Security-Policy forbids fetching anything even if a browser tried.
Every string that came from the file (tags, names, maker notes) is hostile until escaped: Jinja2
autoescaping is on for every template and nothing is marked safe.

The report is validated first (`validation.py`); what the template shows beyond plain lookups
comes from the view model (`view.py`); this module holds the Jinja environment and its
compiled-template cache.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jinja2

from ..errors import ReportError
from ..models import describe_credentials
from .text import show, timecode
from .validation import validate_report
from .view import build_view


def _chunks(text: str, size: int = 64) -> list[str]:
    """Long text in pieces (joined by <wbr> in templates): same text on screen, and WeasyPrint
    lays out many short text boxes in linear time where one long box costs quadratic time."""
    return [text[i : i + size] for i in range(0, len(text), size)]


TEMPLATE_CACHE = "cache/templates"  # inside the workspace: nothing is written under ~/.cache


def template_cache_dir(workspace: Path) -> Path:
    """Where a workspace keeps its compiled templates (WORKSPACE/cache/templates)."""
    return workspace / TEMPLATE_CACHE


@functools.cache
def environment(cache_dir: Path | None = None) -> jinja2.Environment:
    """The Jinja2 environment; with `cache_dir`, compiled templates are kept there: compiling
    the report's templates costs ~0.1 s in every process that writes a report (each `triage`).
    Without it they are compiled once per process and never written anywhere."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("osint_video.report", "templates"),
        autoescape=True,  # every template, whatever its extension: file metadata is hostile
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        bytecode_cache=_bytecode_cache(cache_dir),
    )
    env.filters["timecode"] = timecode
    env.filters["show"] = show
    env.filters["credentials"] = describe_credentials
    env.filters["json"] = lambda v: json.dumps(v, ensure_ascii=False, default=str, sort_keys=True)
    env.filters["chunks"] = _chunks
    return env


def _bytecode_cache(folder: Path | None) -> jinja2.BytecodeCache | None:
    if folder is None:
        return None
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None  # a read-only workspace compiles in memory
    return jinja2.FileSystemBytecodeCache(str(folder))


def render_html(
    report: dict[str, Any],
    workspace: Path,
    *,
    thumb_width: int = 320,
    print_layout: bool = False,
    cache_dir: Path | None = None,
) -> str:
    """The self-contained HTML report of one clip.

    Args:
        report: a report.json dict; validated first.
        workspace: the folder that keyframe paths in the report are relative to.
        thumb_width: width in pixels of the inlined keyframe thumbnails.
        print_layout: lay keyframes out for a PDF (a table rather than a CSS grid).
        cache_dir: keep compiled templates here (`template_cache_dir` of the workspace).

    Returns:
        One HTML document (UTF-8 text) with no script and nothing fetched from anywhere.

    Raises:
        ReportError: the report does not match the schema, or the template failed.
    """
    validate_report(report)
    try:
        template = environment(cache_dir).get_template("report.html.j2")
        view = build_view(report, workspace, thumb_width, print_layout)
        return template.render(r=report, report=report, v=view)
    except jinja2.TemplateError as exc:
        raise ReportError(f"could not render the HTML report: {exc}") from exc

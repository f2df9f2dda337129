"""The report formats, in one registry: each name maps to a small renderer value.

A renderer says what its files are called and served as (`suffix`, `media_type`), whether the
command prints it (`text`: JSON and Markdown go to stdout unless `--out` is given), how it
renders a clip report and how it renders a case report. A clip's JSON and HTML are written by
the pipeline's report step (`steps/report.py`: signed, with the contact sheet, recorded as
`report_generated`), so their renderer has no clip function: the report command picks the file
the step wrote. Anything that switches on a format name asks `get` here; an unknown name is one
line listing `names()`.

Rendering modules are imported when a renderer runs, not with this registry: the CLI builds
its help from the names without loading Jinja2 or WeasyPrint.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import CustodyConfig
from ..errors import InputError


@dataclass(frozen=True)
class RenderContext:
    """What a renderer may need beside the report: the workspace keyframe paths are relative
    to, where compiled templates are kept, and the desk's signing key (a case JSON is signed)."""

    workspace: Path
    cache_dir: Path | None = None
    key: Any | None = None
    custody: CustodyConfig | None = None


# (report dict, target file, context) -> None; writes `target` whole or not at all.
Render = Callable[[dict[str, Any], Path, RenderContext], None]


@dataclass(frozen=True)
class Renderer:
    """One report format (see the module docstring)."""

    name: str
    suffix: str
    media_type: str
    text: bool
    clip: Render | None  # None: the report step writes it with every triage
    case: Render | None

    def file_name(self, stem: str = "report") -> str:
        return f"{stem}{self.suffix}"


def _clip_pdf(report: dict[str, Any], target: Path, ctx: RenderContext) -> None:
    from .pdf import html_to_pdf
    from .render import render_html

    html_to_pdf(
        render_html(report, ctx.workspace, print_layout=True, cache_dir=ctx.cache_dir), target
    )


def _clip_md(report: dict[str, Any], target: Path, ctx: RenderContext) -> None:
    from .markdown import render_markdown

    _write_text(target, render_markdown(report))


def _case_html(case: dict[str, Any], target: Path, ctx: RenderContext) -> None:
    from .case import render_case_html

    _write_text(target, render_case_html(case, ctx.cache_dir))


def _case_pdf(case: dict[str, Any], target: Path, ctx: RenderContext) -> None:
    from .case import render_case_html
    from .pdf import html_to_pdf

    html_to_pdf(render_case_html(case, ctx.cache_dir), target)


def _case_md(case: dict[str, Any], target: Path, ctx: RenderContext) -> None:
    from .markdown import render_case_markdown

    _write_text(target, render_case_markdown(case))


def _case_json(case: dict[str, Any], target: Path, ctx: RenderContext) -> None:
    """Signed when the desk has a key: the signature block names the file it signs."""
    from ..custody.signing import signature_block
    from .provenance import write_signed_json

    signed = {**case, "signature": signature_block(ctx.key, target.name) if ctx.key else None}
    write_signed_json(signed, target, ctx.key, ctx.custody)


def _write_text(target: Path, text: str) -> None:
    from .provenance import write_atomic

    write_atomic(target, text.encode("utf-8"))


FORMATS: dict[str, Renderer] = {
    r.name: r
    for r in (
        Renderer("html", ".html", "text/html; charset=utf-8", False, None, _case_html),
        Renderer("pdf", ".pdf", "application/pdf", False, _clip_pdf, _case_pdf),
        Renderer("md", ".md", "text/markdown; charset=utf-8", True, _clip_md, _case_md),
        Renderer("json", ".json", "application/json", True, None, _case_json),
    )
}


def names() -> tuple[str, ...]:
    """The format names, in the order help and errors list them."""
    return tuple(FORMATS)


def get(name: str) -> Renderer:
    """The renderer of format `name`.

    Raises:
        InputError: no such format (one line naming every format there is).
    """
    found = FORMATS.get(name)
    if found is None:
        raise InputError(f"unknown report format {name!r}: use one of {', '.join(FORMATS)}")
    return found


def case_renderer(renderer: Renderer) -> Render:
    """How `renderer` renders a case report.

    Raises:
        InputError: the format has no case report (one line naming those that have).
    """
    if renderer.case is None:
        have = ", ".join(r.name for r in FORMATS.values() if r.case is not None)
        raise InputError(f"no case report as {renderer.name}: use one of {have}")
    return renderer.case

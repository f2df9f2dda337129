"""Files a clip page serves: looked up by clip id and SHA-256 in the workspace, never by a
path from the request. Videos answer HTTP range requests (206), so players can seek.

Who may fetch what: every role reads derived files (the stripped working copy, keyframes,
reports); the original bytes (evidence) need the `originals` permission (editor, admin).
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path

from starlette.background import BackgroundTask
from starlette.responses import FileResponse, Response

from ..errors import NotFound
from ..models import ClipRecord
from ..report.service import case_report, clip_report
from .context import Ctx, route
from .pages import clip_id_of

REPORTS = {
    "json": "application/json",
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
    "md": "text/markdown; charset=utf-8",
}
# A report viewed in the browser is someone's file: it may show itself, run nothing, fetch
# nothing (its images are data: URIs), and be framed by nobody.
REPORT_CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'; sandbox"
)


def _inside(root: Path, path: Path) -> Path:
    """`path` if it is a file under `root` (resolved: no link leads out), else NotFound."""
    real = path.resolve()
    if not real.is_relative_to(root.resolve()) or not real.is_file():
        raise NotFound("no such file")
    return real


def _record(ctx: Ctx) -> ClipRecord:
    return ctx.desk.ws.cases.record(clip_id_of(ctx))


def _attachment(name: str) -> dict[str, str]:
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)[:150] or "file"
    return {"Content-Disposition": f'attachment; filename="{safe}"'}


def _derived(ctx: Ctx, clip: ClipRecord, rel: str | None) -> Path:
    if not rel:
        raise NotFound("not made for this clip")
    root = ctx.desk.ws.derived_dir(clip.sha256)
    return _inside(root, ctx.desk.ws.home / rel)


@route("read")
def stripped(ctx: Ctx) -> Response:
    """The metadata-free working copy, for the players (range requests answered)."""
    clip = _record(ctx)
    path = _derived(ctx, clip, clip.derived.stripped_copy)
    headers = (
        _attachment(f"clip{clip.id}-stripped{path.suffix}")
        if "download" in (ctx.request.query_params)
        else {}
    )
    return FileResponse(path, headers=headers)


@route("originals")
def original(ctx: Ctx) -> Response:
    """The original bytes as acquired (evidence): editors and admins only."""
    clip = _record(ctx)
    path = _inside(ctx.desk.ws.home / "evidence", ctx.desk.ws.evidence.path_for(clip.sha256))
    return FileResponse(
        path, media_type="application/octet-stream", headers=_attachment(clip.filename)
    )


def _keyframe(clip: ClipRecord, index: str) -> str:
    for k in clip.keyframes:
        if str(k.index) == index:
            return k.path
    raise NotFound("no such keyframe")


@route("read")
def keyframe(ctx: Ctx) -> Response:
    clip = _record(ctx)
    rel = _keyframe(clip, str(ctx.request.path_params.get("index")))
    return FileResponse(_derived(ctx, clip, rel), media_type="image/png")


@route("read")
def thumb(ctx: Ctx) -> Response:
    """The first unique keyframe (the board's thumbnail)."""
    clip = _record(ctx)
    first = clip.unique_keyframes[:1] or clip.keyframes[:1]
    if not first:
        raise NotFound("no keyframe")
    return FileResponse(_derived(ctx, clip, first[0].path), media_type="image/png")


@route("read")
def keyframes_zip(ctx: Ctx) -> Response:
    """Every keyframe PNG in one zip (stored, not compressed: PNGs are compressed already)."""
    clip = _record(ctx)
    tmp = ctx.desk.ws.home / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="keyframes-", suffix=".zip", dir=tmp)
    try:
        with os.fdopen(fd, "wb") as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED) as zf:
            for k in clip.keyframes:
                path = _derived(ctx, clip, k.path)
                zf.write(path, f"clip{clip.id}-keyframes/{path.name}")
    except BaseException:
        os.unlink(name)
        raise
    return FileResponse(
        name,
        media_type="application/zip",
        headers=_attachment(f"clip{clip.id}-keyframes.zip"),
        background=BackgroundTask(os.unlink, name),
    )


@route("read")
def report(ctx: Ctx) -> Response:
    """report.{json,html,pdf,md} and report.json.sig. JSON and HTML are served as the pipeline
    wrote them; PDF and Markdown are rendered (and recorded) when missing or older than it."""
    clip = _record(ctx)
    fmt = str(ctx.request.path_params.get("fmt"))
    derived = ctx.desk.ws.derived_dir(clip.sha256)
    if fmt == "json.sig":
        path = _inside(derived, derived / "report.json.sig")
        return FileResponse(path, media_type="application/octet-stream",
                            headers=_attachment(f"clip{clip.id}-report.json.sig"))  # fmt: skip
    if fmt not in REPORTS:
        raise NotFound("no such report format")
    path = derived / f"report.{fmt}"
    source = derived / "report.json"
    if not source.is_file() or not path.is_file() or path.stat().st_mtime < source.stat().st_mtime:
        path = clip_report(ctx.cfg, str(clip.id), fmt)
    path = _inside(derived, path)
    view = fmt == "html" and "download" not in ctx.request.query_params
    headers = (
        {"Content-Security-Policy": REPORT_CSP}
        if view
        else _attachment(f"clip{clip.id}-report.{fmt}")
    )
    return FileResponse(path, media_type=REPORTS[fmt], headers=headers)


@route("read")
def case_file(ctx: Ctx) -> Response:
    """The case report, written afresh (WORKSPACE/reports/case-<name>.<fmt>)."""
    name = str(ctx.request.path_params.get("name"))
    fmt = str(ctx.request.path_params.get("fmt"))
    if fmt not in REPORTS:
        raise NotFound("no such report format")
    path = case_report(ctx.cfg, name, fmt)
    path = _inside(ctx.desk.ws.home / "reports", path)
    return FileResponse(path, media_type=REPORTS[fmt], headers=_attachment(path.name))

"""Desk actions (POST, editor or admin, CSRF checked by `route`): each goes through the same
library call as its CLI command, acting as the logged-in user, so its custody event names them.

A status change is a compare-and-set on the status the page showed (`expected`): when someone
else moved the clip first, the page comes back with "clip N changed from X to Y by someone
else; reload and retry" (HTTP 409), never a 500.
"""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response

from ..annotate.service import run_push
from ..desk import queue, workflow
from ..errors import ConflictError, NotFound, OsintVideoError, WorkflowError
from ..matching.both import match_clip_both
from ..report.service import clip_report
from ..store.cases import NewEvent
from ..workspace import Workspace
from .context import Ctx, route
from .pages import clip_id_of
from .views import clip_page

MAX_NOTE = 4000


def _back(clip_id: int) -> Response:
    return RedirectResponse(f"/clips/{clip_id}", status_code=303)


def _again(ctx: Ctx, clip_id: int, message: str, status: int) -> Response:
    """The clip page as it is now, with what went wrong said at the top."""
    view = clip_page(ctx.desk.ws, clip_id)
    return ctx.page("clip.html", status, v=view, c=view.clip, message=message)


def _note(ctx: Ctx) -> str | None:
    note = (ctx.form.get("note") or "").strip()
    if len(note) > MAX_NOTE:
        raise WorkflowError(f"the note is longer than {MAX_NOTE} characters")
    return note or None


def _act(ctx: Ctx, clip_id: int, fn: object) -> Response:
    try:
        fn()  # type: ignore[operator]
    except ConflictError as exc:
        return _again(ctx, clip_id, str(exc), 409)
    except NotFound:
        raise
    except OsintVideoError as exc:
        return _again(ctx, clip_id, str(exc), 400)
    return _back(clip_id)


@route("act")
def status(ctx: Ctx) -> Response:
    clip_id = clip_id_of(ctx)
    new, seen = ctx.form.get("status", ""), ctx.form.get("expected") or None

    def run() -> None:
        workflow.change_status(
            ctx.desk.ws.cases, clip_id, new, actor=ctx.user.name, note=_note(ctx), expected=seen
        )

    return _act(ctx, clip_id, run)


@route("act")
def assign(ctx: Ctx) -> Response:
    clip_id = clip_id_of(ctx)
    who = (ctx.form.get("assignee") or "").strip() or None
    return _act(
        ctx,
        clip_id,
        lambda: workflow.assign(
            ctx.desk.ws.cases, clip_id, who, actor=ctx.user.name, note=_note(ctx)
        ),
    )


@route("act")
def priority(ctx: Ctx) -> Response:
    clip_id = clip_id_of(ctx)
    level = ctx.form.get("priority", "")
    return _act(
        ctx,
        clip_id,
        lambda: workflow.set_priority(
            ctx.desk.ws.cases, clip_id, level, actor=ctx.user.name, note=_note(ctx)
        ),
    )


@route("act")
def note(ctx: Ctx) -> Response:
    """A note on the clip's record: a `note_added` custody event (who, when, what)."""
    clip_id = clip_id_of(ctx)

    def run() -> None:
        text = _note(ctx)
        if text is None:
            raise WorkflowError("the note is empty")
        ev = NewEvent("note_added", {"note": text})
        ctx.desk.ws.cases.append_events(clip_id, ctx.user.name, [ev])

    return _act(ctx, clip_id, run)


@route("act")
def push(ctx: Ctx) -> Response:
    """Send the clip's unique keyframes and its verdict task to Label Studio."""
    clip_id = clip_id_of(ctx)
    return _act(ctx, clip_id, lambda: run_push(ctx.cfg, refs=[str(clip_id)]))


@route("act")
def match_again(ctx: Ctx) -> Response:
    """Match the clip against the archive again by picture and sound (recorded), then
    rewrite its reports: as `osint-video match CLIP` does, so its sound matches survive."""
    clip_id = clip_id_of(ctx)

    def run() -> None:
        ws = Workspace.open(ctx.cfg)
        try:
            match_clip_both(ws, clip_id)  # takes the archive lock itself, for each record
        finally:
            ws.close()
        clip_report(ctx.cfg, str(clip_id), "json")

    return _act(ctx, clip_id, run)


@route("act")
def retry(ctx: Ctx) -> Response:
    """A failed clip back to the queue (and, on SQLite, processed by this server)."""
    clip_id = clip_id_of(ctx)

    def run() -> None:
        queue.retry(ctx.cfg, str(clip_id), note=_note(ctx))
        ctx.desk.jobs.process()

    return _act(ctx, clip_id, run)

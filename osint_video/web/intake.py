"""Intake from the browser: pasted URLs and uploaded files, through `desk.queue.add` (the same
path as `osint-video queue add`), with case, priority and note, acting as the logged-in user.

Uploads are streamed into the workspace (`upload.py`), taken in at once (hashed, probed and
recorded: a file that is empty or not media is refused here with its one-line reason, on the
page), then processed in the background: by the desk's workers on PostgreSQL, by this server's
local process pool on SQLite (`jobs.py`). URLs are downloaded in the background and show on
the board as pending until they are clips or failed items (with a retry button).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import RedirectResponse, Response

from ..config import Config
from ..desk import queue
from ..desk.workflow import PRIORITIES, priority_value
from ..errors import InputError
from . import auth
from .context import Ctx, Desk, error_page, refused, render, route, session_of
from .roles import may
from .upload import UploadRefused, receive
from .users import Session

MAX_URLS = 100


def _options(form: dict[str, str]) -> queue.AddOptions:
    """Case, priority and note as `queue add` takes them (an unknown priority is refused)."""
    prio = (form.get("priority") or "normal").strip()
    priority_value(prio)
    case = (form.get("case") or "").strip()[:200] or None
    note = (form.get("note") or "").strip()[:4000] or None
    return queue.AddOptions(case=case, priority=None if prio == "normal" else prio, note=note)


@route("intake")
def intake_page(ctx: Ctx) -> Response:
    return ctx.page(
        "intake.html", priorities=list(PRIORITIES), results=[], message="",
        max_mb=ctx.desk.cfg.web.max_upload_mb,
    )  # fmt: skip


@route("intake")
def add_urls(ctx: Ctx) -> Response:
    lines = [x.strip() for x in (ctx.form.get("urls") or "").splitlines()]
    urls = list(dict.fromkeys(x for x in lines if x))
    if not urls:
        raise InputError("no URL given: paste one per line")
    if len(urls) > MAX_URLS:
        raise InputError(f"{len(urls)} URLs at once: at most {MAX_URLS}")
    bad = [u for u in urls if not u.lower().startswith(("http://", "https://"))]
    if bad:
        raise InputError(f"not an http(s) URL: {bad[0][:200]}")
    ctx.desk.jobs.add_urls(ctx.cfg, urls, _options(ctx.form))
    return RedirectResponse("/", status_code=303)


@route("intake")
def retry_item(ctx: Ctx) -> Response:
    """A failed URL item `u<N>` downloaded again (in the background)."""
    item = str(ctx.request.path_params.get("item", ""))
    ctx.desk.jobs.retry(ctx.cfg, item)
    return RedirectResponse("/", status_code=303)


def _take_in(
    desk: Desk, cfg: Config, files: list[tuple[str, Path]], opts: queue.AddOptions
) -> list[queue.AddResult]:
    """`queue add` of the uploaded files (hashed, probed, recorded), then processing."""
    results = queue.add(cfg, [str(p) for _n, p in files], opts)
    desk.jobs.process()
    return results


async def upload(request: Request) -> Response:
    """POST /intake/upload: streamed, CSRF first, size-limited; then taken in at once."""
    desk: Desk = request.app.state.desk
    session = await run_in_threadpool(session_of, desk, request)
    if session is None or not may(session.user.role, "intake"):
        return refused(desk, request, session)
    limit = int(desk.cfg.web.max_upload_mb * (1 << 20))
    try:
        up = await receive(
            request.headers.get("content-type", ""),
            request.stream(),
            desk.ws.home / "tmp",
            limit,
            lambda token: auth.same(token, session.csrf),
        )
    except UploadRefused as exc:
        return _upload_page(desk, request, session, [], str(exc), exc.status)
    except ClientDisconnect:
        return Response(status_code=400)
    try:
        opts = _options(up.fields)
        results = []
        if up.files:
            cfg = desk.as_user(session.user.name)
            results = await run_in_threadpool(_take_in, desk, cfg, up.files, opts)
        rows = [(name, r) for (name, _p), r in zip(up.files, results, strict=True)]
        rows += [
            (name, queue.AddResult(name, error="empty file: nothing to take in"))
            for name in up.empty
        ]
        if not rows:
            return _upload_page(desk, request, session, [], "no file chosen", 400)
        bad = any(r.error for _n, r in rows)
        return _upload_page(desk, request, session, rows, "", 400 if bad else 200)
    except InputError as exc:
        return _upload_page(desk, request, session, [], str(exc), 400)
    finally:
        shutil.rmtree(up.folder, ignore_errors=True)


def _upload_page(
    desk: Desk,
    request: Request,
    session: Session | None,
    rows: list[tuple[str, queue.AddResult]],
    message: str,
    status: int,
) -> Response:
    if session is None:
        return error_page(desk, request, None, status, message)
    return render(
        desk, request, "intake.html", status, session=session, results=rows, message=message,
        priorities=list(PRIORITIES), max_mb=desk.cfg.web.max_upload_mb,
    )  # fmt: skip

"""Pages: login and logout, the board (and its live parts), a clip, a case."""

from __future__ import annotations

import secrets
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..desk import failures
from ..desk.workflow import PRIORITIES, STATUSES
from ..errors import NotFound
from . import auth, users
from .board import SORTS, BoardQuery, board, digest
from .context import Ctx, Desk, json_response, render, route, session_of
from .views import clip_page

# -- login ---------------------------------------------------------------------------------------


def _secure(desk: Desk, request: Request) -> bool:
    mode = desk.cfg.web.cookie_secure
    return mode == "always" or (mode == "auto" and request.url.scheme == "https")


def _next(value: str | None) -> str:
    """Only a path on this site (never `//host` or a scheme): no open redirect."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


def _login_form(desk: Desk, request: Request, message: str = "", status: int = 200) -> Response:
    token = secrets.token_urlsafe(32)
    page = render(
        desk,
        request,
        "login.html",
        status,
        login_csrf=token,
        message=message,
        next=_next(request.query_params.get("next")),
    )
    page.set_cookie(
        auth.LOGIN_COOKIE,
        token,
        max_age=3600,
        httponly=True,
        samesite="strict",
        secure=_secure(desk, request),
        path="/login",
    )
    return page


async def login_page(request: Request) -> Response:
    desk: Desk = request.app.state.desk
    if await run_in_threadpool(session_of, desk, request) is not None:
        return RedirectResponse(_next(request.query_params.get("next")), status_code=303)
    return _login_form(desk, request)


async def login(request: Request) -> Response:
    """POST /login: throttled per name and address; a new session replaces any old cookie."""
    desk: Desk = request.app.state.desk
    form = await request.form(max_files=0, max_fields=10, max_part_size=4096)
    name, password = str(form.get("name") or ""), str(form.get("password") or "")
    if not auth.same(str(form.get("csrf") or ""), request.cookies.get(auth.LOGIN_COOKIE)):
        return _login_form(desk, request, "the form expired: please log in again", 403)
    address = request.client.host if request.client else "?"
    keys = (f"name:{name.casefold()}", f"addr:{address}")
    wait = desk.throttle.blocked(*keys)
    if wait > 0:
        return _login_form(
            desk, request, f"too many failed logins: try again in {int(wait) + 1} s", 429
        )
    user = await run_in_threadpool(users.authenticate, desk.ws.cases, name, password)
    if user is None:
        desk.throttle.failed(*keys)
        return _login_form(desk, request, "wrong name or password", 401)
    desk.throttle.succeeded(keys[0])
    token, _session = await run_in_threadpool(
        users.open_session, desk.ws.cases, user, desk.lifetime, address
    )
    target = _next(str(form.get("next") or ""))
    resp = RedirectResponse(target, status_code=303)
    resp.set_cookie(
        auth.COOKIE,
        auth.sign(desk.secret, token),
        max_age=int(desk.lifetime.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=_secure(desk, request),
        path="/",
    )
    resp.delete_cookie(auth.LOGIN_COOKIE, path="/login")
    return resp


@route("read")
def logout(ctx: Ctx) -> Response:
    users.close_session(ctx.desk.ws.cases, ctx.session.id)
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(auth.COOKIE, path="/")
    return resp


# -- the board -----------------------------------------------------------------------------------


def _board_values(ctx: Ctx, case: str | None = None) -> dict:
    params = dict(ctx.request.query_params)
    if case is not None:
        params["case"] = case
    q = BoardQuery.parse(params)
    desk = ctx.desk
    b = board(desk.ws.cases, q, desk.cfg.web.page_size)
    show_failed = q.status in (None, "failed") and q.assignee is None and q.text is None
    fails = failures.list_failures(desk.ws.cases, case=q.case) if show_failed else []
    return {
        "q": q,
        "b": b,
        "fails": fails,
        "pending": sorted(desk.jobs.pending.values(), key=lambda p: p.id),
        "statuses": STATUSES,
        "priorities": list(PRIORITIES),
        "sorts": SORTS,
        "urlencode": urlencode,
        "digest": _digest(desk),
    }


def _digest(desk: Desk) -> str:
    return f"{digest(desk.ws.cases)}:{desk.jobs.version}"


@route("read")
def board_page(ctx: Ctx) -> Response:
    return ctx.page("board.html", **_board_values(ctx))


@route("read")
def board_cards(ctx: Ctx) -> Response:
    """The cards and counts alone: what the live board swaps in when something changed."""
    return ctx.page("_cards.html", **_board_values(ctx))


@route("read")
def board_state(ctx: Ctx) -> Response:
    """A few bytes the board polls every second: has anything changed?"""
    return json_response({"digest": _digest(ctx.desk)})


# -- a clip, a case -------------------------------------------------------------------------------


def clip_id_of(ctx: Ctx) -> int:
    """The clip id of the path (digits only: anything else is no clip)."""
    raw = ctx.request.path_params.get("clip_id", "")
    if not str(raw).isdigit() or len(str(raw)) > 12:
        raise NotFound(f"no clip {raw!r}")
    return int(raw)


@route("read")
def clip(ctx: Ctx) -> Response:
    view = clip_page(ctx.desk.ws, clip_id_of(ctx))
    return ctx.page("clip.html", v=view, c=view.clip, message="")


@route("read")
def case(ctx: Ctx) -> Response:
    from .cases import case_view

    name = ctx.request.path_params["name"]
    return ctx.page("case.html", case=case_view(ctx.desk.ws, name), **_board_values(ctx, name))

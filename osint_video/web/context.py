"""The server's state (`Desk`) and the one way a route is reached (`route`): a logged-in
session with the permission the route needs, and for every POST its CSRF token.

Routes are plain functions `fn(ctx) -> Response`, run in a worker thread (the library is
synchronous); `route` does what every route needs before them, so no route can forget it.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from ..config import Config
from ..errors import ConflictError, NotFound, OsintVideoError
from ..workspace import Workspace
from . import auth, users
from .jobs import Jobs
from .roles import may

log = logging.getLogger(__name__)
TEMPLATES = Path(__file__).with_name("templates")


@dataclass
class Desk:
    """Everything the routes share: config, the open workspace, the cookie secret."""

    cfg: Config
    ws: Workspace
    secret: bytes
    throttle: auth.Throttle
    jobs: Jobs
    env: jinja2.Environment = field(init=False)

    def __post_init__(self) -> None:
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(TEMPLATES)),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        from .views import FILTERS

        self.env.filters.update(FILTERS)

    @property
    def idle(self) -> timedelta:
        return timedelta(minutes=self.cfg.web.idle_minutes)

    @property
    def lifetime(self) -> timedelta:
        return timedelta(hours=self.cfg.web.session_hours)

    def as_user(self, name: str) -> Config:
        """The config with `name` as operator: what the library records as the custody actor."""
        ws = dataclasses.replace(self.cfg.workspace, operator=name)
        return dataclasses.replace(self.cfg, workspace=ws)


@dataclass
class Ctx:
    """One request, past the checks: who is asking, and what they sent."""

    request: Request
    desk: Desk
    session: users.Session
    form: dict[str, str]

    @property
    def user(self) -> users.User:
        return self.session.user

    @property
    def cfg(self) -> Config:
        """The config acting as this user (custody events name them)."""
        return self.desk.as_user(self.user.name)

    def may(self, permission: str) -> bool:
        return may(self.user.role, permission)

    def page(self, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        return render(self.desk, self.request, template, status, session=self.session, **values)


def render(
    desk: Desk,
    request: Request,
    template: str,
    status: int = 200,
    *,
    session: users.Session | None = None,
    **values: Any,
) -> HTMLResponse:
    """A page from templates/ (autoescaped: anything from a file or a user is text)."""
    user = session.user if session else None
    html = desk.env.get_template(template).render(
        request=request,
        user=user,
        csrf=session.csrf if session else "",
        may=(lambda p: may(user.role, p)) if user else (lambda _p: False),
        **values,
    )
    return HTMLResponse(html, status_code=status)


def session_of(desk: Desk, request: Request) -> users.Session | None:
    """The live session of the request's cookie (None: none, forged, expired, disabled)."""
    token = auth.unsign(desk.secret, request.cookies.get(auth.COOKIE))
    return users.find_session(desk.ws.cases, token, desk.idle) if token else None


def wants_html(request: Request) -> bool:
    return request.method == "GET" and "text/html" in request.headers.get("accept", "")


def refused(desk: Desk, request: Request, session: users.Session | None) -> Response:
    """No session: a page asks to log in (back here after); anything else is a bare 401."""
    if session is None and wants_html(request):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse("/login?" + urlencode({"next": target}), status_code=303)
    if session is None:
        return Response("login required\n", status_code=401, media_type="text/plain")
    return error_page(desk, request, session, 403, "your role does not allow this")


def error_page(
    desk: Desk, request: Request, session: users.Session | None, status: int, message: str
) -> Response:
    if wants_html(request) or request.method == "POST":
        return render(desk, request, "error.html", status, session=session, message=message)
    return Response(message + "\n", status_code=status, media_type="text/plain")


Handler = Callable[[Ctx], Response]


def route(permission: str, *, csrf: bool = True) -> Callable[[Handler], Any]:
    """Wrap `fn(ctx)`: session, permission, CSRF on POST; library errors become pages
    (NotFound 404, ConflictError 409, other OsintVideoError 400), never a 500."""

    def wrap(fn: Handler) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(fn)
        async def endpoint(request: Request) -> Response:
            desk: Desk = request.app.state.desk
            session = await run_in_threadpool(session_of, desk, request)
            if session is None or not may(session.user.role, permission):
                return refused(desk, request, session)
            form: dict[str, str] = {}
            if request.method == "POST":
                data = await request.form(max_files=0, max_fields=50, max_part_size=65536)
                form = {k: v for k, v in data.items() if isinstance(v, str)}
                sent = form.get("csrf") or request.headers.get("x-csrf-token")
                if csrf and not auth.same(sent, session.csrf):
                    return error_page(
                        desk, request, session, 403, "the form's security token is wrong: reload"
                    )
            ctx = Ctx(request, desk, session, form)
            try:
                return await run_in_threadpool(fn, ctx)
            except NotFound as exc:
                return error_page(desk, request, session, 404, str(exc))
            except ConflictError as exc:
                return error_page(desk, request, session, 409, str(exc))
            except OsintVideoError as exc:
                return error_page(desk, request, session, 400, str(exc))

        return endpoint

    return wrap


def json_response(data: Any) -> JSONResponse:
    return JSONResponse(data, headers={"Cache-Control": "no-store"})

"""The web desk's ASGI application: routes, security headers, the shared state.

Routes that scripts and tests rely on stay stable: `GET /login`, `POST /login`, `GET /`,
`GET /clips/{id}`, `POST /clips/{id}/status` (form field `status` plus `csrf`),
`GET /cases/{name}`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..config import Config
from ..pool import tune_sqlite
from ..workspace import Workspace
from . import actions, admin, auth, files, intake, pages
from .context import Desk
from .jobs import Jobs

STATIC = Path(__file__).with_name("static")
# Our own files only: no inline script or style, nothing from another origin, never framed.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "media-src 'self'; connect-src 'self'; font-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]


class SecurityHeaders:
    """Adds the CSP (unless a route set its own, as reports do) and the usual hardening
    headers to every answer; pages are never cached."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _v in headers}
                if b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", CSP.encode()))
                if b"cache-control" not in names:
                    static = scope["path"].startswith("/static/")
                    headers.append((b"cache-control", b"max-age=3600" if static else b"no-store"))
                headers += [h for h in HEADERS if h[0] not in names]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, sending)


def routes() -> list[Route | Mount]:
    clip = "/clips/{clip_id}"
    return [
        Route("/login", pages.login_page, methods=["GET"]),
        Route("/login", pages.login, methods=["POST"]),
        Route("/logout", pages.logout, methods=["POST"]),
        Route("/", pages.board_page, methods=["GET"]),
        Route("/board/cards", pages.board_cards, methods=["GET"]),
        Route("/board/state", pages.board_state, methods=["GET"]),
        Route("/cases/{name}", pages.case, methods=["GET"]),
        Route("/cases/{name}/report.{fmt}", files.case_file, methods=["GET"]),
        Route(clip, pages.clip, methods=["GET"]),
        Route(clip + "/status", actions.status, methods=["POST"]),
        Route(clip + "/assign", actions.assign, methods=["POST"]),
        Route(clip + "/priority", actions.priority, methods=["POST"]),
        Route(clip + "/note", actions.note, methods=["POST"]),
        Route(clip + "/push", actions.push, methods=["POST"]),
        Route(clip + "/match", actions.match_again, methods=["POST"]),
        Route(clip + "/retry", actions.retry, methods=["POST"]),
        Route(clip + "/stripped", files.stripped, methods=["GET"]),
        Route(clip + "/original", files.original, methods=["GET"]),
        Route(clip + "/thumb.png", files.thumb, methods=["GET"]),
        Route(clip + "/keyframes.zip", files.keyframes_zip, methods=["GET"]),
        Route(clip + "/keyframes/{index}.png", files.keyframe, methods=["GET"]),
        Route(clip + "/report.{fmt}", files.report, methods=["GET"]),
        Route("/intake", intake.intake_page, methods=["GET"]),
        Route("/intake/urls", intake.add_urls, methods=["POST"]),
        Route("/intake/upload", intake.upload, methods=["POST"]),
        Route("/intake/retry/{item}", intake.retry_item, methods=["POST"]),
        Route("/users", admin.users_page, methods=["GET"]),
        Route("/users", admin.change, methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(STATIC)), name="static"),
    ]


async def not_found(request: Request, exc: Exception) -> Response:
    return PlainTextResponse("not found\n", status_code=404)


def create_app(cfg: Config) -> Starlette:
    """The application on the workspace of `cfg` (opened at startup, closed at shutdown)."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        ws = Workspace.open(cfg)
        tune_sqlite(ws.cases.engine)  # WAL: the board reads while the pool writes
        jobs = Jobs(cfg, ws.cases.engine.dialect.name == "sqlite", ws.cases)
        app.state.desk = Desk(
            cfg, ws, auth.load_secret(ws.home), auth.Throttle(
                cfg.web.login_attempts, cfg.web.login_window_s
            ), jobs,
        )  # fmt: skip
        try:
            yield
        finally:
            jobs.close()
            ws.close()

    app = Starlette(routes=routes(), lifespan=lifespan, exception_handlers={404: not_found})
    app.add_middleware(SecurityHeaders)
    return app

"""A hostile stand-in for Label Studio on 127.0.0.1, for error-handling tests only.

Real behaviour is tested against the real server (tests/lsserver.py); this one exists to answer
what a real server never should: JSON of the wrong shape, missing keys, wrong types, HTML where
JSON belongs. By default it answers the few calls `annotate push|pull` make the way Label Studio
does (minimal bodies); `answer(method, path, status, body)` replaces one route's answer, so a
test walks a hostile answer through every step.
"""

from __future__ import annotations

import http.server
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

HTML = "<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>"


def _default(method: str, path: str, body: Any, files: list[str], seen: int) -> tuple[int, Any]:
    """Label Studio's answers, reduced to the fields our client reads (`files`: the names of
    the images uploaded so far; `seen`: projects created so far, so ids are 7, 8, ...)."""
    if path == "/health":
        return 200, {"status": "UP"}
    if path == "/api/token/refresh/":
        return 200, {"access": "short.lived.token"}
    if path == "/api/current-user/whoami":
        return 200, {"id": 1, "email": "admin@desk.test", "username": "admin"}
    if path == "/api/users/":
        return 200, [{"id": 1, "email": "admin@desk.test", "username": "admin"}]
    if path == "/api/projects/" and method == "GET":
        return 200, {"count": 0, "next": None, "previous": None, "results": []}
    if path == "/api/projects/" and method == "POST":
        return 201, {"id": 7 + seen, "title": (body or {}).get("title", "p")}
    if m := re.fullmatch(r"/api/projects/(\d+)/", path):
        return 200, {"id": int(m[1]), "title": "p"}
    if re.fullmatch(r"/api/projects/\d+/import", path) and isinstance(body, list):
        return 201, {"task_count": len(body), "task_ids": list(range(100, 100 + len(body)))}
    if re.fullmatch(r"/api/projects/\d+/import", path):
        return 201, {"file_upload_ids": list(range(1, len(files) + 1))}
    if re.fullmatch(r"/api/projects/\d+/file-uploads", path):
        return 200, [{"id": i, "file": f"upload/7/0a1b2c3d-{f}"} for i, f in enumerate(files, 1)]
    if path == "/api/tasks":
        return 200, {"tasks": [], "total": 0}
    if re.fullmatch(r"/api/projects/\d+/export", path):
        return 200, []
    return 404, {"detail": "Not found."}


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def _serve(self) -> None:
        path = self.path.split("?", 1)[0]
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None  # multipart uploads
            self.server.files += re.findall(r'filename="([^"]+)"', raw.decode("latin-1"))
        self.server.seen.append(f"{self.command} {path}")
        status, answer = self.server.routes.get((self.command, path), (None, None))
        if status is None:
            made = self.server.seen[:-1].count("POST /api/projects/")
            status, answer = _default(self.command, path, body, self.server.files, made)
        data = answer.encode() if isinstance(answer, str) else json.dumps(answer).encode()
        kind = "text/html" if isinstance(answer, str) else "application/json"
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_DELETE = _serve  # noqa: N815

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    routes: dict[tuple[str, str], tuple[int, Any]]
    seen: list[str]
    files: list[str]


class FakeLabelStudio:
    """`url`; `answer(...)` to make one route hostile; `seen` lists the calls made."""

    def __init__(self, httpd: _Server) -> None:
        self._httpd = httpd
        self.url = f"http://127.0.0.1:{httpd.server_address[1]}"

    @property
    def seen(self) -> list[str]:
        return self._httpd.seen

    def answer(self, method: str, path: str, status: int, body: Any) -> None:
        self._httpd.routes[(method, path)] = (status, body)

    def reset(self) -> None:
        self._httpd.routes.clear()
        self._httpd.seen.clear()
        self._httpd.files.clear()


@contextmanager
def fake_labelstudio() -> Iterator[FakeLabelStudio]:
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.routes, httpd.seen, httpd.files = {}, [], []
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield FakeLabelStudio(httpd)
    finally:
        httpd.shutdown()
        httpd.server_close()

"""Shared by the web desk tests: a real triaged workspace (the demo's sample clip, its
mirrored repost, a clip whose title tag is HTML), users of every role, a real uvicorn server
on 127.0.0.1, and a logged-in HTTP client."""

from __future__ import annotations

import functools
import http.server
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from custody_helpers import HOSTILE_TITLE, run

PASSWORDS = {
    "ed": "editor password 1",
    "ed2": "editor password 2",
    "vi": "viewer password 1",
    "ad": "admin password 1",
}
ROLES = {"ed": "editor", "ed2": "editor", "vi": "viewer", "ad": "admin"}


def add_users(home: Path, env: dict[str, str] | None = None) -> None:
    import subprocess

    from custody_helpers import CLI

    base = {"OSINT_VIDEO_HOME": str(home), "OSINT_VIDEO_OPERATOR": "tester"}
    import os

    for name, pw in PASSWORDS.items():
        proc = subprocess.run(
            [*CLI, "users", "add", name, "--role", ROLES[name], "--password-stdin"],
            input=pw + "\n",
            capture_output=True,
            text=True,
            env={**os.environ, **base, **(env or {})},
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr


def hostile_clip(path: Path) -> Path:
    """3 s of footage unlike the sample (a cellular automaton) whose title tag is HTML."""
    import subprocess

    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
         "cellauto=s=320x240:rate=10:rule=110:seed=3,format=yuv420p", "-t", "3",
         "-c:v", "libx264", "-metadata", f"title={HOSTILE_TITLE}", str(path)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return path


def make_desk(home: Path) -> Path:
    """sample (clip 1) and a hostile-title clip (clip 2), then the mirrored repost (clip 3)."""
    from osint_video.sample import make_repost, make_sample

    src = home.parent / "incoming"
    sample = make_sample(src / "sudzha_sample.mp4")
    hostile = hostile_clip(src / "hostile title.mp4")
    run(home, "keys", "init")
    run(home, "triage", str(sample), "--case", "kursk", "--source-url",
        "https://example.org/channel/123", "--note", "first <b>sighting</b>")  # fmt: skip
    run(home, "triage", str(hostile), "--case", "<i>other</i>")
    repost = make_repost(sample, src / "repost.mp4")
    run(home, "triage", str(repost), "--case", "kursk", "--note", "a mirrored repost")
    add_users(home)
    return home


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        pass


@contextmanager
def clip_site(root: Path) -> Iterator[str]:
    """A plain web server on 127.0.0.1 serving a 10 s clip as /ka52.mp4 (URL intake)."""
    from synth import make_cut_clip

    make_cut_clip(root / "ka52.mp4", [10], 25, size=(160, 120))
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root))
    )
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(cfg: Any) -> Iterator[tuple[str, Any]]:
    """The real app under uvicorn in a thread; yields (base URL, the app)."""
    import uvicorn

    from osint_video.web.app import create_app

    app = create_app(cfg)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        thread.join(15)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def login(base: str, name: str, password: str | None = None) -> httpx.Client:
    """A client logged in as `name` (the session cookie set by POST /login)."""
    c = httpx.Client(base_url=base, timeout=60, follow_redirects=False)
    form = c.get("/login")
    r = c.post(
        "/login",
        data={"csrf": csrf_of(form.text), "name": name, "password": password or PASSWORDS[name]},
    )
    assert r.status_code == 303, r.text[:500]
    c.headers["x-csrf-token"] = csrf_of(c.get("/").text)
    return c


def wait_for(fn: Any, timeout: float = 120, every: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = fn()
        if got:
            return got
        assert time.monotonic() < deadline, "timed out"
        time.sleep(every)


_BUILT: dict[str, Path] = {}


def desk_copy(factory: Any, name: str) -> Path:
    """A copy of the shared desk workspace (built once per test process: ~15 s)."""
    import shutil

    if "home" not in _BUILT:
        _BUILT["home"] = make_desk(factory.mktemp("webdesk-built") / "ws")
    dst = factory.mktemp(name) / "ws"
    shutil.copytree(_BUILT["home"], dst, symlinks=True)
    return dst

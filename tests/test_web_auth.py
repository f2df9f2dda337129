"""The web desk's gate: users and roles, login and logout, signed cookies, CSRF, throttling,
disabled users, and every route refused without a session (real server, real workspace)."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from custody_helpers import CLI
from webdesk import PASSWORDS, csrf_of, desk_copy, login, serving

from osint_video.config import load_config


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    home = desk_copy(tmp_path_factory, "webauth")
    env = {"OSINT_VIDEO__WEB__LOGIN_ATTEMPTS": "3", "OSINT_VIDEO__WEB__LOGIN_WINDOW_S": "2"}
    cfg = load_config(home=home, environ={**os.environ, **env})
    with serving(cfg) as (base, _app):
        yield base, home


def users_cli(home: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OSINT_VIDEO_HOME": str(home)}
    return subprocess.run(
        [*CLI, "users", *args], input=stdin, capture_output=True, text=True, env=env, timeout=60
    )


def test_users_command(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    made = users_cli(home, "add", "ana", "--role", "editor")
    assert made.returncode == 0, made.stderr
    password = made.stdout.strip().rsplit(" ", 1)[-1]
    assert len(password) >= 12 and password not in made.stderr
    assert users_cli(home, "add", "ana").returncode != 0  # taken: one line, non-zero
    bad = users_cli(home, "add", "bo", "--role", "boss")
    assert bad.returncode != 0 and "unknown role" in bad.stderr and "Traceback" not in bad.stderr
    short = users_cli(home, "add", "bo", "--password-stdin", stdin="short\n")
    assert short.returncode != 0 and "too short" in short.stderr
    assert (
        users_cli(home, "add", "bo", "--password-stdin", stdin="long enough pw\n").returncode == 0
    )
    assert users_cli(home, "set-role", "bo", "admin").returncode == 0
    assert users_cli(home, "disable", "ana").returncode == 0
    listed = users_cli(home, "list", "--json")
    import json

    rows = {u["name"]: u for u in json.loads(listed.stdout)}
    assert rows["ana"]["disabled"] and rows["bo"]["role"] == "admin"
    # the store keeps an argon2id hash, never the password
    import sqlite3

    con = sqlite3.connect(home / "cases.sqlite")
    hashes = [h for (h,) in con.execute("SELECT password_hash FROM users")]
    con.close()
    assert all(h.startswith("$argon2id$") for h in hashes) and password not in "".join(hashes)


def test_login_logout_and_cookie_flags(desk: tuple[str, Path]) -> None:
    base, _home = desk
    c = httpx.Client(base_url=base, follow_redirects=False)
    assert c.get("/", headers={"accept": "text/html"}).headers["location"] == "/login?next=%2F"
    page = c.get("/login")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp and "http" not in csp
    form = {"csrf": csrf_of(page.text), "name": "ed", "password": PASSWORDS["ed"]}
    r = c.post("/login", data={**form, "next": "//evil.example/x"})
    assert r.status_code == 303 and r.headers["location"] == "/"  # no open redirect
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    board = c.get("/")
    assert board.status_code == 200 and "ed (editor)" in board.text
    assert c.post("/logout", data={"csrf": csrf_of(board.text)}).status_code == 303
    assert c.get("/board/state").status_code == 401  # the session is gone on the server


def test_wrong_password_then_throttled(desk: tuple[str, Path]) -> None:
    base, _home = desk
    c = httpx.Client(base_url=base, follow_redirects=False)
    codes = []
    for _ in range(4):
        form = c.get("/login")
        codes.append(
            c.post(
                "/login",
                data={"csrf": csrf_of(form.text), "name": "ad", "password": "not it at all"},
            ).status_code  # fmt: skip
        )
    assert codes == [401, 401, 401, 429]
    form = c.get("/login")  # even the right password waits out the window
    right = {"csrf": csrf_of(form.text), "name": "ad", "password": PASSWORDS["ad"]}
    assert c.post("/login", data=right).status_code == 429
    time.sleep(2.2)
    form = c.get("/login")
    right["csrf"] = csrf_of(form.text)
    assert c.post("/login", data=right).status_code == 303


def test_login_form_needs_its_token(desk: tuple[str, Path]) -> None:
    base, _home = desk
    c = httpx.Client(base_url=base, follow_redirects=False)
    c.get("/login")
    r = c.post("/login", data={"csrf": "forged", "name": "ed", "password": PASSWORDS["ed"]})
    assert r.status_code == 403


def test_forged_and_expired_sessions_are_refused(desk: tuple[str, Path]) -> None:
    base, home = desk
    c = login(base, "vi")
    value = c.cookies["osv_session"]
    token, mac = value.split(".")
    forged = httpx.Client(base_url=base, cookies={"osv_session": f"{token}.{mac[:-2]}AA"})
    assert forged.get("/board/state").status_code == 401
    other = httpx.Client(base_url=base, cookies={"osv_session": "x" * 43 + "." + mac})
    assert other.get("/board/state").status_code == 401
    assert c.get("/board/state").status_code == 200
    import sqlite3

    con = sqlite3.connect(home / "cases.sqlite")
    con.execute("UPDATE web_sessions SET expires_at = '2000-01-01 00:00:00.000000'")
    con.commit()
    con.close()
    assert c.get("/board/state").status_code == 401


def test_disabled_user_is_locked_out_at_once(desk: tuple[str, Path]) -> None:
    base, home = desk
    c = login(base, "ed2")
    assert c.get("/board/state").status_code == 200
    assert users_cli(home, "disable", "ed2").returncode == 0
    assert c.get("/board/state").status_code == 401
    form = httpx.Client(base_url=base, follow_redirects=False)
    page = form.get("/login")
    r = form.post("/login", data={"csrf": csrf_of(page.text), "name": "ed2",
                                  "password": PASSWORDS["ed2"]})  # fmt: skip
    assert r.status_code == 401
    assert users_cli(home, "enable", "ed2").returncode == 0


def _routes(app: Any) -> list[tuple[str, str]]:
    from starlette.routing import Route

    out = []
    for r in app.routes:
        if isinstance(r, Route):
            for m in sorted(r.methods or []):
                if m != "HEAD":
                    path = r.path.format(clip_id=1, name="kursk", fmt="json", index=0, item="u1")
                    out.append((m, path))
    return out


def test_every_route_refuses_without_a_session(desk: tuple[str, Path]) -> None:
    """Each route of the app (read from it, so a new one is covered too), files with a Range
    header included: nothing but the login page answers without a session."""
    from osint_video.web.app import routes

    base, _home = desk
    c = httpx.Client(base_url=base, follow_redirects=False)
    app_routes = _routes(type("A", (), {"routes": routes()}))
    assert len(app_routes) > 25
    for method, path in app_routes:
        if path == "/login":
            continue
        r = c.request(method, path, headers={"Range": "bytes=0-99"})
        assert r.status_code in (401, 403), (method, path, r.status_code)
        assert len(r.content) < 100
    for path in ("/clips/1/stripped", "/clips/1/original", "/clips/1/keyframes/0.png"):
        r = c.get(path, headers={"Range": "bytes=0-99", "accept": "text/html"})
        assert r.status_code == 303 and r.headers["location"].startswith("/login?")


def test_a_viewer_is_refused_every_change(desk: tuple[str, Path]) -> None:
    from osint_video.web.app import routes

    base, _home = desk
    c = login(base, "vi")
    before = c.get("/clips/1").text
    posts = [p for m, p in _routes(type("A", (), {"routes": routes()})) if m == "POST"]
    for path in posts:
        if path in ("/logout",):
            continue
        r = c.post(path, data={"status": "in_review", "assignee": "x", "priority": "urgent",
                               "note": "n", "urls": "http://127.0.0.1/x.mp4"})  # fmt: skip
        assert r.status_code == 403, (path, r.status_code)
    assert c.get("/clips/1/original").status_code == 403  # no originals for viewers
    assert c.get("/clips/1/stripped", headers={"Range": "bytes=0-9"}).status_code == 206
    after = c.get("/clips/1").text
    assert before.count("status_changed") == after.count("status_changed")
    assert "Change status" not in after and "Original (" not in after


def test_a_post_without_its_csrf_token_is_refused(desk: tuple[str, Path]) -> None:
    base, _home = desk
    c = login(base, "ed")
    del c.headers["x-csrf-token"]
    r = c.post("/clips/1/priority", data={"priority": "urgent"})
    assert r.status_code == 403 and "security token" in r.text
    r = c.post("/clips/1/priority", data={"priority": "urgent", "csrf": "not the token"})
    assert r.status_code == 403
    assert "urgent" not in c.get("/clips/1").text.split("Actions")[0]


def test_admin_manages_users_in_the_page(desk: tuple[str, Path]) -> None:
    base, _home = desk
    assert login(base, "ed").get("/users").status_code == 403
    ad = login(base, "ad")
    page = ad.post("/users", data={"action": "add", "name": "newbie", "role": "viewer"})
    assert page.status_code == 200
    found = re.search(r"Password for <b>newbie</b>, shown once: <code>([^<]+)</code>", page.text)
    assert found
    newbie = login(base, "newbie", found.group(1).replace("&#39;", "'").replace("&amp;", "&"))
    assert newbie.get("/board/state").status_code == 200
    assert ad.post("/users", data={"action": "disable", "name": "newbie"}).status_code == 200
    assert newbie.get("/board/state").status_code == 401
    mine = ad.post("/users", data={"action": "role", "name": "ad", "role": "viewer"})
    assert mine.status_code == 400  # not one's own account from the page


def _serving_cli(home: Path, port: int, env: dict[str, str]) -> subprocess.Popen[str]:
    """`osint-video serve` as a user starts it, once its login page answers."""
    proc = subprocess.Popen(
        [*CLI, "serve", "--port", str(port)],
        env={**os.environ, "OSINT_VIDEO_HOME": str(home), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, proc.communicate()[1]
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/login", timeout=2).status_code == 200:
                return proc
        assert time.monotonic() < deadline, "serve did not answer"
        time.sleep(0.2)


def _login_behind_proxy(port: int) -> str:
    """Log in with the headers a TLS-terminating proxy adds; the Set-Cookie header."""
    c = httpx.Client(base_url=f"http://127.0.0.1:{port}", follow_redirects=False)
    proxy = {"x-forwarded-for": "203.0.113.7", "x-forwarded-proto": "https"}
    form = {"csrf": csrf_of(c.get("/login").text), "name": "ana", "password": "ana password 1"}
    r = c.post("/login", data=form, headers=proxy)
    assert r.status_code == 303, r.text[:300]
    [session] = [h for h in r.headers.get_list("set-cookie") if h.startswith("osv_session=")]
    return session.lower()


@pytest.mark.parametrize("trusted", [False, True])
def test_serve_believes_proxy_headers_only_from_trusted_addresses(
    tmp_path: Path, trusted: bool
) -> None:
    """The real `serve` command: X-Forwarded-For/-Proto from 127.0.0.1 are ignored unless
    127.0.0.1 is in `[web] trusted_proxies`; believed, the session records the client's address
    and the cookie is Secure (the client spoke https to the proxy)."""
    import sqlite3

    from webdesk import free_port

    home = tmp_path / "ws"
    refused = subprocess.run(
        [*CLI, "serve", "--port", str(free_port())],
        env={**os.environ, "OSINT_VIDEO_HOME": str(home)},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert refused.returncode != 0 and "no user can log in" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert (
        users_cli(home, "add", "ana", "--password-stdin", stdin="ana password 1\n").returncode == 0
    )
    port = free_port()
    env = {"OSINT_VIDEO__WEB__TRUSTED_PROXIES": "127.0.0.1"} if trusted else {}
    proc = _serving_cli(home, port, env)
    try:
        cookie = _login_behind_proxy(port)
    finally:
        proc.terminate()
        proc.wait(30)
    con = sqlite3.connect(home / "cases.sqlite")
    [(address,)] = con.execute("SELECT address FROM web_sessions").fetchall()
    con.close()
    assert address == ("203.0.113.7" if trusted else "127.0.0.1")
    assert ("secure" in [p.strip() for p in cookie.split(";")]) is trusted

"""Our own Label Studio server, for real: the test fixture, `ping`, Local Files serving, and
`osint-video labelstudio start|status|stop` on a workspace (from the session template)."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from osint_video.config import load_config
from osint_video.errors import LabelStudioError
from osint_video.labelstudio import process, server
from osint_video.labelstudio.process import Credentials
from osint_video.labelstudio.server import Connection, connection, ping

if TYPE_CHECKING:
    from lsserver import LsServer


# Until cli.py registers the `labelstudio` group, register it here (a no-op once it does).
_MAIN = """
from osint_video import cli
from osint_video.commands import labelstudio
if not any(g.name == "labelstudio" for g in cli.app.registered_groups):
    labelstudio.register(cli.app, cli._cfg)
cli.main()
"""
CLI = [sys.executable, "-c", _MAIN]


def _get(url: str, token: str | None) -> tuple[int, bytes]:
    headers = {"Authorization": f"Token {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers)) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


def test_fixture_server_lists_projects_with_sdk(ls_server_module: LsServer) -> None:
    client = ls_server_module.client()
    project = client.projects.create(title="fixture check")
    titles = [p.title for p in client.projects.list()]
    assert "fixture check" in titles
    client.projects.delete(id=project.id)
    assert ls_server_module.url.startswith("http://127.0.0.1:")
    assert ls_server_module.token not in repr(ls_server_module.connection)


def test_ping_accepts_the_token_and_names_the_user(ls_server_module: LsServer) -> None:
    me = ping(ls_server_module.connection)
    assert me["email"] == ls_server_module.username


def test_ping_wrong_token_is_a_clear_error(ls_server_module: LsServer) -> None:
    bad = Connection(ls_server_module.url, "not-the-token-0000000000", local=True)
    with pytest.raises(LabelStudioError, match="rejected the API key"):
        ping(bad)
    jwt_like = Connection(ls_server_module.url, "aaa.bbb.ccc")
    with pytest.raises(LabelStudioError, match="rejected the API key"):
        ping(jwt_like)


def test_ping_unreachable_is_a_clear_error() -> None:
    conn = Connection(f"http://127.0.0.1:{process.free_port()}", "x" * 40)
    with pytest.raises(LabelStudioError, match="is not reachable"):
        ping(conn, timeout=2.0)


def test_make_user_gives_a_second_annotator(ls_server_module: LsServer) -> None:
    uid = ls_server_module.make_user("anna@desk.test", "Anna")
    client = ls_server_module.client()
    emails = {u.email: u.id for u in client.users.list()}
    assert emails["anna@desk.test"] == uid
    assert uid != ping(ls_server_module.connection)["id"]
    config = (
        '<View><Image name="image" value="$image"/>'
        '<Choices name="v" toName="image"><Choice value="yes"/><Choice value="no"/>'
        "</Choices></View>"
    )
    project = client.projects.create(title="two annotators", label_config=config)
    client.projects.import_tasks(id=project.id, request=[{"image": "/x.png"}])
    task = next(iter(client.tasks.list(project=project.id)))
    result = [
        {"from_name": "v", "to_name": "image", "type": "choices", "value": {"choices": ["yes"]}}
    ]
    made = client.annotations.create(id=task.id, result=result, completed_by=uid, lead_time=4.5)
    assert made.completed_by == uid
    stored = client.annotations.list(id=task.id)
    assert [(a.completed_by, a.lead_time) for a in stored] == [(uid, 4.5)]


def test_local_files_serves_a_png_under_files_root(ls_server_module: LsServer) -> None:
    png = ls_server_module.files_root / "ws" / "derived" / "abc" / "kf 0001.png"
    png.parent.mkdir(parents=True)
    payload = b"\x89PNG\r\n\x1a\n" + os.urandom(64)
    png.write_bytes(payload)
    client = ls_server_module.client()
    project = client.projects.create(title="local files")
    client.import_storage.local.create(project=project.id, path=str(png.parent))
    rel = urllib.request.quote(png.relative_to(ls_server_module.files_root).as_posix())
    url = f"{ls_server_module.url}/data/local-files/?d={rel}"
    assert _get(url, ls_server_module.token) == (200, payload)
    assert _get(url, None)[0] in (401, 403)
    outside = f"{ls_server_module.url}/data/local-files/?d=..%2F..%2Fetc%2Fpasswd"
    assert _get(outside, ls_server_module.token)[0] != 200  # Label Studio answers 500 here


def test_connection_prefers_a_desks_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABEL_STUDIO_URL", "https://ls.desk.example/")
    monkeypatch.delenv("LABEL_STUDIO_API_KEY", raising=False)
    cfg = load_config(home=tmp_path / "ws", environ={})
    with pytest.raises(LabelStudioError, match="LABEL_STUDIO_API_KEY"):
        connection(cfg)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "secret-key-123")
    conn = connection(cfg)
    assert (conn.url, conn.local, conn.files_root) == ("https://ls.desk.example", False, None)
    assert "secret-key-123" not in repr(conn)
    monkeypatch.delenv("LABEL_STUDIO_URL")
    with pytest.raises(LabelStudioError, match="labelstudio start"):
        connection(cfg)


def _env(ws: Path, port: int = 0) -> dict[str, str]:
    env = {**os.environ, "OSINT_VIDEO_HOME": str(ws), "OSINT_VIDEO__LABELSTUDIO__PORT": str(port)}
    env.pop("LABEL_STUDIO_URL", None)
    return env


def _cli(ws: Path, *args: str, port: int = 0) -> subprocess.CompletedProcess[str]:
    """The real CLI in its own process (as a user runs it: the server must outlive it)."""
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, env=_env(ws, port), timeout=300, check=False
    )


def _cli_fast(ws: Path, *args: str) -> tuple[int, str]:
    """The same commands in-process (no 3 s import per call); returns (exit code, output)."""
    from typer.testing import CliRunner

    from osint_video import cli
    from osint_video.commands import labelstudio

    if not any(g.name == "labelstudio" for g in cli.app.registered_groups):
        labelstudio.register(cli.app, cli._cfg)
    result = CliRunner().invoke(cli.app, ["--home", str(ws), *args], env=_env(ws))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


@pytest.fixture
def cli_ws(tmp_path: Path) -> Iterator[Path]:
    """A workspace for the CLI; whatever server it still records is killed at teardown."""
    ws = tmp_path / "ws"
    yield ws
    try:
        state = json.loads((ws / "labelstudio" / "state.json").read_text())
    except (OSError, ValueError):
        return
    process.terminate(int(state["pid"]))


def test_cli_start_status_stop(ls_template: Path, cli_ws: Path) -> None:
    creds = Credentials.load(ls_template / "credentials.json")
    with socket.socket() as busy:  # the configured port is taken: another one is chosen
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        started = _cli(cli_ws, "labelstudio", "start", "--template", str(ls_template), port=taken)
    assert started.returncode == 0, started.stderr
    cfg = load_config(home=cli_ws, environ={})
    info = server.status(cfg)
    assert info is not None and info.healthy and info.port != taken
    text = started.stdout + started.stderr
    assert info.url in text and creds.username in text
    assert text.count(creds.password) == 1  # the one intended message
    assert creds.token not in text
    creds_file = cli_ws / "labelstudio" / "credentials.json"
    assert stat.S_IMODE(creds_file.stat().st_mode) == 0o600
    conn = connection(cfg)
    assert conn.local and conn.files_root == cli_ws.resolve()
    assert ping(conn)["email"] == creds.username

    code, text = _cli_fast(cli_ws, "labelstudio", "start")
    assert code == 0 and "already running" in text and info.url in text
    assert creds.password not in text
    assert server.status(cfg).pid == info.pid  # type: ignore[union-attr]

    code, text = _cli_fast(cli_ws, "labelstudio", "status", "--json")
    data = json.loads(text)
    assert code == 0 and data["running"] and (data["url"], data["pid"]) == (info.url, info.pid)
    assert creds.password not in text and creds.token not in text

    t0 = time.monotonic()
    code, text = _cli_fast(cli_ws, "labelstudio", "stop")
    assert code == 0 and "stopped" in text
    assert not process.alive(info.pid) and time.monotonic() - t0 < 20
    assert server.status(cfg) is None
    code, text = _cli_fast(cli_ws, "labelstudio", "status")
    assert code == 1 and "not running" in text
    log = (cli_ws / "labelstudio" / "server.log").read_text()
    assert "Starting development server" in log or "Quit the server" in log
    assert creds.password not in log and creds.token not in log


def test_cli_without_label_studio_is_one_line(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    env_cfg = {"OSINT_VIDEO__LABELSTUDIO__EXECUTABLE": str(tmp_path / "nope" / "label-studio")}
    proc = subprocess.run(
        [*CLI, "labelstudio", "start"],
        capture_output=True,
        text=True,
        env={**os.environ, "OSINT_VIDEO_HOME": str(ws), **env_cfg},
        timeout=60,
        check=False,
    )
    assert proc.returncode != 0
    assert proc.stderr.strip().count("\n") == 0 and "label-studio" in proc.stderr


def _write_state(ws: Path, pid: int) -> Path:
    state = ws / "labelstudio" / "state.json"
    state.parent.mkdir(parents=True, exist_ok=True)
    fields = {"url": "http://127.0.0.1:9", "port": 9, "pid": pid, "username": "a@b.c"}
    state.write_text(json.dumps({**fields, "files_root": str(ws)}))
    return state


def test_status_forgets_a_dead_server(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    cfg = load_config(home=ws, environ={})
    assert server.status(cfg) is None and server.stop(cfg) is False
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    state = _write_state(ws, dead.pid)
    assert server.status(cfg) is None and not state.exists()
    with pytest.raises(LabelStudioError, match="labelstudio start"):
        connection(cfg)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:  # a live pid that is not Label Studio (pid reuse after a reboot) is not ours to kill
        _write_state(ws, other.pid)
        assert server.status(cfg) is None
        _write_state(ws, other.pid)
        assert server.stop(cfg) is False and other.poll() is None
    finally:
        other.kill()
        other.wait()


def test_a_port_taken_during_start_fails_fast(ls_template: Path, tmp_path: Path) -> None:
    """Label Studio silently moves to the next port when ours is busy: we must notice, not
    poll the wrong port until the timeout."""
    base = tmp_path / "ls"
    layout = process.Layout(base / "data", base / "home", base / "server.log", base)
    process.copy_template(ls_template, layout.data_dir)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = process.launch(process.find_executable(), layout, port, None)
        t0 = time.monotonic()
        try:
            with pytest.raises(process.PortTaken, match="try again"):
                process.wait_healthy(f"http://127.0.0.1:{port}", proc, 120.0, layout.log)
        finally:
            process.terminate(proc.pid)
    assert time.monotonic() - t0 < 60 and not process.alive(proc.pid)

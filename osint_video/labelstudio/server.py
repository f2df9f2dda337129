"""Which Label Studio to talk to, and our own local one (`osint-video labelstudio start`).

A desk's server is named by `LABEL_STUDIO_URL` (or `labelstudio.url`) with
`LABEL_STUDIO_API_KEY`; a single analyst runs ours, whose state lives in WORKSPACE/labelstudio/:

    data/              Label Studio's data dir (SQLite database, uploads, exports)
    home/              its HOME (it writes ~/.config and ~/.local otherwise)
    server.log         its output (never contains the password or the token)
    state.json         url, port, pid of the running server
    credentials.json   admin login, password and API token (mode 0600)

Our server serves the workspace itself as Local Files (`/data/local-files/?d=<relative path>`),
so keyframes under WORKSPACE/derived reach it without upload.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ..config import Config
from ..errors import LabelStudioError
from . import process
from .process import Credentials, Layout

MAX_ANSWER = 1 << 20  # the whoami and token answers are a few hundred bytes
NO_SERVER = (
    "no Label Studio server: run `osint-video labelstudio start` "
    "or set LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY"
)


@dataclass(frozen=True)
class Connection:
    """How to reach a Label Studio server.

    `files_root` is the Local Files document root when the server is our own (images are then
    referenced by path, not uploaded); None for a desk's server.
    """

    url: str
    api_key: str = field(repr=False)
    local: bool = False
    files_root: Path | None = None


@dataclass(frozen=True)
class ServerInfo:
    """Our local server, as `start` and `status` see it (no secrets)."""

    url: str
    port: int
    pid: int
    username: str
    root: Path
    files_root: Path
    healthy: bool = True
    already_running: bool = False

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(root=str(self.root), files_root=str(self.files_root), running=True)
        return data


def _root(cfg: Config) -> Path:
    return cfg.home_dir() / "labelstudio"


def _layout(cfg: Config) -> Layout:
    root = _root(cfg)
    return Layout(root / "data", root / "home", root / "server.log", cfg.home_dir())


def connection(cfg: Config) -> Connection:
    """The server to use: a desk's (env/config URL + env key), else our running local one.

    Raises:
        LabelStudioError: a URL without a key, or no server at all.
    """
    url = os.environ.get("LABEL_STUDIO_URL", "") or cfg.labelstudio.url
    if url:
        key = os.environ.get("LABEL_STUDIO_API_KEY", "")
        if not key:
            raise LabelStudioError(f"LABEL_STUDIO_API_KEY is not set (Label Studio at {url})")
        return Connection(url.rstrip("/"), key, local=False, files_root=None)
    info = status(cfg)
    if info is None:
        raise LabelStudioError(NO_SERVER)
    if not info.healthy:
        raise LabelStudioError(f"Label Studio at {info.url} is not answering yet (starting?)")
    creds = Credentials.load(_root(cfg) / "credentials.json")
    return Connection(info.url, creds.token, local=True, files_root=info.files_root)


def auth_header(conn: Connection, timeout: float = 10.0) -> str:
    """The Authorization header value: `Token KEY` for a legacy token; for a personal access
    token (a JWT) a short-lived `Bearer` access token obtained from /api/token/refresh/.

    Raises:
        LabelStudioError: unreachable, or the key is rejected.
    """
    if conn.api_key.count(".") != 2:
        return f"Token {conn.api_key}"
    body = json.dumps({"refresh": conn.api_key}).encode()
    data = _request(conn, "POST", "/api/token/refresh/", body, None, timeout)
    access = data.get("access")
    if not isinstance(access, str) or not access:
        raise LabelStudioError(_odd(conn, "POST /api/token/refresh/", "no access token"))
    return f"Bearer {access}"


def ping(conn: Connection, timeout: float = 10.0) -> dict[str, Any]:
    """Fail fast before any work: the server answers and accepts our key.

    Returns:
        The authenticated user as Label Studio describes it (`id`, `email`, ...).

    Raises:
        LabelStudioError: "Label Studio at URL is not reachable" or "... rejected the API key".
    """
    if not process.health(conn.url, timeout=timeout):
        raise LabelStudioError(f"Label Studio at {conn.url} is not reachable")
    header = auth_header(conn, timeout)
    return _request(conn, "GET", "/api/current-user/whoami", None, header, timeout)


def _request(
    conn: Connection, method: str, path: str, body: bytes | None, auth: str | None, timeout: float
) -> dict[str, Any]:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if auth:
        headers["Authorization"] = auth
    req = urllib.request.Request(conn.url + path, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read(MAX_ANSWER)
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403) or (exc.code == 400 and path.startswith("/api/token/")):
            detail = _detail(exc).replace(conn.api_key, "***")
            raise LabelStudioError(
                f"Label Studio at {conn.url} rejected the API key"
                + (f" ({detail})" if detail else "")
            ) from None
        raise LabelStudioError(
            f"Label Studio at {conn.url}: {method} {path} gave {exc.code}"
        ) from None
    except (OSError, ValueError) as exc:
        raise LabelStudioError(f"Label Studio at {conn.url} is not reachable ({exc})") from None
    try:
        answer = json.loads(raw)
    except ValueError:
        shown = "an HTML page" if raw.lstrip()[:1] == b"<" else "not JSON"
        raise LabelStudioError(_odd(conn, f"{method} {path}", shown)) from None
    if not isinstance(answer, dict):
        raise LabelStudioError(_odd(conn, f"{method} {path}", f"a {type(answer).__name__}"))
    return answer


def _odd(conn: Connection, call: str, what: str) -> str:
    return (
        f"Label Studio at {conn.url} gave an unexpected answer to {call} ({what}): "
        "is it a Label Studio server of a supported version?"
    )


def _detail(exc: urllib.error.HTTPError) -> str:
    """The server's own reason (e.g. "legacy token authentication has been disabled")."""
    try:
        detail = json.loads(exc.read() or b"{}").get("detail", "")
    except (OSError, ValueError, AttributeError):
        return ""
    return str(detail)[:200]


def sdk_client(conn: Connection) -> Any:
    """The official SDK (`label_studio_sdk.LabelStudio`) for this connection; imported here
    because it is heavy (pandas, nltk) and only annotation commands need it."""
    from label_studio_sdk import LabelStudio

    return LabelStudio(base_url=conn.url, api_key=conn.api_key)


def _read_state(cfg: Config) -> dict[str, Any] | None:
    try:
        return dict(json.loads((_root(cfg) / "state.json").read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None


def _info(cfg: Config, state: dict[str, Any], **extra: Any) -> ServerInfo:
    return ServerInfo(
        url=state["url"],
        port=int(state["port"]),
        pid=int(state["pid"]),
        username=state["username"],
        root=_root(cfg),
        files_root=Path(state["files_root"]),
        **extra,
    )


def status(cfg: Config) -> ServerInfo | None:
    """Our local server if its process runs (`healthy` says whether /health answers).

    A state file left by a server that died (or a reboot) is removed.
    """
    state = _read_state(cfg)
    if state is None:
        return None
    if not process.alive(int(state.get("pid", 0))):
        (_root(cfg) / "state.json").unlink(missing_ok=True)
        return None
    return _info(cfg, state, healthy=process.health(state["url"]))


@contextmanager
def _lock(cfg: Config) -> Iterator[None]:
    """One start/stop at a time per workspace (two `start`s must not launch two servers)."""
    root = _root(cfg)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def start(cfg: Config, *, template: Path | None = None) -> ServerInfo:
    """Start our local server (no-op if it already runs) and wait until it answers.

    The first start creates the data dir, the admin user and its API token (30-60 s of
    migrations); later starts take a few seconds.

    Args:
        cfg: the configuration (workspace, `labelstudio.port`, `username`, `start_timeout_s`).
        template: a dir prepared by `process.init_template`, copied as the data dir when there
            is none yet (fast start for tests).

    Returns:
        The running server; `already_running` is True when nothing was started.

    Raises:
        LabelStudioError: it exited or did not answer in time (see the log).
        ToolMissing: label-studio is not installed.
    """
    with _lock(cfg):
        running = status(cfg)
        if running is not None:
            return replace(running, already_running=True)
        exe = process.find_executable(cfg.labelstudio.executable)
        layout = _layout(cfg)
        creds, fresh = _credentials(cfg, layout, template)
        try:
            state = _launch(cfg, exe, layout, creds, fresh)
        except process.PortTaken:
            state = _launch(cfg, exe, layout, creds, fresh)
        _check_ours(cfg, state["url"], creds, state["pid"])
        return _info(cfg, state)


def _launch(
    cfg: Config, exe: Path, layout: Layout, creds: Credentials, fresh: bool
) -> dict[str, Any]:
    """Launch and wait. The state file is written at once, so a start interrupted by Ctrl-C
    leaves a server that `status` and `stop` still find. `fresh`: create the admin user."""
    port = _choose_port(cfg.labelstudio.port)
    url = f"http://127.0.0.1:{port}"
    proc = process.launch(exe, layout, port, creds if fresh else None)
    state = {
        "url": url,
        "port": port,
        "pid": proc.pid,
        "username": creds.username,
        "files_root": str(layout.files_root),
        "started_at": time.time(),
    }
    _write_state(cfg, state)
    try:
        process.wait_healthy(url, proc, cfg.labelstudio.start_timeout_s, layout.log)
    except LabelStudioError:
        (_root(cfg) / "state.json").unlink(missing_ok=True)
        if fresh:  # a half-migrated database without its admin user: start over next time
            shutil.rmtree(layout.data_dir, ignore_errors=True)
        raise
    return state


def _credentials(cfg: Config, layout: Layout, template: Path | None) -> tuple[Credentials, bool]:
    """Existing credentials for an existing data dir; new ones (or the template's) otherwise.

    The flag is True when the server must create the admin user (an empty data dir).
    """
    path = _root(cfg) / "credentials.json"
    if (layout.data_dir / "label_studio.sqlite3").is_file():
        if not path.is_file():
            raise LabelStudioError(
                f"{layout.data_dir} exists but {path} is missing: cannot log in to it"
            )
        return Credentials.load(path), False
    if layout.data_dir.exists():
        shutil.rmtree(layout.data_dir)  # an empty or half-initialised dir from a failed start
    if template is not None:
        creds = process.copy_template(template, layout.data_dir)
    else:
        creds = Credentials.generate(cfg.labelstudio.username)
    creds.save(path)
    return creds, template is None


def _choose_port(wanted: int) -> int:
    """The configured port if free, else one the kernel picks (recorded in state.json)."""
    return wanted if wanted and process.port_is_free(wanted) else process.free_port()


def _check_ours(cfg: Config, url: str, creds: Credentials, pid: int) -> None:
    """The server answering must be ours: it accepts our token (another one on that port would
    not). Stops our process and raises otherwise."""
    try:
        ping(Connection(url, creds.token))
    except LabelStudioError as exc:
        process.terminate(pid)
        (_root(cfg) / "state.json").unlink(missing_ok=True)
        raise LabelStudioError(f"{exc} (the server started but not with our token)") from None


def _write_state(cfg: Config, state: dict[str, Any]) -> None:
    path = _root(cfg) / "state.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2), encoding="utf-8")
    tmp.replace(path)


def stop(cfg: Config, timeout: float = 15.0) -> bool:
    """Stop our local server (SIGTERM, then SIGKILL after `timeout`).

    Returns:
        True if a server was running and is now stopped; False if none was running.
    """
    with _lock(cfg):
        state = _read_state(cfg)
        if state is None:
            return False
        stopped = process.terminate(int(state.get("pid", 0)), timeout=timeout)
        (_root(cfg) / "state.json").unlink(missing_ok=True)
        return stopped


def credentials(cfg: Config) -> Credentials:
    """The local server's admin credentials (for the one message `start` prints)."""
    return Credentials.load(_root(cfg) / "credentials.json")


def log_path(cfg: Config) -> Path:
    """The local server's log file."""
    return _layout(cfg).log

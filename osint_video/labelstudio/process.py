"""Running a real `label-studio` process: find it, launch it headless, wait for it, stop it.

Shared by `osint-video labelstudio start` (a server living in the workspace) and the test
fixture (a server per test in temp dirs), so both go through the same, measured start-up path
(see ../shared/LABEL_STUDIO.md): 127.0.0.1 only, HOME and data dir pinned, no network calls,
no prompts, secrets passed through the environment rather than argv (argv is world-readable in
`ps`).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import LabelStudioError, ToolMissing

INSTALL_HINT = "run `make setup` or `pip install 'osint-video[server]'`"
# Environment variables of the server that a user's shell must not leak into it: Label Studio
# reads NAME, LABEL_STUDIO_NAME and HEARTEX_NAME alike (core/utils/params.py::get_env).
_LEAKY = ("USERNAME", "PASSWORD", "USER_TOKEN", "PORT", "HOST", "DJANGO_DB", "DATABASE_NAME")


MARKER = "--- osint-video: starting label-studio"


class PortTaken(LabelStudioError):
    """The chosen port was taken between our check and the server binding it."""


@dataclass(frozen=True)
class Credentials:
    """The admin user created in a fresh data dir; the token is a fixed legacy API token."""

    username: str
    password: str = field(repr=False)
    token: str = field(repr=False)

    @classmethod
    def generate(cls, username: str) -> Credentials:
        """Random password and a 40-character token (the longest Label Studio stores)."""
        return cls(username, secrets.token_urlsafe(18), secrets.token_hex(20))

    def save(self, path: Path) -> None:
        """Write as JSON, readable by the owner only (created 0600, never widened)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(
                {"username": self.username, "password": self.password, "token": self.token}, fh
            )
        os.chmod(path, 0o600)

    @classmethod
    def load(cls, path: Path) -> Credentials:
        """Read a file written by `save`.

        Raises:
            LabelStudioError: missing or unreadable.
        """
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(data["username"], data["password"], data["token"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise LabelStudioError(f"cannot read Label Studio credentials {path}: {exc}") from None


@dataclass(frozen=True)
class Layout:
    """Where one server keeps its state: its data dir, its HOME, its log."""

    data_dir: Path
    home: Path
    log: Path
    files_root: Path


def find_executable(configured: str = "") -> Path:
    """The `label-studio` program: configured path, beside our Python (venv), then PATH.

    Raises:
        ToolMissing: not installed (the message says how to install it).
    """
    if configured:
        path = Path(configured).expanduser()
        if path.is_file() and os.access(path, os.X_OK):
            return path
        raise ToolMissing(f"label-studio not found at {path} (labelstudio.executable)")
    beside = Path(sys.executable).parent / "label-studio"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which("label-studio")
    if found:
        return Path(found)
    raise ToolMissing(f"label-studio is not installed: {INSTALL_HINT}")


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing listens on host:port (Label Studio would silently take the next one)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port the kernel says is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def server_env(layout: Layout, creds: Credentials | None) -> dict[str, str]:
    """The environment of the server: pinned dirs, analytics and version checks off.

    With `creds`, the admin user is created on first start (a fresh data dir); a data dir that
    already has its user ignores them.
    """
    env = {k: v for k, v in os.environ.items() if not _leaks(k)}
    env.update(
        HOME=str(layout.home),
        LABEL_STUDIO_BASE_DATA_DIR=str(layout.data_dir),
        LATEST_VERSION_CHECK="false",
        SENTRY_DSN="",
        FRONTEND_SENTRY_DSN="",
        COLLECT_ANALYTICS="false",
        LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED="true",
        LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT=str(layout.files_root),
        SSRF_PROTECTION_ENABLED="false",
        PYTHONUNBUFFERED="1",
    )
    if creds is not None:
        env.update(
            LABEL_STUDIO_USERNAME=creds.username,
            LABEL_STUDIO_PASSWORD=creds.password,
            LABEL_STUDIO_USER_TOKEN=creds.token,
        )
    return env


def _leaks(key: str) -> bool:
    for prefix in ("LABEL_STUDIO_", "HEARTEX_", ""):
        if key.startswith(prefix) and key[len(prefix) :] in _LEAKY:
            return True
    return False


def launch(
    exe: Path, layout: Layout, port: int, creds: Credentials | None
) -> subprocess.Popen[bytes]:
    """Start `label-studio start` detached (own session: it outlives the CLI), output to the log.

    `--enable-legacy-api-token` has no environment form; it only matters when the organisation
    is created (first start or `init`).
    """
    for d in (layout.data_dir, layout.home, layout.log.parent):
        d.mkdir(parents=True, exist_ok=True)
    argv = [str(exe), "start", "--no-browser", "--internal-host", "127.0.0.1", "-p", str(port)]
    argv.append("--enable-legacy-api-token")
    with open(layout.log, "ab") as log:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        log.write(f"{MARKER} {stamp} port {port}\n".encode())
        log.flush()
        return subprocess.Popen(
            argv,
            env=server_env(layout, creds),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=layout.data_dir,
            start_new_session=True,
        )


def health(url: str, timeout: float = 2.0) -> bool:
    """True when `GET /health` answers `{"status": "UP"}` (no auth needed)."""
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=timeout) as resp:
            answer = json.loads(resp.read(65536) or b"{}")
    except (OSError, ValueError):
        return False
    return isinstance(answer, dict) and answer.get("status") == "UP"  # not: another service


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float, log: Path) -> None:
    """Poll /health until it answers, the process dies, or `timeout` passes.

    Raises:
        LabelStudioError: the process exited or did not answer in time (it is killed then).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LabelStudioError(
                f"Label Studio exited during start (code {proc.returncode}); see {log}"
            )
        if health(url, timeout=1.0):
            return
        if _port_taken(log):
            terminate(proc.pid, timeout=5.0)
            raise PortTaken(f"{url}: the port was taken while Label Studio started; try again")
        time.sleep(0.2)
    terminate(proc.pid, timeout=5.0)
    raise LabelStudioError(
        f"Label Studio did not answer at {url} within {timeout:.0f} s; see {log}"
    )


def _port_taken(log: Path) -> bool:
    """Label Studio moved to another port on its own (someone took ours after we checked)."""
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return "is in use" in text.rsplit(MARKER, 1)[-1]


def alive(pid: int) -> bool:
    """True when `pid` is a running (not zombie) label-studio process."""
    try:
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our own dead child
    except ChildProcessError:
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    state = stat.rsplit(")", 1)[-1].split()[0]
    return state not in ("Z", "X") and b"label-studio" in cmdline


def terminate(pid: int, timeout: float = 15.0) -> bool:
    """SIGTERM, wait up to `timeout`, then SIGKILL. True if the process was running."""
    if not alive(pid):
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return True
    while alive(pid):
        time.sleep(0.05)
    return True


def rss_bytes(pid: int) -> int:
    """Resident memory of a process (0 if gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def init_template(
    dest: Path, creds: Credentials, *, exe: Path | None = None, timeout: float = 300.0
) -> Layout:
    """Prepare a data dir once with `label-studio init --quiet` (migrations, admin, token).

    A copy of it starts in about 3 s instead of 30-60 s. Writes `dest/data`, `dest/home` and
    `dest/credentials.json` (0600).

    Raises:
        LabelStudioError: init failed or timed out.
        ToolMissing: label-studio is not installed.
    """
    exe = exe or find_executable()
    layout = Layout(dest / "data", dest / "home", dest / "init.log", dest)
    for d in (layout.data_dir, layout.home):
        d.mkdir(parents=True, exist_ok=True)
    argv = [str(exe), "init", "--quiet", "--enable-legacy-api-token"]
    with open(layout.log, "ab") as log:
        try:
            proc = subprocess.run(
                argv,
                env=server_env(layout, creds),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=layout.data_dir,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise LabelStudioError(f"label-studio init timed out; see {layout.log}") from None
    if proc.returncode != 0 or not (layout.data_dir / "label_studio.sqlite3").is_file():
        raise LabelStudioError(f"label-studio init failed; see {layout.log}")
    creds.save(dest / "credentials.json")
    return layout


def copy_template(template: Path, data_dir: Path) -> Credentials:
    """Copy a template's data dir to `data_dir` (must not exist); returns its credentials."""
    creds = Credentials.load(template / "credentials.json")
    shutil.copytree(template / "data", data_dir)
    return creds

"""pytest plugin: real Label Studio servers for tests, each started from a session template.

Loaded from tests/conftest.py with `pytest_plugins = ["lsserver"]` (tests/ is on sys.path, the
way `synth` and `custody_helpers` are imported).

Fixtures:
    ls_template (session): a data dir prepared once with `label-studio init --quiet` (admin
        user, fixed legacy API token, migrations done; 30-60 s on 2 busy cores). Set
        OSINT_VIDEO_LS_TEMPLATE=/some/dir to keep it between sessions (rebuilt when the
        label-studio version changes).
    ls_server (function) / ls_server_module (module): a running server on 127.0.0.1 on a free
        port, from a copy of the template (about 3-6 s to /health), stopped at teardown.
        Each yields an `LsServer` with `.url`, `.token`, `.files_root` (the Local Files
        document root: put workspaces under it), `.data_dir`, `.connection` (a `Connection`
        with `local=True`), `.log`, `.pid`, `.client()` (the SDK) and `.make_user(email)`.

Second users (annotators): on the Community edition the admin's token may create users with
`POST /api/users/` (SDK: `client.users.create(email=..., username=...)`); the new user belongs
to the admin's organisation, has no password and no token of its own, and
`annotations.create(id=task_id, result=[...], completed_by=user_id)` with the admin's token
records an annotation as that user would (what `make_user` returns is that id).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from osint_video.errors import ToolMissing
from osint_video.labelstudio import process
from osint_video.labelstudio.process import Credentials, Layout
from osint_video.labelstudio.server import Connection

TEST_CREDENTIALS = Credentials(
    username="admin@osint-video.test",
    password="test-password-7f3a9c",
    token="osint-video-test-token-0123456789abcdef",
)
START_TIMEOUT_S = 180.0


@dataclass
class LsServer:
    """A running Label Studio for one test (or module)."""

    url: str
    token: str = field(repr=False)
    password: str = field(repr=False)
    username: str
    files_root: Path
    data_dir: Path
    log: Path
    pid: int

    @property
    def connection(self) -> Connection:
        return Connection(self.url, self.token, local=True, files_root=self.files_root)

    def client(self) -> Any:
        """The official SDK client, authenticated as the admin."""
        from label_studio_sdk import LabelStudio

        return LabelStudio(base_url=self.url, api_key=self.token)

    def make_user(self, email: str, first_name: str = "", last_name: str = "") -> int:
        """Create a user (an annotator) in the admin's organisation; returns its id."""
        user = self.client().users.create(
            email=email, username=email.split("@")[0], first_name=first_name, last_name=last_name
        )
        return int(user.id)


def _template_version() -> str:
    return metadata.version("label-studio")


def _template_ready(path: Path) -> bool:
    try:
        stamp = json.loads((path / "template.json").read_text())
    except (OSError, ValueError):
        return False
    return stamp.get("label_studio") == _template_version() and (path / "data").is_dir()


def _build_template(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    process.init_template(path, TEST_CREDENTIALS, timeout=600.0)
    (path / "template.json").write_text(json.dumps({"label_studio": _template_version()}))
    return path


@pytest.fixture(scope="session")
def ls_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Label Studio data dir initialised once per session (or kept, see module doc)."""
    import conftest

    try:
        process.find_executable()
    except ToolMissing:
        conftest.missing("label-studio")
    kept = os.environ.get("OSINT_VIDEO_LS_TEMPLATE", "")
    if kept:
        path = Path(kept).expanduser().resolve()
        return path if _template_ready(path) else _build_template(path)
    return _build_template(tmp_path_factory.mktemp("ls-template") / "template")


def start_server(template: Path, base: Path) -> LsServer:
    """Copy the template under `base` and start a server on a free port (waits for /health)."""
    base.mkdir(parents=True, exist_ok=True)
    base = base.resolve()
    layout = Layout(base / "data", base / "home", base / "server.log", base / "files")
    layout.files_root.mkdir(parents=True, exist_ok=True)
    creds = process.copy_template(template, layout.data_dir)
    port = process.free_port()
    url = f"http://127.0.0.1:{port}"
    proc = process.launch(process.find_executable(), layout, port, None)
    try:
        process.wait_healthy(url, proc, START_TIMEOUT_S, layout.log)
    except BaseException:
        process.terminate(proc.pid)
        raise
    return LsServer(
        url=url,
        token=creds.token,
        password=creds.password,
        username=creds.username,
        files_root=layout.files_root.resolve(),
        data_dir=layout.data_dir,
        log=layout.log,
        pid=proc.pid,
    )


@pytest.fixture
def ls_server(ls_template: Path, tmp_path: Path) -> Iterator[LsServer]:
    """A fresh server for this test only."""
    server = start_server(ls_template, tmp_path / "ls")
    try:
        yield server
    finally:
        process.terminate(server.pid)


@pytest.fixture(scope="module")
def ls_server_module(
    ls_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LsServer]:
    """One server shared by the tests of a module (they must not depend on each other's data)."""
    server = start_server(ls_template, tmp_path_factory.mktemp("ls-module"))
    try:
        yield server
    finally:
        process.terminate(server.pid)

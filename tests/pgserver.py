"""A throwaway PostgreSQL server for the tests (pytest plugin: `pg_server`, `pg_url`).

pytest-postgresql cannot start a server as root (`pg_ctl: cannot be run as root`) and puts its
data under pytest's tmp_path (0700 root, unreachable for the postgres user). So this plugin runs
the Debian binaries itself: as root through `runuser -u postgres --`, as any other user directly.
The data dir lives in its own mkdtemp (chowned to postgres), fsync is off, and the server listens
on 127.0.0.1 only, on a free port, with its unix socket in the same temp dir.

Enabled by `pytest_plugins = ["pgserver"]` in tests/conftest.py. Fixtures: `pg_server` (session:
`.url`, `.port`, `.bindir`, `.datadir`, `restart()`, `new_database(name)`), `pg_url` (a fresh
empty database per test), `pg_desk_url` (the same, migrated to head: what `db upgrade` leaves).
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import missing

from osint_video.store import migrate
from osint_video.store.cases import CaseStore

WHAT = "PostgreSQL server binaries (Debian package postgresql)"
_names = itertools.count(1)


def find_bindir() -> Path | None:
    """The newest /usr/lib/postgresql/*/bin holding initdb and pg_ctl (OSINT_VIDEO_PG_BIN wins)."""
    env = os.environ.get("OSINT_VIDEO_PG_BIN")
    candidates = [env] if env else sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for cand in candidates:
        if cand and (Path(cand) / "initdb").is_file() and (Path(cand) / "pg_ctl").is_file():
            return Path(cand)
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _runner() -> list[str] | None:
    """The command prefix that runs PostgreSQL binaries as a non-root user (None: impossible)."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return None
    runuser = shutil.which("runuser")
    return [runuser, "-u", "postgres", "--"] if runuser else None


class PgServer:
    """One running server; `url` points at its `postgres` database as the superuser."""

    def __init__(self, bindir: Path, prefix: list[str]) -> None:
        self.bindir = bindir
        self._prefix = prefix
        self.base = Path(tempfile.mkdtemp(prefix="osint-video-pg-"))
        if prefix:
            shutil.chown(self.base, "postgres", "postgres")
        self.datadir = self.base / "data"
        self.log = self.base / "log"
        self.port = free_port()
        self.url = self.url_for("postgres")

    def url_for(self, dbname: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{dbname}"

    def _run(self, tool: str, *args: str) -> None:
        cmd = [*self._prefix, str(self.bindir / tool), *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        if proc.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.is_file() else ""
            raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr.strip()}\n{log}")

    def init(self) -> None:
        self._run(
            "initdb", "-D", str(self.datadir), "-U", "postgres", "--auth=trust",
            "-E", "UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip

    def start(self) -> None:
        opts = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.base} -c fsync=off "
            "-c full_page_writes=off -c synchronous_commit=off -c max_connections=200"
        )
        self._run("pg_ctl", "-D", str(self.datadir), "-w", "-l", str(self.log), "-o", opts, "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.datadir), "-m", "fast", "-w", "stop")

    def restart(self) -> None:
        """Stop (fast: open connections are cut) and start again on the same port."""
        self.stop()
        self.start()

    def _admin(self, sql: str) -> None:
        import psycopg

        dsn = f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres connect_timeout=10"
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def new_database(self, name: str) -> str:
        """Create an empty database `name` and return its SQLAlchemy URL."""
        self._admin(f'CREATE DATABASE "{name}"')
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def cleanup(self) -> None:
        try:
            if (self.datadir / "postmaster.pid").is_file():
                self.stop()
        finally:
            shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A PostgreSQL server for the whole test session (started on first use, ~1 s)."""
    bindir = find_bindir()
    prefix = _runner()
    if bindir is None or prefix is None:
        missing(WHAT)
        raise AssertionError("unreachable")
    server = PgServer(bindir, prefix)
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """A fresh, empty database on the session's server, dropped after the test."""
    name = f"t{os.getpid()}_{next(_names)}"
    url = pg_server.new_database(name)
    yield url
    try:
        pg_server.drop_database(name)
    except Exception:  # noqa: BLE001 - the server may be down after a fault test; it goes anyway
        pass


@pytest.fixture
def pg_desk_url(pg_url: str) -> str:
    """A fresh database already migrated to head (what `osint-video db upgrade` leaves)."""

    migrate.upgrade(pg_url)
    return pg_url


# -- the case store on each backend (store tests run on both) ---------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty case store on each backend (PostgreSQL: tests/pgserver.py)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'cases.sqlite'}"
    else:
        url = request.getfixturevalue("pg_url")
    migrate.upgrade(url)
    return url


@pytest.fixture
def store(db_url: str) -> Iterator[CaseStore]:
    cs = CaseStore(db_url)
    yield cs
    cs.close()

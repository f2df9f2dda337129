"""Case store engines and schema migrations (Alembic, configured in code: no alembic.ini).

Two deployments, two policies:

* SQLite, the single analyst: opening the store upgrades it to the newest revision, so there is
  nothing to set up. A workspace made before migrations existed (tables, no `alembic_version`)
  is adopted: `0001_baseline` leaves existing tables alone and creates only what is missing
  (in effect a stamp that also repairs), then the later revisions run.
* PostgreSQL, a shared desk: a client never changes the schema on its own. Several editors and
  workers share the database, and an old client on one laptop must not migrate it under the
  others. Opening a database that is not at this version's head fails with a one-line message
  naming `osint-video db upgrade`, which one person runs once per release.

Upgrades are serialised: `pg_advisory_xact_lock` on PostgreSQL, `BEGIN IMMEDIATE` on SQLite
(parallel triage processes open the same workspace at once). Each upgrade is one transaction,
so it applies completely or not at all, and a second run finds nothing to do.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import MetaData, create_engine, event, inspect, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from ..errors import StoreError

if TYPE_CHECKING:  # alembic is imported only when migrating: opening a store at head needs none
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

MIGRATIONS = Path(__file__).with_name("migrations")
BASELINE = "0001_baseline"
CONNECT_TIMEOUT_S = 5
# pg_advisory_xact_lock key: one per database, shared by every osint-video client ("osint-mig").
_LOCK_KEY = 0x6F73696E742D6D69
# A table that exists in every case store since the first release: its presence without an
# alembic_version table means "made by create_all before migrations".
_MARKER_TABLE = "clips"
# Alembic's `op` is a module-wide proxy: one migration run at a time per process (threads).
_RUN_LOCK = threading.Lock()


@dataclass(frozen=True)
class Upgrade:
    """What `upgrade` did: revisions before and after, and the migrations it ran in order."""

    where: str
    before: str | None
    after: str
    applied: tuple[str, ...]
    adopted: bool = False  # the store predates migrations (tables, no alembic_version)


# -- engines ---------------------------------------------------------------------------------


def where(url: str) -> str:
    """The database a URL points at, for messages: `host:port/db` or the SQLite file.

    Never contains the password (or the user name), so it is safe in errors, logs and JSON.
    """
    try:
        u = make_url(url)
    except ArgumentError:
        return "<unparsable URL>"
    if u.get_backend_name() == "sqlite":
        return u.database or ":memory:"
    port = u.port or (5432 if u.get_backend_name() == "postgresql" else "")
    return f"{u.host or 'localhost'}:{port}/{u.database or ''}"


def masked(url: str) -> str:
    """The URL with its password replaced by ***."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparsable URL>"


def _sqlite_pragmas(foreign_keys: bool) -> Any:
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    return on_connect


def engine_for(url: str, *, migrating: bool = False) -> Engine:
    """An engine with the desk's options: pre-ping (survives a server restart), connect timeout.

    Args:
        url: any SQLAlchemy URL; a SQLite file's folder is created.
        migrating: SQLite only: no pooling and foreign keys off, as table rebuilds need.

    Raises:
        StoreError: the URL is malformed or names a driver that is not installed.
    """
    try:
        u = make_url(url)
        kwargs: dict[str, Any] = {"pool_pre_ping": True}
        if u.get_backend_name() == "sqlite":
            if u.database and u.database != ":memory:":
                Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        elif "connect_timeout" not in u.query and u.get_backend_name() == "postgresql":
            kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_S}
        if migrating:
            kwargs["poolclass"] = NullPool
        engine = create_engine(u, **kwargs)
    except (ArgumentError, SQLAlchemyError, ImportError, OSError) as exc:
        raise StoreError(f"cannot open the case store {masked(url)}: {first_line(exc)}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas(foreign_keys=not migrating))
    return engine


def first_line(exc: BaseException) -> str:
    text_ = str(getattr(exc, "orig", None) or exc).strip()
    return text_.splitlines()[0] if text_ else exc.__class__.__name__


def _reason(exc: BaseException, url: str) -> str:
    """The driver's reason for a failed connection, without host noise or the password."""
    line = first_line(exc)
    line = re.sub(r'^connection failed: connection to server at "[^"]*"[^:]*failed: ', "", line)
    password = make_url(url).password
    return line.replace(str(password), "***") if password else line


@contextmanager
def connected(engine: Engine, url: str) -> Iterator[Connection]:
    """A connection; a database that does not answer becomes one StoreError naming host:port."""
    try:
        conn = engine.connect()
    except DBAPIError as exc:
        raise StoreError(
            f"cannot reach the case store at {where(url)} ({engine.dialect.name}): "
            f"{_reason(exc, url)}"
        ) from None
    with conn:
        yield conn


# -- revisions -------------------------------------------------------------------------------


# The newest revision, kept here so that opening a store at head reads no migration script and
# imports no alembic (~0.15 s per command); a test checks it against the scripts.
HEAD = "0011_sound_log"


@functools.cache
def scripts() -> ScriptDirectory:
    """The migration scripts shipped inside the package (read once per process)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(MIGRATIONS))


def target_metadata() -> MetaData:
    """Every model the migrations must build (matching's fingerprints are among them)."""
    from .schema import Base

    return Base.metadata


def alembic_config(url: str) -> AlembicConfig:
    """An Alembic Config for the `alembic.command` API (developers: new revisions, history)."""
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head() -> str:
    """The newest revision this version of osint-video knows (e.g. `0006_hashes`)."""
    return HEAD


def _current(conn: Connection) -> str | None:
    """The revision in `alembic_version` (what Alembic's MigrationContext reads), in plain SQL."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    revs = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    if len(revs) > 1:
        raise StoreError(f"the case store has several revisions ({', '.join(revs)})")
    return revs[0] if revs else None


def current(url: str) -> str | None:
    """The revision the database at `url` is at (None: empty or made before migrations).

    Raises:
        StoreError: the database does not answer.
    """
    engine = engine_for(url, migrating=True)
    try:
        with connected(engine, url) as conn:
            return _current(conn)
    finally:
        engine.dispose()


def _pending(rev: str | None) -> tuple[str, ...]:
    """Revisions from `rev` (exclusive) to head, oldest first."""
    if rev is not None and rev not in {s.revision for s in scripts().walk_revisions()}:
        raise StoreError(
            f"the case store is at revision {rev}, unknown to this version of osint-video "
            f"(head {head()}): upgrade osint-video"
        )
    revs = scripts().iterate_revisions(head(), rev or "base")
    return tuple(reversed([s.revision for s in revs]))


def upgrade(url: str) -> Upgrade:
    """Bring the database at `url` to head; a no-op when it is there already.

    One transaction under a database-wide lock, so concurrent upgrades run one after the other
    and the second finds nothing to do. A pre-migration store is adopted (see the module doc).

    Raises:
        StoreError: unreachable database, unknown (newer) revision, or a failing migration.
    """
    engine = engine_for(url, migrating=True)
    try:
        with connected(engine, url) as conn:
            return _upgrade(conn, url)
    except SQLAlchemyError as exc:
        msg = f"migrating the case store at {where(url)} failed: {first_line(exc)}"
        raise StoreError(msg) from None
    finally:
        engine.dispose()


def _lock(conn: Connection) -> None:
    """Take the migration lock for the rest of this connection's transaction."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
    elif conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _upgrade(conn: Connection, url: str) -> Upgrade:
    _lock(conn)
    before = _current(conn)
    adopted = before is None and inspect(conn).has_table(_MARKER_TABLE)
    applied = _pending(before)

    def steps(rev: Any, _ctx: Any) -> Any:
        return scripts()._upgrade_revs(head(), rev)

    from alembic.operations import Operations
    from alembic.runtime.migration import MigrationContext

    ctx = MigrationContext.configure(
        conn, opts={"fn": steps, "render_as_batch": True, "transactional_ddl": True}
    )
    if applied:
        with _RUN_LOCK, Operations.context(ctx):
            ctx.run_migrations()
    conn.commit()
    return Upgrade(where(url), before, head(), applied, adopted)


def ensure_schema(engine: Engine, url: str) -> None:
    """Make sure the store at `url` is at head before a CaseStore uses it (policy: module doc).

    Raises:
        StoreError: unreachable database; PostgreSQL not at head (run `osint-video db upgrade`).
    """
    with connected(engine, url) as conn:
        rev = _current(conn)
    want = head()
    if rev == want:
        return
    if engine.dialect.name == "sqlite":
        if engine.url.database in (None, "", ":memory:"):
            with connected(engine, url) as conn:  # one private database per connection
                _upgrade(conn, url)
        else:
            upgrade(url)
        return
    _pending(rev)  # a revision newer than this version gets its own message
    raise StoreError(
        f"the case store at {where(url)} is at revision {rev or 'none'}, this version "
        f"needs {want}: run `osint-video db upgrade`"
    )

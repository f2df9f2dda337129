"""Named locks shared by every process, and every machine, that uses one case store.

Three things must have one holder at a time: a clip's processing run (`clip-ID`: two workers
given the same clip), the archive index (`archive-index`: matching reads and rewrites it, so two
at once would lose each other's entries) and a clip's report files (`report-ID`: report.json
and its detached signature are written one after the other). The database cannot serialise
these with row locks, as the holder itself updates those rows from other connections meanwhile.
So, one way for all three:

- PostgreSQL: a session advisory lock (key: the first 8 bytes of the name's SHA-256), seen by
  every machine of a desk and dropped by the server when the holder dies (SIGKILL, lost
  connection). It is taken on a connection of its own, from a pool-less twin of the store's
  engine: the holder still needs a pooled connection for its work, and if the lock took one
  too, N holders and waiters at once (a worker running 20 jobs) would each keep one while
  waiting, and the pool (15 connections) runs dry for the one holder that needs a second.
- A SQLite file: `flock` on DB-locks/NAME beside the database (one machine by construction),
  dropped by the kernel when the holder dies. flock belongs to the open file, not to the
  process, so two threads of one process exclude each other too, and closing one lock's file
  never releases another's (POSIX record locks do both wrong). The holder deletes the file
  before releasing it, so nothing is left per clip; a waiter that then wins a deleted file
  opens the name again.
- An in-memory SQLite database lives in one process: a thread lock per name.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Protocol

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from ..errors import StoreError
from .migrate import CONNECT_TIMEOUT_S, first_line

_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,99}")

# In-memory databases: a thread lock per name while anyone holds or waits for it, [lock, users]
# (dropped after, so a process that runs for months does not keep one per clip it ever saw).
_threads: dict[tuple[int, str], list] = {}
_guard = threading.Lock()
_twins: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()


# The locks each thread holds, by (database, name): taking one again in the same thread is a
# bug that would hang (the locks are not re-entrant), so it is refused instead.
_by_thread = threading.local()


class Locks:
    """The named locks of one case store (`CaseStore.locks`).

    Args:
        engine: the store's engine (its dialect picks the kind of lock).
        folder: SQLite file databases: the folder of lock files beside the database;
            None for an in-memory database or a server.
    """

    def __init__(self, engine: Engine, folder: Path | None) -> None:
        self.engine, self.folder = engine, folder

    @contextmanager
    def hold(self, name: str) -> Iterator[None]:
        """Hold the lock `name` inside the block, waiting for the current holder first.

        Raises:
            ValueError: `name` is not lowercase letters, digits, `.`, `_` and `-`.
            StoreError: the database cannot be reached to take the lock, or this thread
                holds it already (the locks are not re-entrant: it would wait forever).
        """
        if not _NAME.fullmatch(name):
            raise ValueError(f"lock names are lowercase words and digits, got {name!r}")
        key = (self.engine.url.render_as_string(hide_password=True), name)
        mine: set[tuple[str, str]] = _by_thread.__dict__.setdefault("held", set())
        if key in mine:  # the holder would wait for itself forever
            raise StoreError(
                f"the lock {name!r} is already held by this thread: a caller holds it around "
                f"work that takes it itself"
            )
        if self.engine.dialect.name == "postgresql":
            held = _advisory(self.engine, name)
        elif self.folder is not None:
            held = _flocked(self.folder / name)
        else:
            held = _thread_lock((id(self), name))
        mine.add(key)
        try:
            with held:
                yield
        finally:
            mine.discard(key)


class _HasLocks(Protocol):
    @property
    def locks(self) -> Locks: ...


class _HasStore(Protocol):
    @property
    def cases(self) -> _HasLocks: ...


@contextmanager
def exclusive(ws: _HasStore, name: str) -> Iterator[None]:
    """Hold the lock `name` against every process sharing the workspace's case store."""
    with ws.cases.locks.hold(name):
        yield


def advisory_key(name: str) -> int:
    """The PostgreSQL advisory lock key of a name (signed 64-bit, as pg_advisory_lock takes)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@contextmanager
def _advisory(engine: Engine, name: str) -> Iterator[None]:
    key = advisory_key(name)
    try:
        conn = _twin(engine).connect()
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot take the lock {name}: {first_line(exc)}") from None
    try:
        try:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
            conn.commit()  # the lock is the session's: no transaction stays open meanwhile
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot take the lock {name}: {first_line(exc)}") from None
        try:
            yield
        finally:
            with suppress(SQLAlchemyError):  # a dropped connection has released it already
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
    finally:
        with suppress(SQLAlchemyError):
            conn.close()


def _twin(engine: Engine) -> Engine:
    """A pool-less twin of `engine` for the locks' own connections (see the module doc)."""
    with _guard:
        twin = _twins.get(engine)
        if twin is None:
            twin = create_engine(
                engine.url, poolclass=NullPool, connect_args={"connect_timeout": CONNECT_TIMEOUT_S}
            )
            _twins[engine] = twin
        return twin


@contextmanager
def _flocked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = _lock_file(path)
    try:
        yield
    finally:
        with suppress(FileNotFoundError):
            os.unlink(path)  # before the release: a waiter on this file will open the name again
        os.close(fd)


def _lock_file(path: Path) -> int:
    """An open descriptor of `path` holding its flock, `path` still naming that very file."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            mine = os.fstat(fd)
            now = os.stat(path)
            if (mine.st_dev, mine.st_ino) == (now.st_dev, now.st_ino):
                return fd
        except FileNotFoundError:
            pass  # the previous holder deleted it as it released it: take the name again
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)


@contextmanager
def _thread_lock(key: tuple[int, str]) -> Iterator[None]:
    with _guard:
        entry = _threads.setdefault(key, [threading.Lock(), 0])
        entry[1] += 1
    try:
        with entry[0]:
            yield
    finally:
        with _guard:
            entry[1] -= 1
            if entry[1] == 0:
                del _threads[key]

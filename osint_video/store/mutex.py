"""One writer at a time for a clip's report files, across threads, processes and machines.

A clip's report is several files (report.json, its detached signature, report.html) written
one after the other. Two writers at once (two desk workers refreshing the same original after
two of its reposts, or `report CLIP` beside a worker) could leave report.json from one and the
signature from the other: a report that fails verification through no one's fault. The
database cannot serialise this with a row lock, as the writer itself updates that row from
other connections meanwhile; so:

- PostgreSQL: a session advisory lock on a connection of its own (every machine of a desk
  shares the server; the server drops the lock if the holder dies);
- a SQLite file: an fcntl byte-range lock, one byte per clip, on a file beside the database
  (one machine by construction), plus a thread lock, as fcntl locks belong to the process.
"""

from __future__ import annotations

import fcntl
import os
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

# pg_advisory_lock(key1, key2): key1 names what is locked, so other advisory users never clash.
_REPORTS = 0x05D2_0001
_INGEST = 0x05D2_0002

# Threads of one process: a lock per clip while anyone holds or waits for it, [lock, users]
# (dropped after, so a worker that runs for months does not keep one per clip it ever saw).
_threads: dict[tuple[str, int, int], list] = {}
_threads_guard = threading.Lock()
_lockers: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()


@contextmanager
def clip_mutex(engine: Engine, lock_file: Path | None, clip_id: int) -> Iterator[None]:
    """Hold the clip's report lock inside the block (waits for the current holder)."""
    with _mutex(engine, lock_file, _REPORTS, clip_id):
        yield


@contextmanager
def ingest_mutex(engine: Engine, lock_file: Path | None, sha256: str) -> Iterator[None]:
    """Hold the lock of one original's intake: storing it, probing it and recording its clip.

    Why: an intake that fails removes the evidence file it stored, and must not remove one
    that another intake of the same bytes (another editor, another process) is recording at
    that moment. Keyed by the first 31 bits of the SHA-256 (two different originals sharing a
    key only wait for each other).
    """
    key = int(sha256[:8], 16) >> 1
    with _mutex(engine, lock_file, _INGEST, key):
        yield


@contextmanager
def _mutex(engine: Engine, lock_file: Path | None, space: int, key: int) -> Iterator[None]:
    if engine.dialect.name == "postgresql":
        with _locker(engine).connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k, :c)"), {"k": space, "c": key})
            conn.commit()  # the lock is the session's: no transaction stays open meanwhile
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k, :c)"), {"k": space, "c": key})
                conn.commit()
        return
    with _thread_lock((str(lock_file), space, key)):
        if lock_file is None:  # an in-memory database lives in this process only
            yield
            return
        fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX, 1, key)
            try:
                yield
            finally:
                fcntl.lockf(fd, fcntl.LOCK_UN, 1, key)
        finally:
            os.close(fd)


@contextmanager
def _thread_lock(key: tuple[str, int, int]) -> Iterator[None]:
    with _threads_guard:
        entry = _threads.setdefault(key, [threading.Lock(), 0])
        entry[1] += 1
    try:
        with entry[0]:
            yield
    finally:
        with _threads_guard:
            entry[1] -= 1
            if entry[1] == 0:
                del _threads[key]


def _locker(engine: Engine) -> Engine:
    """A pool-less twin of `engine` for the lock's own connection. The holder still needs a
    pooled connection for its work: if the lock took one too, N writers at once would each
    hold one and wait for a second, and the pool (15 connections) runs dry at N = 8."""
    with _threads_guard:
        twin = _lockers.get(engine)
        if twin is None:
            twin = create_engine(
                engine.url, poolclass=NullPool, connect_args={"connect_timeout": 10}
            )
            _lockers[engine] = twin
        return twin

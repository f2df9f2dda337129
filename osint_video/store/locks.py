"""Named locks across every process (and, on PostgreSQL, every machine) sharing a workspace."""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from ..errors import StoreError


@contextmanager
def exclusive(engine: Engine, folder: Path, name: str) -> Iterator[None]:
    """Hold the lock `name` against every process sharing this workspace's case store.

    PostgreSQL: a session advisory lock, seen by every machine of a desk and released by the
    server when its holder dies (SIGKILL, lost connection). SQLite: `flock` on
    FOLDER/NAME.lock (one machine), released by the kernel when the holder dies.

    Raises:
        StoreError: the database cannot be reached to take the lock.
    """
    if engine.dialect.name != "postgresql":
        path = folder / f"{name}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)
        return
    key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
    try:
        conn = engine.connect()
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
        conn.commit()
    except SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise StoreError(f"cannot take the lock {name}: {detail}") from None
    try:
        yield
    finally:
        with suppress(SQLAlchemyError):  # a dropped connection has released it already
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            conn.commit()
        with suppress(SQLAlchemyError):
            conn.close()

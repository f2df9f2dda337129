"""Case-store table of match fingerprints: the sampled frames' perceptual hashes.

Why a table of its own: the archive index (WORKSPACE/index/) is a derived, disposable copy; the
case store is the source of truth it is rebuilt from. Fingerprints are not the shot keyframes:
re-encoders put keyframes elsewhere, so matching samples frames at a fixed rate instead.

The table is made by the migrations (`store/migrations/versions/`), never at run time: a desk's
PostgreSQL schema changes only through `osint-video db upgrade`, and a SQLite workspace made
before matching existed gets it from `0001_baseline` when it is opened.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from ..store.schema import Base

_WRAP = 1 << 64


class Hash64(TypeDecorator[int]):
    """A 64-bit hash value in a BIGINT column.

    BIGINT is signed, so the column holds the value's two's complement (hashes from 2**63 up are
    negative in SQL); Python sees the unsigned value, as `FrameHash.value` and the index hold it.
    The reader that needs speed (`manifest.read_entries`) reads the raw column and reinterprets
    it.
    """

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> int | None:
        if value is None:
            return None
        if not 0 <= value < _WRAP:
            raise ValueError(f"not a 64-bit hash value: {value!r}")
        return int(value) - _WRAP if value >= _WRAP >> 1 else int(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> int | None:
        return None if value is None else int(value) % _WRAP


class FingerprintRow(Base):
    """One sampled frame: its time and the hash of each view, with what made them.

    `hash` names the algorithm and size of the five view columns (`phash:64`: imagehash's pHash,
    `fingerprints.HASH`), so a row says what it holds; the archive index reads only rows of the
    kind it is built from. The views are 64-bit integers (`Hash64`), not `phash:64:<hex>` text:
    the table feeds the index (millions of rows), where text costs a third more space and a
    parse per value (figures in `store/migrations/versions/0006_hashes.py`).

    Each change to a clip's rows comes with an `IndexLogRow` (what the index catches up by).
    Deleting a clip deletes its fingerprints (ON DELETE CASCADE) without one: the index never
    reports a deleted clip, and its next compaction drops the clip's entries.
    """

    __tablename__ = "match_fingerprints"
    __table_args__ = (UniqueConstraint("clip_id", "index"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clip_id: Mapped[int] = mapped_column(ForeignKey("clips.id", ondelete="CASCADE"), index=True)
    index: Mapped[int] = mapped_column(Integer)
    time_s: Mapped[float] = mapped_column(Float)
    texture: Mapped[float] = mapped_column(Float)
    informative: Mapped[bool] = mapped_column(Boolean)
    full: Mapped[int] = mapped_column(Hash64)
    full_mirror: Mapped[int] = mapped_column(Hash64)
    center80: Mapped[int] = mapped_column(Hash64)
    center90: Mapped[int] = mapped_column(Hash64)
    center90_mirror: Mapped[int] = mapped_column(Hash64)
    hash: Mapped[str] = mapped_column(String(16))


ADD, REMOVE = "add", "remove"


class IndexLogRow(Base):
    """One change to what the archive index holds, in the order the changes were made.

    `add`: the clip's fingerprints were recorded (they replace any it had before); `remove`:
    they were deleted. Each row is written in the transaction that changes the fingerprints,
    under the archive lock, so the ids grow in commit order and a process that has applied the
    log up to id P catches up with `id > P` (`index.live`). Why a log and not the fingerprint
    rows' own ids: SQLite hands out a deleted top row id again (a clip matched anew would come
    back under ids a reader has already passed), and a deletion leaves no row to read.

    No foreign key: a removal outlives the clip it names.
    """

    __tablename__ = "match_index_log"
    __table_args__ = {"sqlite_autoincrement": True}  # ids are never handed out twice

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clip_id: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(8))
    hashes: Mapped[int] = mapped_column(Integer)  # index entries the clip has after the change

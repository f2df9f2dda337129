"""Case store tables (SQLAlchemy 2 ORM). Portable SQL only: SQLite now, PostgreSQL for a desk.

A clip is one set of bytes (unique SHA-256); each time someone brings it is an acquisition.
Derived rows (shots, keyframes) are replaced as a whole when a clip is processed again, inside
one transaction, so a crash never leaves half a result behind.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from ..lossless import readable

STATUSES = (
    "queued",
    "processing",
    "processed",
    "in_review",
    "verified",
    "disputed",
    "rejected",
    "failed",
)


class _Readable(TypeDecorator[str]):
    impl: type[String] = String
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else readable(value)


class ReadableText(_Readable):
    """Text that is always written as valid UTF-8 (`lossless.readable`), whatever it was given.

    File names and command-line text arrive with undecodable bytes as lone surrogates, which
    neither SQLite nor PostgreSQL can store. Writers keep the exact bytes in `original_bytes`
    themselves; this is the safety net for every other path (an error message naming a file, a
    note given to `queue status`), and it makes filters (`--case`) compare like with like.
    """

    impl = Text
    cache_ok = True


class ReadableString(_Readable):
    """`ReadableText` for a bounded column (VARCHAR(n))."""

    impl = String
    cache_ok = True


class HashText(TypeDecorator[str]):
    """A perceptual hash as text that says what made it: `phash:64:ba8c84536bd3c366`.

    Why checked on write: a bare hex value does not say which algorithm or size made it, and
    hashes are compared across years of archive; anything but `FrameHash`'s string form (or a
    FrameHash) is refused, so no such value enters the store again (0006 converted old ones).
    """

    impl = String
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        from ..hashing.hashes import FrameHash  # numpy: loaded only where keyframes are written

        return str(value if isinstance(value, FrameHash) else FrameHash.parse(str(value)))


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class ClipRow(Base):
    __tablename__ = "clips"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    # BIGINT: originals over 2 GiB (PostgreSQL's INTEGER is 32-bit; SQLite's is 64-bit anyway).
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))
    filename: Mapped[str] = mapped_column(ReadableText)
    evidence_path: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    error: Mapped[str | None] = mapped_column(ReadableText, default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    media: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    meta: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSON, default=None)
    anomalies: Mapped[list[Any] | None] = mapped_column(JSON, default=None)
    decode: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    duration_s: Mapped[float | None] = mapped_column(Float, default=None)
    derived: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # Same footage as an earlier clip (set by archive matching), so a desk verifies it once.
    duplicate_of: Mapped[int | None] = mapped_column(
        ForeignKey("clips.id", ondelete="SET NULL"), default=None
    )
    # The desk's workflow (osint_video/desk/workflow.py): 0 low, 1 normal, 2 high, 3 urgent.
    priority: Mapped[int] = mapped_column(Integer, default=1, server_default="1", index=True)
    assignee: Mapped[str | None] = mapped_column(ReadableString(200), default=None, index=True)
    # Platform facts from the first URL intake (yt-dlp info JSON): the report's `source`.
    source: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # {"filename": base64} when the file name was not valid UTF-8 (osint_video/lossless.py).
    original_bytes: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # On-screen text read at triage (models.OnScreenText items), and all of it casefolded for
    # searching (LIKE is case-blind for ASCII only on SQLite, and Cyrillic matters here).
    onscreen_text: Mapped[list[Any] | None] = mapped_column(JSON, default=None)
    onscreen_search: Mapped[str | None] = mapped_column(Text, default=None)
    # the clip's sound: tracks and what fingerprinting them found (`models.SoundInfo`, 0010)
    sound: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)

    acquisitions: Mapped[list[AcquisitionRow]] = relationship(
        back_populates="clip", order_by="AcquisitionRow.id", cascade="all, delete-orphan"
    )
    shots: Mapped[list[ShotRow]] = relationship(
        order_by="ShotRow.index", cascade="all, delete-orphan"
    )
    keyframes: Mapped[list[KeyframeRow]] = relationship(
        order_by="KeyframeRow.index", cascade="all, delete-orphan"
    )
    custody: Mapped[list[CustodyRow]] = relationship(
        order_by="CustodyRow.seq", cascade="all, delete-orphan"
    )
    matches: Mapped[list[MatchRow]] = relationship(
        foreign_keys="MatchRow.clip_id",
        order_by="MatchRow.score.desc()",
        cascade="all, delete-orphan",
    )


class AcquisitionRow(Base):
    __tablename__ = "acquisitions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clip_id: Mapped[int] = mapped_column(ForeignKey("clips.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    operator: Mapped[str] = mapped_column(ReadableText)
    case: Mapped[str | None] = mapped_column(ReadableString(200), index=True, default=None)
    # The path as given (a symbolic link's own name, not its target's), absolute.
    source_path: Mapped[str | None] = mapped_column(ReadableText, default=None)
    source_url: Mapped[str | None] = mapped_column(ReadableText, default=None)
    note: Mapped[str | None] = mapped_column(ReadableText, default=None)
    # Where `source_path` led when it was a symbolic link (absolute, fully resolved).
    link_target: Mapped[str | None] = mapped_column(ReadableText, default=None)
    # {field: base64 of the original bytes} for the fields above that were not valid UTF-8.
    original_bytes: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)

    clip: Mapped[ClipRow] = relationship(back_populates="acquisitions")


class ShotRow(Base):
    __tablename__ = "shots"
    __table_args__ = (UniqueConstraint("clip_id", "index"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clip_id: Mapped[int] = mapped_column(ForeignKey("clips.id"), index=True)
    index: Mapped[int] = mapped_column(Integer)
    start_frame: Mapped[int] = mapped_column(Integer)
    end_frame: Mapped[int] = mapped_column(Integer)
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)


class KeyframeRow(Base):
    __tablename__ = "keyframes"
    __table_args__ = (UniqueConstraint("clip_id", "index"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clip_id: Mapped[int] = mapped_column(ForeignKey("clips.id"), index=True)
    index: Mapped[int] = mapped_column(Integer)
    shot: Mapped[int] = mapped_column(Integer)
    frame: Mapped[int] = mapped_column(Integer)
    time_s: Mapped[float] = mapped_column(Float)
    path: Mapped[str] = mapped_column(Text)
    phash: Mapped[str | None] = mapped_column(HashText(40), index=True, default=None)
    dhash: Mapped[str | None] = mapped_column(HashText(40), default=None)
    duplicate_of: Mapped[int | None] = mapped_column(Integer, default=None)
    informative: Mapped[bool] = mapped_column(default=True)
    sharpness: Mapped[float] = mapped_column(Float, default=0.0)


class CustodyRow(Base):
    __tablename__ = "custody_events"
    __table_args__ = (UniqueConstraint("clip_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clip_id: Mapped[int] = mapped_column(ForeignKey("clips.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(ReadableText)
    action: Mapped[str] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    hash: Mapped[str | None] = mapped_column(String(64), default=None)


class MatchRow(Base):
    """An earlier clip sharing footage with this one; `details` is the report's matches[] entry."""

    __tablename__ = "matches"
    __table_args__ = (UniqueConstraint("clip_id", "other_clip_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clip_id: Mapped[int] = mapped_column(ForeignKey("clips.id", ondelete="CASCADE"), index=True)
    other_clip_id: Mapped[int] = mapped_column(
        ForeignKey("clips.id", ondelete="CASCADE"), index=True
    )
    score: Mapped[float] = mapped_column(Float)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)


# -- Label Studio (issue 3): projects, pushed tasks, pulled annotations, verdicts ----------------


class LsProjectRow(Base):
    """A Label Studio project of a case: `kind` "keyframe" (one task per unique keyframe) or
    "clip" (one verdict task per clip), on one server (`server` is its URL)."""

    __tablename__ = "ls_projects"
    __table_args__ = (UniqueConstraint("server", "case", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    server: Mapped[str] = mapped_column(String(500))
    case: Mapped[str] = mapped_column(ReadableString(200))
    kind: Mapped[str] = mapped_column(String(16))
    project_id: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(ReadableString(100))
    storage_id: Mapped[int | None] = mapped_column(Integer, default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class LsTaskRow(Base):
    """One pushed task. Written as an intent (task_id NULL) before the import, completed with the
    server's task id after it: a push killed in between is reconciled from the server's tasks."""

    __tablename__ = "ls_tasks"
    __table_args__ = (UniqueConstraint("project_row", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_row: Mapped[int] = mapped_column(
        ForeignKey("ls_projects.id", ondelete="CASCADE"), index=True
    )
    key: Mapped[str] = mapped_column(String(120))
    clip_id: Mapped[int] = mapped_column(ForeignKey("clips.id", ondelete="CASCADE"), index=True)
    frame: Mapped[int | None] = mapped_column(Integer, default=None)
    task_id: Mapped[int | None] = mapped_column(Integer, default=None, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class LsAnnotationRow(Base):
    """An annotation pulled from Label Studio, kept as the server gave it plus our validation."""

    __tablename__ = "ls_annotations"
    __table_args__ = (UniqueConstraint("ls_project_id", "ls_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    server: Mapped[str] = mapped_column(String(500))
    ls_project_id: Mapped[int] = mapped_column(Integer)
    ls_id: Mapped[int] = mapped_column(Integer)
    task_id: Mapped[int] = mapped_column(Integer)
    clip_id: Mapped[int] = mapped_column(ForeignKey("clips.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    frame: Mapped[int | None] = mapped_column(Integer, default=None)
    annotator: Mapped[str] = mapped_column(ReadableString(320))
    annotator_id: Mapped[int | None] = mapped_column(Integer, default=None)
    created_at: Mapped[str | None] = mapped_column(String(40), default=None)
    updated_at: Mapped[str | None] = mapped_column(String(40), default=None)
    lead_time: Mapped[float | None] = mapped_column(Float, default=None)
    result: Mapped[list[Any]] = mapped_column(JSON)
    valid: Mapped[bool] = mapped_column(default=True)
    problems: Mapped[list[Any]] = mapped_column(JSON)
    pulled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class LsVerdictRow(Base):
    """A clip's verdict as computed from its valid clip-level annotations at the last pull."""

    __tablename__ = "ls_verdicts"

    clip_id: Mapped[int] = mapped_column(
        ForeignKey("clips.id", ondelete="CASCADE"), primary_key=True
    )
    value: Mapped[str] = mapped_column(String(32))
    confidence: Mapped[float | None] = mapped_column(Float, default=None)
    annotators: Mapped[list[Any]] = mapped_column(JSON)
    agreement: Mapped[float] = mapped_column(Float)
    decision: Mapped[str | None] = mapped_column(String(16), default=None)
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class IntakeFailureRow(Base):
    """A URL `queue add` could not bring in: with no bytes there is no clip, so it waits here.

    It shows in `queue list --status failed` as item `u<id>`; `queue retry u<id>` tries again
    and, once it succeeds, links the clip (`clip_id`) and leaves the list.
    """

    __tablename__ = "intake_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(ReadableText)
    case: Mapped[str | None] = mapped_column(ReadableString(200), index=True, default=None)
    priority: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    note: Mapped[str | None] = mapped_column(ReadableText, default=None)
    error: Mapped[str] = mapped_column(ReadableText)
    actor: Mapped[str] = mapped_column(ReadableText)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    clip_id: Mapped[int | None] = mapped_column(
        ForeignKey("clips.id", ondelete="SET NULL"), index=True, default=None
    )


# -- archive matching's fingerprints ------------------------------------------------------
# The sampled frames' perceptual hashes, in a table of their own.
#
# Why a table of its own: the archive index (WORKSPACE/index/) is a derived, disposable copy; the
# case store is the source of truth it is rebuilt from. Fingerprints are not the shot keyframes:
# re-encoders put keyframes elsewhere, so matching samples frames at a fixed rate instead.
#
# The table is made by the migrations (`store/migrations/versions/`), never at run time: a desk's
# PostgreSQL schema changes only through `osint-video db upgrade`, and a SQLite workspace made
# before matching existed gets it from `0001_baseline` when it is opened.

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


# -- the web desk (issue 15): who may log in, and their sessions ----------------------------------


class UserRow(Base):
    """A person who may log in to the web desk (`osint-video users ...`).

    `role` is one of `web.roles.ROLES` (viewer, editor, admin); `password_hash` is an argon2id
    hash (never the password); a disabled user is locked out at once (every request reads it).
    """

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(ReadableString(200), unique=True, index=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(200))
    disabled: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    password_set_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class WebSessionRow(Base):
    """A logged-in browser: the SHA-256 of the random token its cookie carries (the token is
    never stored), the CSRF token of its forms, and when it expires. Logging out deletes it."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    address: Mapped[str | None] = mapped_column(String(64), default=None)


ADD, REMOVE = "add", "remove"
PICTURE, SOUND = "picture", "sound"  # which index a log row changes


class IndexLogRow(Base):
    """One change to what the archive index holds, in the order the changes were made.

    `add`: the clip's fingerprints were recorded (they replace any it had before); `remove`:
    they were deleted. Each row is written in the transaction that changes the fingerprints,
    under the archive lock, so the ids grow in commit order and a process that has applied the
    log up to id P catches up with `id > P` (`index.live`). Why a log and not the fingerprint
    rows' own ids: SQLite hands out a deleted top row id again (a clip matched anew would come
    back under ids a reader has already passed), and a deletion leaves no row to read.

    `sense`: which index the change is for, `picture` (`match_fingerprints`) or `sound`
    (`sound_fingerprints`); each index reads only its own rows, at positions in one sequence.
    No foreign key: a removal outlives the clip it names.
    """

    __tablename__ = "match_index_log"
    __table_args__ = {"sqlite_autoincrement": True}  # ids are never handed out twice

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clip_id: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(8))
    hashes: Mapped[int] = mapped_column(Integer)  # index entries the clip has after the change
    sense: Mapped[str] = mapped_column(String(8), default=PICTURE, server_default=PICTURE)


# -- sound (issue 17): one fingerprint per audio track ------------------------------------------


class SoundFingerprintRow(Base):
    """One audio track's fingerprint: Chromaprint's raw sub-fingerprints, in time order.

    `values` holds the 32-bit sub-fingerprints as little-endian uint32 bytes, `mask` one bit per
    sub-fingerprint (numpy `packbits`, big bit order): set when it carries information and is
    matched (quiet, steady noise and the like are kept but never matched). Sub-fingerprint k
    starts at `start_s + k * item_s` on the clip's time line and covers `span_s` of sound.
    `algorithm` says what made the values (`chromaprint:2`); the sound index reads only rows of
    the kind it is built from. One row per track, not per value: the index reads whole tracks
    (thousands of values) and aligns them, and a track is written and replaced as a whole.
    """

    __tablename__ = "sound_fingerprints"
    __table_args__ = (UniqueConstraint("clip_id", "track"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clip_id: Mapped[int] = mapped_column(ForeignKey("clips.id", ondelete="CASCADE"), index=True)
    track: Mapped[int] = mapped_column(Integer)
    algorithm: Mapped[str] = mapped_column(String(32))
    start_s: Mapped[float] = mapped_column(Float)
    item_s: Mapped[float] = mapped_column(Float)
    span_s: Mapped[float] = mapped_column(Float)
    items: Mapped[int] = mapped_column(Integer)
    informative: Mapped[int] = mapped_column(Integer)
    values: Mapped[bytes] = mapped_column(LargeBinary)
    mask: Mapped[bytes] = mapped_column(LargeBinary)

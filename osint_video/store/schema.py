"""Case store tables (SQLAlchemy 2 ORM). Portable SQL only: SQLite now, PostgreSQL for a desk.

A clip is one set of bytes (unique SHA-256); each time someone brings it is an acquisition.
Derived rows (shots, keyframes) are replaced as a whole when a clip is processed again, inside
one transaction, so a crash never leaves half a result behind.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

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


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class ClipRow(Base):
    __tablename__ = "clips"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    size_bytes: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    filename: Mapped[str] = mapped_column(Text)
    evidence_path: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    error: Mapped[str | None] = mapped_column(Text, default=None)
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
    operator: Mapped[str] = mapped_column(Text)
    case: Mapped[str | None] = mapped_column(String(200), index=True, default=None)
    source_path: Mapped[str | None] = mapped_column(Text, default=None)
    source_url: Mapped[str | None] = mapped_column(Text, default=None)
    note: Mapped[str | None] = mapped_column(Text, default=None)

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
    phash: Mapped[str | None] = mapped_column(String(40), index=True, default=None)
    dhash: Mapped[str | None] = mapped_column(String(40), default=None)
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
    actor: Mapped[str] = mapped_column(Text)
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

"""Case-store table of match fingerprints: the sampled frames' perceptual hashes.

Why a table of its own: the archive index (WORKSPACE/index/) is a derived, disposable copy; the
case store is the source of truth it is rebuilt from. Fingerprints are not the shot keyframes:
re-encoders put keyframes elsewhere, so matching samples frames at a fixed rate instead.

The table is made by the migrations (`store/migrations/versions/`), never at run time: a desk's
PostgreSQL schema changes only through `osint-video db upgrade`, and a SQLite workspace made
before matching existed gets it from `0001_baseline` when it is opened.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..store.schema import Base


class FingerprintRow(Base):
    """One sampled frame: its time and the pHash (16 hex digits, imagehash order) of each view.

    Deleting a clip deletes its fingerprints (ON DELETE CASCADE); the index notices on its next
    open (clip ids no longer agree) and rebuilds.
    """

    __tablename__ = "match_fingerprints"
    __table_args__ = (UniqueConstraint("clip_id", "index"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clip_id: Mapped[int] = mapped_column(ForeignKey("clips.id", ondelete="CASCADE"), index=True)
    index: Mapped[int] = mapped_column(Integer)
    time_s: Mapped[float] = mapped_column(Float)
    texture: Mapped[float] = mapped_column(Float)
    informative: Mapped[bool] = mapped_column(Boolean)
    full: Mapped[str] = mapped_column(String(16))
    full_mirror: Mapped[str] = mapped_column(String(16))
    center80: Mapped[str] = mapped_column(String(16))
    center90: Mapped[str] = mapped_column(String(16))
    center90_mirror: Mapped[str] = mapped_column(String(16))

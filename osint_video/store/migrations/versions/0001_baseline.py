"""Baseline: the case store as it was before migrations (clips, acquisitions, shots, keyframes,
custody events, matches, and matching's match_fingerprints).

Matches `osint_video/store/schema.py` and `osint_video/matching/schema.py` at the commit that
introduced migrations, with one type fix: `clips.size_bytes` is BIGINT, so evidence files over
2 GiB fit on PostgreSQL (SQLite stores every INTEGER in up to 8 bytes, so workspaces made before
migrations need no change). Unnamed constraints stay unnamed, exactly as `create_all` made them.

A table that already exists is left alone: a workspace made before migrations (by `create_all`,
with match_fingerprints only once matching had run) is adopted by running this revision, which
then creates only what is missing.

Revision ID: 0001_baseline
Revises:
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001_baseline"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def _table(name: str, *elements: Any, indexes: tuple[tuple[str, bool], ...] = ()) -> None:
    """Create table `name` and its indexes ((column, unique), named ix_TABLE_COLUMN) if missing."""
    if sa.inspect(op.get_bind()).has_table(name):
        return
    op.create_table(name, *elements)
    for column, unique in indexes:
        op.create_index(f"ix_{name}_{column}", name, [column], unique=unique)


def upgrade() -> None:
    _table(
        "clips",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("filename", sa.Text(), nullable=False),
        sa.Column("evidence_path", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.Column("media", sa.JSON(), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=True),
        sa.Column("anomalies", sa.JSON(), nullable=True),
        sa.Column("decode", sa.JSON(), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("derived", sa.JSON(), nullable=True),
        sa.Column(
            "duplicate_of",
            sa.Integer(),
            sa.ForeignKey("clips.id", ondelete="SET NULL"),
            nullable=True,
        ),
        indexes=(("sha256", True), ("status", False)),
    )

    _table(
        "acquisitions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("clip_id", sa.Integer(), sa.ForeignKey("clips.id"), nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.Column("operator", sa.Text(), nullable=False),
        sa.Column("case", sa.String(200), nullable=True),
        sa.Column("source_path", sa.Text(), nullable=True),
        sa.Column("source_url", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        indexes=(("clip_id", False), ("case", False)),
    )

    _table(
        "custody_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("clip_id", sa.Integer(), sa.ForeignKey("clips.id"), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=True),
        sa.Column("hash", sa.String(64), nullable=True),
        sa.UniqueConstraint("clip_id", "seq"),
        indexes=(("clip_id", False),),
    )

    _table(
        "keyframes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("clip_id", sa.Integer(), sa.ForeignKey("clips.id"), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("shot", sa.Integer(), nullable=False),
        sa.Column("frame", sa.Integer(), nullable=False),
        sa.Column("time_s", sa.Float(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("phash", sa.String(40), nullable=True),
        sa.Column("dhash", sa.String(40), nullable=True),
        sa.Column("duplicate_of", sa.Integer(), nullable=True),
        sa.Column("informative", sa.Boolean(), nullable=False),
        sa.Column("sharpness", sa.Float(), nullable=False),
        sa.UniqueConstraint("clip_id", "index"),
        indexes=(("clip_id", False), ("phash", False)),
    )

    _table(
        "matches",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "clip_id",
            sa.Integer(),
            sa.ForeignKey("clips.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "other_clip_id",
            sa.Integer(),
            sa.ForeignKey("clips.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.UniqueConstraint("clip_id", "other_clip_id"),
        indexes=(("clip_id", False), ("other_clip_id", False)),
    )

    _table(
        "match_fingerprints",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "clip_id",
            sa.Integer(),
            sa.ForeignKey("clips.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("time_s", sa.Float(), nullable=False),
        sa.Column("texture", sa.Float(), nullable=False),
        sa.Column("informative", sa.Boolean(), nullable=False),
        sa.Column("full", sa.String(16), nullable=False),
        sa.Column("full_mirror", sa.String(16), nullable=False),
        sa.Column("center80", sa.String(16), nullable=False),
        sa.Column("center90", sa.String(16), nullable=False),
        sa.Column("center90_mirror", sa.String(16), nullable=False),
        sa.UniqueConstraint("clip_id", "index"),
        indexes=(("clip_id", False),),
    )

    _table(
        "shots",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("clip_id", sa.Integer(), sa.ForeignKey("clips.id"), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("start_frame", sa.Integer(), nullable=False),
        sa.Column("end_frame", sa.Integer(), nullable=False),
        sa.Column("start_s", sa.Float(), nullable=False),
        sa.Column("end_s", sa.Float(), nullable=False),
        sa.UniqueConstraint("clip_id", "index"),
        indexes=(("clip_id", False),),
    )


def downgrade() -> None:
    tables = ("shots", "match_fingerprints", "matches", "keyframes", "custody_events")
    for table in (*tables, "acquisitions", "clips"):
        op.drop_table(table)

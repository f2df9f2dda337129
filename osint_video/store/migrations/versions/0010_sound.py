"""Sound (issue 17): each clip's sound facts (`clips.sound`: tracks, codecs, what
fingerprinting found) and one Chromaprint fingerprint per audio track (`sound_fingerprints`),
from which the sound index (WORKSPACE/index/sound/) is built.

Revision ID: 0010_sound
Revises: 0009_index_log
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_sound"
down_revision = "0009_index_log"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("clips", sa.Column("sound", sa.JSON(), nullable=True))
    op.create_table(
        "sound_fingerprints",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "clip_id",
            sa.Integer(),
            sa.ForeignKey("clips.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("track", sa.Integer(), nullable=False),
        sa.Column("algorithm", sa.String(32), nullable=False),
        sa.Column("start_s", sa.Float(), nullable=False),
        sa.Column("item_s", sa.Float(), nullable=False),
        sa.Column("span_s", sa.Float(), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("informative", sa.Integer(), nullable=False),
        sa.Column("values", sa.LargeBinary(), nullable=False),
        sa.Column("mask", sa.LargeBinary(), nullable=False),
        sa.UniqueConstraint("clip_id", "track"),
    )
    op.create_index("ix_sound_fingerprints_clip_id", "sound_fingerprints", ["clip_id"])


def downgrade() -> None:
    op.drop_index("ix_sound_fingerprints_clip_id", "sound_fingerprints")
    op.drop_table("sound_fingerprints")
    with op.batch_alter_table("clips") as batch:
        batch.drop_column("sound")

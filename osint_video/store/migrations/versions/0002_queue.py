"""The desk's queue: clip priority, assignee and platform source; URL intake failures.

Revision ID: 0002_queue
Revises: 0001_baseline
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_queue"
down_revision = "0001_baseline"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("clips", sa.Column("priority", sa.Integer(), nullable=False, server_default="1"))
    op.add_column("clips", sa.Column("assignee", sa.String(200), nullable=True))
    op.add_column("clips", sa.Column("source", sa.JSON(), nullable=True))
    op.create_index("ix_clips_priority", "clips", ["priority"])
    op.create_index("ix_clips_assignee", "clips", ["assignee"])
    op.create_table(
        "intake_failures",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("case", sa.String(200), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="1"),
        sa.Column(
            "clip_id", sa.Integer(), sa.ForeignKey("clips.id", ondelete="SET NULL"), nullable=True
        ),
    )
    op.create_index("ix_intake_failures_case", "intake_failures", ["case"])
    op.create_index("ix_intake_failures_clip_id", "intake_failures", ["clip_id"])


def downgrade() -> None:
    op.drop_index("ix_intake_failures_clip_id", table_name="intake_failures")
    op.drop_index("ix_intake_failures_case", table_name="intake_failures")
    op.drop_table("intake_failures")
    op.drop_index("ix_clips_assignee", table_name="clips")
    op.drop_index("ix_clips_priority", table_name="clips")
    with op.batch_alter_table("clips") as batch:
        batch.drop_column("source")
        batch.drop_column("assignee")
        batch.drop_column("priority")

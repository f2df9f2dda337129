"""Label Studio bookkeeping: projects per case, pushed tasks, pulled annotations, verdicts.

Revision ID: 0003_labelstudio
Revises: 0002_queue
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_labelstudio"
down_revision = "0002_queue"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ls_projects",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("server", sa.String(500), nullable=False),
        sa.Column("case", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(100), nullable=False),
        sa.Column("storage_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("server", "case", "kind"),
    )
    op.create_table(
        "ls_tasks",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "project_row",
            sa.Integer(),
            sa.ForeignKey("ls_projects.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("key", sa.String(120), nullable=False),
        sa.Column(
            "clip_id", sa.Integer(), sa.ForeignKey("clips.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("frame", sa.Integer(), nullable=True),
        sa.Column("task_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("project_row", "key"),
    )
    op.create_index("ix_ls_tasks_project_row", "ls_tasks", ["project_row"])
    op.create_index("ix_ls_tasks_clip_id", "ls_tasks", ["clip_id"])
    op.create_index("ix_ls_tasks_task_id", "ls_tasks", ["task_id"])
    op.create_table(
        "ls_annotations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("server", sa.String(500), nullable=False),
        sa.Column("ls_project_id", sa.Integer(), nullable=False),
        sa.Column("ls_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column(
            "clip_id", sa.Integer(), sa.ForeignKey("clips.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("frame", sa.Integer(), nullable=True),
        sa.Column("annotator", sa.String(320), nullable=False),
        sa.Column("annotator_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.String(40), nullable=True),
        sa.Column("updated_at", sa.String(40), nullable=True),
        sa.Column("lead_time", sa.Float(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("valid", sa.Boolean(), nullable=False),
        sa.Column("problems", sa.JSON(), nullable=False),
        sa.Column("pulled_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("ls_project_id", "ls_id"),
    )
    op.create_index("ix_ls_annotations_clip_id", "ls_annotations", ["clip_id"])
    op.create_table(
        "ls_verdicts",
        sa.Column(
            "clip_id",
            sa.Integer(),
            sa.ForeignKey("clips.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("value", sa.String(32), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("annotators", sa.JSON(), nullable=False),
        sa.Column("agreement", sa.Float(), nullable=False),
        sa.Column("decision", sa.String(16), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ls_verdicts")
    op.drop_index("ix_ls_annotations_clip_id", table_name="ls_annotations")
    op.drop_table("ls_annotations")
    op.drop_index("ix_ls_tasks_task_id", table_name="ls_tasks")
    op.drop_index("ix_ls_tasks_clip_id", table_name="ls_tasks")
    op.drop_index("ix_ls_tasks_project_row", table_name="ls_tasks")
    op.drop_table("ls_tasks")
    op.drop_table("ls_projects")

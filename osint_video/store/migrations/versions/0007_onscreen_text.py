"""On-screen text read at triage: the items (report.json's `onscreen_text`) and a casefolded
copy of the whole text for searching (`queue list --text`, the web desk's filter).

Revision ID: 0007_onscreen_text
Revises: 0006_hashes
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_onscreen_text"
down_revision = "0006_hashes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("clips", sa.Column("onscreen_text", sa.JSON(), nullable=True))
    op.add_column("clips", sa.Column("onscreen_search", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("clips") as batch:
        batch.drop_column("onscreen_search")
        batch.drop_column("onscreen_text")

"""The archive index's change log: one row per clip whose fingerprints were recorded or removed.

The index (WORKSPACE/index/) is kept up to date by reading this log past the last change it
has applied (`matching.index.live`), instead of recounting and reloading the whole fingerprint
table for every clip. A store that already has fingerprints gets one `add` per clip, in the
order the clips were fingerprinted; an index built before this revision has no log position in
its manifest and is rebuilt once from the store.

Revision ID: 0009_index_log
Revises: 0008_users
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_index_log"
# 0008_users (the web desk's users) is not on this branch yet: this follows 0007 until it is.
down_revision = "0008_users"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "match_index_log",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("clip_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(8), nullable=False),
        sa.Column("hashes", sa.Integer(), nullable=False),
        sqlite_autoincrement=True,
    )
    op.execute(
        "INSERT INTO match_index_log (clip_id, action, hashes) "
        "SELECT clip_id, 'add', 2 * SUM(CASE WHEN informative AND hash = 'phash:64' THEN 1 "
        "ELSE 0 END) FROM match_fingerprints GROUP BY clip_id ORDER BY MIN(id)"
    )


def downgrade() -> None:
    op.drop_table("match_index_log")

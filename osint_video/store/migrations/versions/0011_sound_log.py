"""The sound index joins the index log: each row says which sense's index it changes.

`match_index_log.sense` is `picture` (every row so far) or `sound`: a clip's sound fingerprints
recorded (`add`) or removed (`remove`), written in the transaction that changes its
`sound_fingerprints` rows, so the sound index (WORKSPACE/index/sound/) catches up from the log
as the picture's does instead of being rewritten whole per clip. A store that already has sound
fingerprints gets one sound `add` per clip, in the order the clips were fingerprinted.

Revision ID: 0011_sound_log
Revises: 0010_sound
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_sound_log"
down_revision = "0010_sound"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "match_index_log",
        sa.Column("sense", sa.String(8), nullable=False, server_default="picture"),
    )
    op.execute(
        "INSERT INTO match_index_log (clip_id, action, hashes, sense) "
        "SELECT clip_id, 'add', SUM(informative), 'sound' FROM sound_fingerprints "
        "WHERE algorithm = 'chromaprint:2' GROUP BY clip_id ORDER BY MIN(id)"
    )


def downgrade() -> None:
    op.execute("DELETE FROM match_index_log WHERE sense <> 'picture'")
    # SQLite rebuilds the table: keep its ids never handed out twice (schema.IndexLogRow)
    with op.batch_alter_table(
        "match_index_log", table_kwargs={"sqlite_autoincrement": True}
    ) as batch:
        batch.drop_column("sense")

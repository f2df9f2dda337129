"""Names kept losslessly and symbolic links recorded as links (issue 13).

`clips.original_bytes` and `acquisitions.original_bytes`: {field: base64 of the original bytes}
for a file name, path, case, note or URL that was not valid UTF-8 (the column itself holds the
readable text, see osint_video/lossless.py). `acquisitions.link_target`: where the source path
led when it was a symbolic link. All nullable: existing rows need nothing.

Revision ID: 0005_original_bytes
Revises: 0004_procrastinate
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_original_bytes"
down_revision = "0004_procrastinate"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("clips", sa.Column("original_bytes", sa.JSON(), nullable=True))
    op.add_column("acquisitions", sa.Column("link_target", sa.Text(), nullable=True))
    op.add_column("acquisitions", sa.Column("original_bytes", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("acquisitions") as batch:
        batch.drop_column("original_bytes")
        batch.drop_column("link_target")
    with op.batch_alter_table("clips") as batch:
        batch.drop_column("original_bytes")

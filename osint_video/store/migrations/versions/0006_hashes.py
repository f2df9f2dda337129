"""Hashes that say what made them, everywhere in the store.

- keyframes.phash / keyframes.dhash: `phash:64:<16 hex>` (`FrameHash`'s string form). Every
  release has written them so; a bare 16-digit hex value, should one exist, gets its prefix.
- match_fingerprints: the five views were bare hex text (`ba8c84536bd3c366`); they become 64-bit
  integers (BIGINT, the two's complement of the unsigned hash) beside a `hash` column naming
  what made them (`phash:64`), which the archive index checks when it reads the table.

Why integers beside a name rather than `phash:64:<hex>` text in each column: the table feeds
the archive index (millions of rows). Measured at 4 M rows (bench/bench_fingerprints.py, 2
shared cores): tagged text makes the table a third bigger (SQLite 142 -> 189 bytes a row,
PostgreSQL 201 -> 252) and still needs every value parsed in Python; integers make it smaller
(111 and 178 bytes a row) and stream into numpy as they come. Rebuild read: SQLite 10.3 s ->
4.0 s, PostgreSQL 14.0 s -> 6.1 s (most of it from reading Core rows straight into a numpy
record array; on the same streaming read the hex layout is still ~20 % slower). This upgrade
of 4 M rows took 14.5 s on SQLite and 10.4 s on PostgreSQL.

SQLite has no hex parser (one in plain SQL, 16 substr/instr per value, took 63 s per million
rows here), so its table is copied through a SQL function written in Python (3.8 s per million
rows; registered on this connection only); PostgreSQL converts in place, in one ALTER TABLE
(`('x' || col)::bit(64)::bigint`). Downgrading turns the integers back into hex text.

Revision ID: 0006_hashes
Revises: 0005_original_bytes
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0006_hashes"
down_revision = "0005_original_bytes"
branch_labels = None
depends_on = None

TABLE = "match_fingerprints"
VIEWS = ("full", "full_mirror", "center80", "center90", "center90_mirror")
HASH = "phash:64"
_KEPT = ("id", "clip_id", "index", "time_s", "texture", "informative")


def _q(name: str) -> str:
    return f'"{name}"'  # `full` and `index` are SQL keywords


def _tag_keyframes() -> None:
    for column in ("phash", "dhash"):
        op.execute(
            f"UPDATE keyframes SET {column} = '{column}:64:' || {column} "
            f"WHERE length({column}) = 16 AND {column} NOT LIKE '%:%'"
        )


def _columns(hash_type: sa.types.TypeEngine) -> list[sa.Column[Any]]:
    cols: list[sa.Column[Any]] = [
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "clip_id", sa.Integer(), sa.ForeignKey("clips.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("time_s", sa.Float(), nullable=False),
        sa.Column("texture", sa.Float(), nullable=False),
        sa.Column("informative", sa.Boolean(), nullable=False),
    ]
    cols += [sa.Column(v, hash_type, nullable=False) for v in VIEWS]
    if isinstance(hash_type, sa.BigInteger):
        cols.append(sa.Column("hash", sa.String(16), nullable=False))
    return cols


def _signed_from_hex(text: str) -> int:
    value = int(text, 16)
    return value - (1 << 64) if value >= 1 << 63 else value


def _copy_sqlite(hash_type: sa.types.TypeEngine, convert: str, hash_value: str | None) -> None:
    """Rebuild the table with `hash_type` views, each view copied through `convert` (a SQL
    expression with {c} for the column); a copy in one statement, then swapped in."""
    new = f"_{TABLE}_new"
    op.create_table(new, *_columns(hash_type), sa.UniqueConstraint("clip_id", "index"))
    kept = ", ".join(_q(c) for c in _KEPT)
    views = ", ".join(_q(v) for v in VIEWS)
    converted = ", ".join(convert.format(c=_q(v)) for v in VIEWS)
    extra_col, extra_val = (", hash", f", '{hash_value}'") if hash_value else ("", "")
    op.execute(
        f"INSERT INTO {new} ({kept}, {views}{extra_col}) "
        f"SELECT {kept}, {converted}{extra_val} FROM {TABLE}"
    )
    op.drop_table(TABLE)
    op.rename_table(new, TABLE)
    op.create_index(f"ix_{TABLE}_clip_id", TABLE, ["clip_id"])


def upgrade() -> None:
    _tag_keyframes()
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        bind.connection.driver_connection.create_function(  # type: ignore[union-attr]
            "osint_hex64", 1, _signed_from_hex, deterministic=True
        )
        _copy_sqlite(sa.BigInteger(), "osint_hex64({c})", HASH)
        return
    # One ALTER TABLE: PostgreSQL rewrites the table once for all five columns, not five times.
    using = ", ".join(
        f"ALTER COLUMN {_q(v)} TYPE BIGINT USING ('x' || {_q(v)})::bit(64)::bigint" for v in VIEWS
    )
    op.execute(
        f"ALTER TABLE {TABLE} {using}, ADD COLUMN hash VARCHAR(16) NOT NULL DEFAULT '{HASH}'"
    )
    op.execute(f"ALTER TABLE {TABLE} ALTER COLUMN hash DROP DEFAULT")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        _copy_sqlite(sa.String(16), "printf('%016x', {c})", None)
        return
    back = ", ".join(
        f"ALTER COLUMN {_q(v)} TYPE VARCHAR(16) USING lpad(to_hex({_q(v)}), 16, '0')" for v in VIEWS
    )
    op.execute(f"ALTER TABLE {TABLE} DROP COLUMN hash, {back}")

"""The desk's task queue: procrastinate's own schema, on PostgreSQL only.

Why in our migrations: the queue lives in the desk's PostgreSQL (no broker), so `osint-video db
upgrade` is the one step that prepares a desk. The SQL is procrastinate's (`SchemaManager`),
run as is in this migration's transaction. SQLite (the single analyst) has no queue: no-op.
A database that already has the queue (applied by hand) is left as it is.

Revision ID: 0004_procrastinate
Revises: 0003_labelstudio
"""

from __future__ import annotations

from alembic import op

revision = "0004_procrastinate"
down_revision = "0003_labelstudio"
branch_labels = None
depends_on = None


def _driver():  # type: ignore[no-untyped-def]
    """psycopg's own connection, inside Alembic's transaction (multi-statement SQL, no binds)."""
    return op.get_bind().connection.driver_connection


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    if bind.exec_driver_sql("SELECT to_regclass('procrastinate_jobs')").scalar() is not None:
        return
    from procrastinate.schema import SchemaManager

    _driver().execute(SchemaManager.get_schema())


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    conn = _driver()
    for (name,) in conn.execute(
        "SELECT tablename FROM pg_tables WHERE tablename LIKE 'procrastinate%'"
    ).fetchall():
        conn.execute(f'DROP TABLE IF EXISTS "{name}" CASCADE')
    for (sig,) in conn.execute(
        "SELECT p.oid::regprocedure::text FROM pg_proc p "
        "JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE p.proname LIKE 'procrastinate%' AND n.nspname = current_schema()"
    ).fetchall():
        conn.execute(f"DROP FUNCTION IF EXISTS {sig} CASCADE")
    for (name,) in conn.execute(
        "SELECT typname FROM pg_type WHERE typname LIKE 'procrastinate%' AND typtype IN ('e', 'c')"
    ).fetchall():
        conn.execute(f'DROP TYPE IF EXISTS "{name}" CASCADE')

"""Alembic environment for the `alembic` API and command line, used only by developers.

osint-video itself never loads this file: `osint_video.store.migrate` runs the migrations in
code (locking, pre-migration stamping, the PostgreSQL policy). This file lets a developer
generate a new revision against a database at head, e.g.:

    from alembic import command
    from osint_video.store import migrate
    command.revision(migrate.alembic_config("sqlite:////tmp/dev.sqlite"), "add x",
                     autogenerate=True, rev_id="0005_x")
"""

from __future__ import annotations

from alembic import context

from osint_video.store import migrate


def run() -> None:
    metadata = migrate.target_metadata()
    url = context.config.get_main_option("sqlalchemy.url") or ""
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = migrate.engine_for(url, migrating=True)
    with migrate.connected(engine, url) as conn:
        context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run()

"""Commands of the case store's schema: `db upgrade`, `db current`.

A shared desk's PostgreSQL is upgraded by one person, once per release, with `db upgrade`;
clients refuse a database at another revision instead of migrating it themselves. SQLite
workspaces upgrade on open, so an analyst never needs these commands (they work there too).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.console import Console

from ..config import Config

err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="JSON on stdout.")]


def _emit(as_json: bool, data: dict[str, Any], line: str) -> None:
    if as_json:
        sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")
    else:
        out.print(line, markup=False)


def register(app: typer.Typer, cfg: Callable[[], Config]) -> None:
    """Add the `db` group (`upgrade`, `current`) to `app`."""
    db_app = typer.Typer(
        no_args_is_help=True,
        help="The case store's schema (migrations).\n\nExample: osint-video db upgrade",
    )
    app.add_typer(db_app, name="db")

    @db_app.command("upgrade")
    def db_upgrade(as_json: JsonOpt = False) -> None:
        """Migrate the case store (OSINT_VIDEO_DB or the workspace's SQLite) to this version.

        Safe to run twice and from several machines at once (a database lock serialises it).
        Example: OSINT_VIDEO_DB=postgresql+psycopg://desk@db/osint osint-video db upgrade
        """
        url = cfg().database_url()
        from ..store import migrate

        res = migrate.upgrade(url)
        data = {
            "database": migrate.masked(url),
            "where": res.where,
            "before": res.before,
            "after": res.after,
            "applied": list(res.applied),
            "adopted": res.adopted,
        }
        if res.applied:
            line = f"{res.where}: {res.before or 'empty'} -> {res.after} ({', '.join(res.applied)})"
        else:
            line = f"{res.where}: already at {res.after}, nothing to do"
        _emit(as_json, data, line)

    @db_app.command("current")
    def db_current(as_json: JsonOpt = False) -> None:
        """Show the case store's revision and the one this version needs; exit 1 if they differ.

        Example: osint-video db current --json
        """
        url = cfg().database_url()
        from ..store import migrate

        rev, want = migrate.current(url), migrate.head()
        data = {
            "database": migrate.masked(url),
            "where": migrate.where(url),
            "current": rev,
            "head": want,
            "up_to_date": rev == want,
        }
        state = "up to date" if rev == want else "run `osint-video db upgrade`"
        _emit(as_json, data, f"{migrate.where(url)}: at {rev or 'none'}, head {want} ({state})")
        raise typer.Exit(0 if rev == want else 1)

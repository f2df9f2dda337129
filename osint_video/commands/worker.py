"""`worker`: process queued clips on a shared desk (PostgreSQL), on any number of machines.

On SQLite (one analyst, one machine) there is no queue server: `worker --drain` processes the
workspace's queued clips with the local process pool and returns; without `--drain` it says
that `triage` already runs clips in parallel.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated

import typer
from rich.console import Console

from ..config import Config

err = Console(stderr=True, highlight=False, soft_wrap=True)

SQLITE_NOTE = (
    "worker: this workspace uses SQLite (one analyst): there is no queue to serve; `triage` "
    "already runs clips in parallel, and `worker --drain` processes the queued clips here. "
    "A desk's workers need OSINT_VIDEO_DB=postgresql+psycopg://..."
)


def register(app: typer.Typer, cfg: Callable[[], Config]) -> None:
    """Add `worker` to `app`."""

    @app.command()
    def worker(
        concurrency: Annotated[
            int | None,
            typer.Option(help="Clips processed at once by this process (\\[worker] concurrency)."),
        ] = None,
        drain: Annotated[
            bool, typer.Option("--drain", help="Return once no clip is waiting or running.")
        ] = False,
    ) -> None:
        """Process queued clips until stopped (SIGTERM finishes the current clips first).

        Example: OSINT_VIDEO_DB=postgresql+psycopg://desk@db/osint osint-video worker --drain
        """
        config = cfg()
        from sqlalchemy.engine import make_url

        if make_url(config.database_url()).get_backend_name() != "postgresql":
            _sqlite(config, drain, concurrency)
            return
        from ..desk import worker as desk_worker

        _one_line_logs()
        opts = desk_worker.options(config, concurrency, drain)
        desk_worker.run(config, opts, lambda line: err.print(line, markup=False))


class _OneLine(logging.Formatter):
    """Library warnings (a lost connection, a retried job) as one line each, no traceback."""

    def format(self, record: logging.LogRecord) -> str:
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return super().format(record).splitlines()[0]


def _one_line_logs() -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(_OneLine("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])


def _sqlite(config: Config, drain: bool, concurrency: int | None) -> None:
    if not drain:
        err.print(SQLITE_NOTE, markup=False)
        raise typer.Exit(2)
    from ..pool import drain_local

    done = drain_local(config, concurrency)
    err.print(f"worker: {len(done)} queued clip(s) processed", markup=False)
    failed = [o for o in done if o.status == "failed" or o.error]
    for o in failed:
        err.print(f"clip {o.clip_id}: {o.status}: {o.error}", markup=False)
    raise typer.Exit(1 if failed else 0)

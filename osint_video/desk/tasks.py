"""The desk's task queue: procrastinate on the desk's own PostgreSQL, one job per clip.

Why procrastinate: jobs live in the same PostgreSQL as the case store (no broker to run),
workers fetch them with `FOR UPDATE SKIP LOCKED`, send heartbeats, and a job whose worker
stopped sending them can be found and retried (`worker.py` does that). We write no lease code.

The App is defined here, in a package module (procrastinate resolves tasks by module path and
warns about an App in `__main__`), without a database: `connected(db_url)` plugs the desk's
PostgreSQL in for the duration of a block.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import procrastinate
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from ..config import Config, load_config
from ..errors import OsintVideoError, StoreError
from ..pipeline import process_clip
from ..workspace import Workspace

QUEUE = "clips"
TASK_NAME = "osint_video.process_clip"
# Attempts of one clip's job (errors and stalls count) before the clip is marked failed.
MAX_ATTEMPTS = 5

app = procrastinate.App(connector=procrastinate.PsycopgConnector())

_bound: dict[str, Any] = {}


def conninfo(db_url: str) -> str:
    """libpq connection string of a SQLAlchemy PostgreSQL URL (`postgresql+psycopg://...`).

    Raises:
        StoreError: the URL is not a PostgreSQL one (workers need the desk's PostgreSQL).
    """
    url = make_url(db_url)
    if url.get_backend_name() != "postgresql":
        raise StoreError(
            f"workers need the desk's PostgreSQL (OSINT_VIDEO_DB=postgresql+psycopg://...); "
            f"this workspace uses {url.get_backend_name()}"
        )
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def connector(db_url: str, **pool: Any) -> procrastinate.PsycopgConnector:
    """A connector to the desk's database; `pool` goes to psycopg_pool (min_size, ...)."""
    return procrastinate.PsycopgConnector(
        conninfo=conninfo(db_url), kwargs={"connect_timeout": 5}, **pool
    )


@contextmanager
def connected(db_url: str, **pool: Any) -> Iterator[procrastinate.App]:
    """`app` talking to `db_url` inside the block (not opened: `open` or `open_async` it)."""
    with app.replace_connector(connector(db_url, **pool)) as bound:
        yield bound


def bind(cfg: Config) -> None:
    """The configuration jobs of this process run with (else it is loaded on first use)."""
    old = _bound.pop("ws", None)
    if old is not None:
        old.close()
    _bound["cfg"] = cfg


def _workspace() -> Workspace:
    """One Workspace per worker process, shared by its concurrent jobs (thread-safe engine),
    and with it one archive index kept open across the jobs (`matching.index.open_index`)."""
    if "ws" not in _bound:
        ws = Workspace.open(_bound.get("cfg") or load_config())
        if ws.config.matching.enabled:
            from ..matching.sound_index import warm_senses

            warm_senses(ws)
        _bound["ws"] = ws
    out: Workspace = _bound["ws"]
    return out


@app.task(
    name=TASK_NAME,
    queue=QUEUE,
    pass_context=True,
    retry=procrastinate.RetryStrategy(max_attempts=MAX_ATTEMPTS, wait=2, exponential_wait=2),
)
def process_clip_job(context: procrastinate.JobContext, clip_id: int) -> str:
    """Steps 5-11 of one clip; a retry of this job (same id) resumes, never repeats."""
    run = f"job-{context.job.id}"
    ws = _workspace()
    try:
        outcome = process_clip(ws, clip_id, run=run)
    except Exception as exc:
        if context.job.attempts + 1 >= MAX_ATTEMPTS:  # no retry left: say so on the clip
            _give_up(clip_id, exc)
        raise
    said = f"clip {clip_id}: {outcome.status}" + (f" ({outcome.error})" if outcome.error else "")
    return said


def _give_up(clip_id: int, exc: Exception) -> None:
    """The clip's last attempt failed: say so on the clip (the job ends failed anyway)."""
    with suppress(OsintVideoError, SQLAlchemyError):  # the database may be what failed
        ws = _workspace()
        ws.cases.set_status(
            clip_id, "failed", error=f"processing failed: {exc}", actor=ws.config.operator()
        )


def lock_for(clip_id: int) -> str:
    return f"clip-{clip_id}"


def enqueue(ws: Workspace, clip_ids: Iterable[int]) -> list[int]:
    """Defer one processing job per clip on the desk's queue.

    A clip already waiting in the queue is not queued again (procrastinate's queueing lock),
    and two jobs of one clip never run at once (its lock).

    Args:
        ws: a workspace on the desk's PostgreSQL.
        clip_ids: clips recorded by `intake` (status queued).

    Returns:
        The clip ids that got a new job (the others were already waiting).

    Raises:
        StoreError: not PostgreSQL, the database does not answer, or the queue's tables are
            missing (`osint-video db upgrade`).
    """
    added: list[int] = []
    try:
        with connected(ws.config.database_url()) as bound, bound.open():
            for clip_id in clip_ids:
                key = lock_for(clip_id)
                deferrer = process_clip_job.configure(lock=key, queueing_lock=key)
                try:
                    deferrer.defer(clip_id=clip_id)
                except procrastinate.exceptions.AlreadyEnqueued:
                    continue
                added.append(clip_id)
    except procrastinate.exceptions.ConnectorException as exc:
        raise StoreError(f"cannot queue jobs on {_host(ws)}: {_reason(exc)}") from None
    return added


def _host(ws: Workspace) -> str:
    url = make_url(ws.config.database_url())
    return f"{url.host or 'localhost'}:{url.port or 5432}/{url.database or ''}"


def _reason(exc: BaseException) -> str:
    """The first line of the underlying database error (procrastinate wraps psycopg's)."""
    cause = exc.__cause__ or exc.__context__ or exc
    text = str(cause).strip() or type(cause).__name__
    if "procrastinate_jobs" in text and "does not exist" in text:
        return "the queue's tables are missing: run `osint-video db upgrade`"
    return text.splitlines()[0]

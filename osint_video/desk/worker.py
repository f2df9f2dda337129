"""`osint-video worker`: process queued clips on the desk's PostgreSQL, on any number of machines.

A thin loop around procrastinate's own Worker, adding what a desk needs around it:
- stalled jobs: every worker also sweeps for jobs whose worker sent no heartbeat for
  `stalled_after_s` (procrastinate's `get_stalled_jobs`), retries them (`retry_job`: the same
  job id, so `process_clip(run=...)` resumes instead of repeating) and puts their clip back
  from `processing` to `queued`;
- lost database (PostgreSQL restarted, network gone): the worker stops taking jobs, lets the
  running ones end, and reconnects every few seconds; only a database that never answered
  since start is an error;
- SIGTERM/SIGINT: the clips being processed are finished, then the worker stops;
- `--drain`: return once no job is waiting or running (including stalled ones, which are
  retried here first).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field

import procrastinate
import psycopg
from procrastinate.worker import Worker

from ..config import Config
from ..errors import ConflictError, NotFound, StoreError, WorkflowError
from ..media.credentials import check_trust_anchors
from . import tasks, workflow

Say = Callable[[str], None]
ENV_STALLED = "OSINT_VIDEO_STALLED_AFTER_S"
_LOST = (procrastinate.exceptions.ConnectorException, psycopg.Error, OSError)


@dataclass(frozen=True)
class WorkerOptions:
    """How one worker process runs; `stalled_after_s` is the desk-wide heartbeat deadline."""

    concurrency: int = 1
    drain: bool = False
    stalled_after_s: float = 60.0
    reconnect_s: float = 2.0
    name: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")

    @property
    def heartbeat_s(self) -> float:
        """Several heartbeats per deadline, so a slow beat is never taken for a dead worker."""
        return max(0.5, min(10.0, self.stalled_after_s / 4))


def options(cfg: Config, concurrency: int | None = None, drain: bool = False) -> WorkerOptions:
    """Options from the config ([worker]), `OSINT_VIDEO_STALLED_AFTER_S`, and the flags.

    Raises:
        StoreError: a concurrency below 1 or a stall deadline that is not a positive number.
    """
    raw = os.environ.get(ENV_STALLED, "").strip()
    try:
        stalled = float(raw) if raw else cfg.worker.stalled_after_s
    except ValueError:
        raise StoreError(f"{ENV_STALLED}={raw!r} is not a number of seconds") from None
    n = cfg.worker.concurrency if concurrency is None else concurrency
    if n < 1 or stalled <= 0:
        raise StoreError("worker concurrency must be >= 1 and stalled_after_s > 0")
    return WorkerOptions(concurrency=n, drain=drain, stalled_after_s=stalled)


def run(cfg: Config, opts: WorkerOptions, say: Say = print) -> None:
    """Process queued clips until stopped (SIGTERM/SIGINT) or, with `drain`, until none is left.

    Raises:
        StoreError: the database is not PostgreSQL, never answered, or lacks the queue's tables.
        ConfigError: `[probe] c2pa_trust_anchors` names an unusable file.
    """
    tasks.conninfo(cfg.database_url())  # refuses SQLite before anything starts
    check_trust_anchors(cfg.probe.c2pa_trust_anchors)  # not one failed job per clip
    tasks.bind(cfg)
    asyncio.run(_serve(cfg, opts, say))


class _Stop:
    """SIGTERM/SIGINT: stop taking jobs, let the running ones finish."""

    def __init__(self) -> None:
        self.requested = False
        self.worker: Worker | None = None
        self._event = asyncio.Event()

    def request(self) -> None:
        self.requested = True
        self._event.set()
        if self.worker is not None:
            self.worker.stop()

    async def sleep(self, seconds: float) -> None:
        with suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), seconds)


async def _serve(cfg: Config, opts: WorkerOptions, say: Say) -> None:
    stop = _Stop()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.request)
    url, connected_once = cfg.database_url(), False
    say(f"worker {opts.name}: {opts.concurrency} at once on {_where(url)}")
    while not stop.requested:
        try:
            await _reachable(url)
            connected_once = True
            if await _session(url, opts, stop, say):
                break
        except _LOST as exc:
            if not connected_once:
                raise StoreError(f"database {_where(url)} does not answer: {_first(exc)}") from None
            say(f"database {_where(url)} lost ({_first(exc)}); reconnecting")
            await stop.sleep(opts.reconnect_s)
    say(f"worker {opts.name}: stopped")


async def _reachable(url: str) -> None:
    """Fail fast (5 s) instead of waiting on a connection pool's 30 s timeout."""
    conn = await psycopg.AsyncConnection.connect(tasks.conninfo(url), connect_timeout=5)
    await conn.close()


async def _session(url: str, opts: WorkerOptions, stop: _Stop, say: Say) -> bool:
    """Work on one connection pool; True when done (stopped, or drained), False to reconnect."""
    with tasks.connected(url, min_size=1, max_size=opts.concurrency + 3) as app:
        async with app.open_async():
            if not await app.check_connection_async():
                raise StoreError("the queue's tables are missing: run `osint-video db upgrade`")
            sweeper = asyncio.create_task(_sweep(app, opts, say))
            try:
                return await _work(app, opts, stop)
            finally:
                sweeper.cancel()
                with suppress(asyncio.CancelledError):
                    await sweeper


async def _work(app: procrastinate.App, opts: WorkerOptions, stop: _Stop) -> bool:
    while not stop.requested:
        stop.worker = _worker(app, opts)
        try:
            await stop.worker.run()
        finally:
            stop.worker = None
        if stop.requested:
            return True
        if not opts.drain:
            return False  # the worker stopped by itself: its heartbeat or listener failed
        if await _queue_empty(app):
            return True
        await stop.sleep(min(1.0, opts.heartbeat_s))
    return True


def _worker(app: procrastinate.App, opts: WorkerOptions) -> Worker:
    return Worker(
        app,
        queues=[tasks.QUEUE],
        name=opts.name,
        concurrency=opts.concurrency,
        wait=not opts.drain,
        fetch_job_polling_interval=1.0,
        abort_job_polling_interval=5.0,
        install_signal_handlers=False,
        update_heartbeat_interval=opts.heartbeat_s,
        stalled_worker_timeout=opts.stalled_after_s,
    )


async def _queue_empty(app: procrastinate.App) -> bool:
    """No job of ours waiting or running (running ones may be another machine's)."""
    for status in ("todo", "doing"):
        if await app.job_manager.list_jobs_async(queue=tasks.QUEUE, status=status):
            return False
    return True


async def _sweep(app: procrastinate.App, opts: WorkerOptions, say: Say) -> None:
    """Retry the jobs of workers that stopped sending heartbeats; every worker does this."""
    while True:
        await asyncio.sleep(opts.heartbeat_s)
        with suppress(*_LOST, StoreError):
            for clip_id, job_id in await retry_stalled(app, opts.stalled_after_s):
                say(f"job {job_id} (clip {clip_id}) stalled: retried")


async def retry_stalled(app: procrastinate.App, stalled_after_s: float) -> list[tuple[int, int]]:
    """Retry every job whose worker sent no heartbeat for `stalled_after_s` seconds.

    Returns:
        (clip id, job id) of each job retried here (another worker may have taken some first).
    """
    manager = app.job_manager
    jobs = await manager.get_stalled_jobs(
        queue=tasks.QUEUE, task_name=tasks.TASK_NAME, seconds_since_heartbeat=stalled_after_s
    )
    retried = []
    for job in jobs:
        clip_id = int(str(job.task_kwargs["clip_id"]))
        await asyncio.to_thread(_requeue, clip_id, int(job.id or 0))
        try:
            await manager.retry_job(job)
        except procrastinate.exceptions.ConnectorException:
            continue  # no longer "doing": another worker retried it, or it just finished
        retried.append((clip_id, int(job.id or 0)))
    await manager.prune_stalled_workers(stalled_after_s)
    return retried


def _requeue(clip_id: int, job_id: int) -> None:
    """The clip of a stalled job goes back from `processing` to `queued` (else untouched).

    Through the desk workflow, so the move is in the clip's custody history like any other.
    """
    ws = tasks._workspace()
    with suppress(ConflictError, WorkflowError, NotFound):  # no longer processing: leave it
        workflow.change_status(
            ws.cases,
            clip_id,
            "queued",
            actor=ws.config.operator(),
            note=f"job {job_id} stalled: its worker stopped sending heartbeats",
            expected="processing",
        )


def _where(url: str) -> str:
    from sqlalchemy.engine import make_url

    u = make_url(url)
    return f"{u.host or 'localhost'}:{u.port or 5432}/{u.database or ''}"


def _first(exc: BaseException) -> str:
    cause = exc.__cause__ or exc
    return (str(cause).strip() or type(cause).__name__).splitlines()[0]

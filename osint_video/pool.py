"""Triage on one machine: clips processed in parallel by a local process pool.

The single analyst has no queue and no server: `triage` records each file (steps 1-4, in
input order, so clip ids are the same as in a sequential run) and hands steps 5-11 to a
`ProcessPoolExecutor`. Each process opens its own Workspace; progress comes back through a
queue so the bars still move. Processes, not threads: decoding, hashing and report rendering
hold the GIL for much of their time.

SQLite with several writing processes needs two things the single-process default does not:
WAL (readers never wait for the writer) and `BEGIN IMMEDIATE` (a transaction that reads and
then writes takes the write lock first, so the busy timeout applies instead of an immediate
"database is locked" when another process wrote in between). `tune_sqlite` sets both.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from .config import Config
from .errlog import one_line
from .models import ProbeResult
from .pipeline import TriageOutcome, process_clip
from .workspace import Workspace

OnProgress = Callable[[int, str, float], None]
Notify = Callable[[str], None]


@dataclass(frozen=True)
class PoolJob:
    """Steps 5-11 of one recorded clip; `index` is the file's position in the input."""

    index: int
    clip_id: int
    probe: ProbeResult | None = None


def default_workers(files: int, configured: int = 0) -> int:
    """`configured` processes if set (> 0), else one per core, never more than files."""
    return max(1, min(files, configured if configured > 0 else (os.cpu_count() or 1)))


_TUNED: weakref.WeakSet[Engine] = weakref.WeakSet()


def tune_sqlite(engine: Engine) -> None:
    """WAL and BEGIN IMMEDIATE on a SQLite engine (no-op on other databases); idempotent."""
    if engine.dialect.name != "sqlite" or engine in _TUNED:
        return
    _TUNED.add(engine)

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # pysqlite must not emit its own BEGIN
        dbapi_conn.execute("PRAGMA journal_mode=WAL")
        dbapi_conn.execute("PRAGMA busy_timeout=60000")

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()  # connections made before the listeners existed are dropped


# -- inside each pool process -------------------------------------------------------------------

_ws: Workspace | None = None
_events: Any = None


def _init(cfg: Config, events: Any) -> None:
    global _ws, _events
    _ws = Workspace.open(cfg)
    tune_sqlite(_ws.cases.engine)
    _events = events
    if cfg.matching.enabled:  # one index per process, kept open across its clips
        from .matching.sound_index import warm_senses

        warm_senses(_ws)


def _run(job: PoolJob) -> tuple[int, TriageOutcome | None, str | None]:
    """One clip in a pool process; an error becomes a message, never a lost result."""
    assert _ws is not None

    def say(stage: str, frac: float) -> None:
        _events.put(("progress", job.index, stage, frac))

    def note(msg: str) -> None:
        _events.put(("note", job.index, msg, 0.0))

    try:
        return job.index, process_clip(_ws, job.clip_id, say, note, probe=job.probe), None
    except Exception as exc:  # noqa: BLE001 - one bad clip must not stop the others
        return job.index, None, one_line(_ws.home, f"clip {job.clip_id}", exc)


# -- in the parent --------------------------------------------------------------------------------


class LocalPool:
    """A pool of `workers` processes; submit clips as they are recorded, then `results()`."""

    def __init__(self, cfg: Config, workers: int, on_progress: OnProgress, notify: Notify) -> None:
        ctx = multiprocessing.get_context("spawn")  # no fork of a threaded parent (rich, pools)
        self._events = ctx.Queue()
        self._ex = ProcessPoolExecutor(
            workers, mp_context=ctx, initializer=_init, initargs=(cfg, self._events)
        )
        self._futures: dict[Future[Any], PoolJob] = {}
        self._on_progress, self._notify = on_progress, notify
        self.results: dict[int, tuple[TriageOutcome | None, str | None]] = {}

    def submit(self, job: PoolJob) -> None:
        self._futures[self._ex.submit(_run, job)] = job
        self.poll(0)

    def poll(self, timeout: float) -> None:
        """Collect finished clips and forward progress, waiting at most `timeout` seconds."""
        done, _ = wait(list(self._futures), timeout=timeout)
        for fut in done:
            job = self._futures.pop(fut)
            try:
                index, outcome, error = fut.result()
            except BrokenProcessPool as exc:
                index, outcome, error = job.index, None, f"worker process died: {exc}"
            except Exception as exc:  # noqa: BLE001 - a result that did not come back
                error = f"clip {job.clip_id}: {type(exc).__name__}: {exc}"
                index, outcome = job.index, None
            self.results[index] = (outcome, error)
        self._drain()

    def _drain(self) -> None:
        while True:
            try:
                kind, index, text, frac = self._events.get_nowait()
            except queue.Empty:
                return
            if kind == "progress":
                self._on_progress(index, text, frac)
            else:
                self._notify(text)

    def finish(self) -> dict[int, tuple[TriageOutcome | None, str | None]]:
        """Wait for every submitted clip; {input index: (outcome or None, error or None)}."""
        while self._futures:
            self.poll(0.1)
        self._ex.shutdown()
        self._drain()
        return self.results

    def close(self) -> None:
        self._ex.shutdown(cancel_futures=True)


def drain_local(cfg: Config, workers: int | None = None) -> list[TriageOutcome]:
    """Process every `queued` clip of a workspace with the local pool (`worker --drain` on SQLite).

    Returns:
        One outcome per clip processed (an error that stopped a clip is in `error`).
    """
    ws = Workspace.open(cfg)
    try:
        tune_sqlite(ws.cases.engine)
        queued = [c.id for c in ws.cases.list_clips(status="queued")]
    finally:
        ws.close()
    if not queued:
        return []
    n = default_workers(len(queued), workers or cfg.worker.triage_processes)
    pool = LocalPool(cfg, n, lambda _i, _s, _f: None, lambda _m: None)
    try:
        for i, clip_id in enumerate(queued):
            pool.submit(PoolJob(i, clip_id))
        results = pool.finish()
    finally:
        pool.close()
    out = []
    for i, clip_id in enumerate(queued):
        outcome, error = results[i]
        out.append(outcome or TriageOutcome(Path(), clip_id, None, "failed", error))
    return out

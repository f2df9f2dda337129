"""The store's named locks (osint_video/store/locks.py) on a real SQLite file and PostgreSQL.

The archive lock of many waiting jobs takes no pooled connection, a lock dies with its holder,
and on SQLite one lock's release never frees another's (POSIX record locks would).
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from osint_video.errors import StoreError
from osint_video.store import locks, migrate
from osint_video.store.cases import Acquisition, CaseStore, NewEvent, utcnow

HOLDER = (
    "import sys, time\n"
    "from osint_video.store.cases import CaseStore\n"
    "store = CaseStore(sys.argv[1])\n"
    "print('asking', flush=True)\n"
    "asked = time.monotonic()\n"
    "with store.locks.hold(sys.argv[2]):\n"
    "    print('held', time.monotonic() - asked, flush=True)\n"
    "    time.sleep(float(sys.argv[3]))\n"
)


def _asking(url: str, name: str, hold_s: float) -> subprocess.Popen[str]:
    """Another process about to take the lock `name` (and then hold it for `hold_s` seconds)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, url, name, str(hold_s)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "asking"
    return proc


def _held(proc: subprocess.Popen[str]) -> float:
    """Wait until that process holds the lock; how long it waited for it."""
    assert proc.stdout is not None
    word, waited = proc.stdout.readline().split()
    assert word == "held"
    return float(waited)


def _clip(store: CaseStore, n: int) -> int:
    clip_id, _ = store.acquire(
        sha256=f"{n:064x}",
        size_bytes=1,
        kind="video",
        filename="x.mp4",
        evidence_path="evidence/x",
        acquisition=Acquisition("tester", utcnow()),
        event=NewEvent("acquired", {}),
    )
    return clip_id


def test_archive_lock_waiters_beyond_the_pool_take_no_pooled_connection(pg_url: str) -> None:
    """20 jobs of one worker (one engine, pool of 5 + 10 overflow) want the archive lock at once;
    each holder then queries. Waiting must not keep a pooled connection, or the waiters use the
    whole pool and the holder waits for a connection it can never get."""
    migrate.upgrade(pg_url)
    store = CaseStore(pg_url)
    ws = SimpleNamespace(cases=store)
    clip = _clip(store, 1)
    n = 20
    start = threading.Barrier(n, timeout=20)
    checked_out: list[int] = []
    errors: list[BaseException] = []

    def job() -> None:
        try:
            start.wait()
            with locks.exclusive(ws, "archive-index"):
                checked_out.append(store.engine.pool.checkedout())  # type: ignore[attr-defined]
                assert store.load(clip).id == clip
                time.sleep(0.02)  # the others are queued meanwhile
        except BaseException as exc:  # noqa: BLE001 - the outcome under test
            errors.append(exc)

    threads = [threading.Thread(target=job) for _ in range(n)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        store.close()
    assert errors == []
    assert len(checked_out) == n and set(checked_out) == {0}, checked_out


def test_a_lock_dies_with_its_holder(db_url: str) -> None:
    """SIGKILL the holder: the server (PostgreSQL) or the kernel (flock) releases its lock."""
    store = CaseStore(db_url)
    got = threading.Event()

    def wait_for_it() -> None:
        with store.locks.hold("archive-index"):
            got.set()

    proc = _asking(db_url, "archive-index", 60)
    _held(proc)
    waiter = threading.Thread(target=wait_for_it)
    try:
        waiter.start()
        assert not got.wait(0.5)  # held by the other process
        proc.kill()
        proc.wait(10)
        assert got.wait(10)
    finally:
        proc.kill()
        waiter.join(10)
        store.close()


def test_one_release_does_not_free_another_lock_of_the_process(tmp_path: Path) -> None:
    """Two threads, two locks on one SQLite store; the second's release must leave the first
    held against other processes (closing a file drops all of a process's POSIX record locks
    on it, the way the report lock used to take them)."""
    url = f"sqlite:///{tmp_path / 'cases.sqlite'}"
    store = CaseStore(url)
    release = threading.Event()

    def first() -> None:
        with store.locks.hold("report-1"):
            held.set()
            release.wait(10)

    held = threading.Event()
    holder = threading.Thread(target=first)
    holder.start()
    try:
        assert held.wait(10)
        with store.locks.hold("report-2"):
            pass
        other = _asking(url, "report-1", 0)
        time.sleep(0.1)  # it asks right after saying so
        threading.Timer(0.5, release.set).start()
        waited = _held(other)
        assert other.wait(10) == 0
    finally:
        release.set()
        holder.join(10)
        store.close()
    assert waited > 0.5
    assert list((tmp_path / "cases.sqlite-locks").iterdir()) == []  # nothing left behind


def test_threads_of_one_process_take_turns_and_names_are_checked(tmp_path: Path) -> None:
    """In-memory and file stores alike; a name that is not a plain word is refused."""
    for url in ("sqlite://", f"sqlite:///{tmp_path / 'c.sqlite'}"):
        store = CaseStore(url)
        spans: list[tuple[float, float]] = []

        def turn(s: CaseStore, out: list[tuple[float, float]]) -> None:
            with s.locks.hold("clip-7"):
                began = time.monotonic()
                time.sleep(0.05)
                out.append((began, time.monotonic()))

        threads = [threading.Thread(target=turn, args=(store, spans)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        spans.sort()
        assert len(spans) == 4
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False)), (url, spans)
        with pytest.raises(ValueError, match="lock names"), store.locks.hold("../etc/passwd"):
            pass
        store.close()
    assert locks._threads == {}


def test_a_lock_taken_again_by_its_holder_is_refused_not_a_hang(tmp_path: Path) -> None:
    """The locks are not re-entrant: a caller holding one around work that takes it itself
    (the web desk's 'match again' once did) would wait for itself forever."""
    store = CaseStore(f"sqlite:///{tmp_path / 'c.sqlite'}")
    try:
        with store.locks.hold("archive-index"):
            with pytest.raises(StoreError, match="already held by this thread"):
                with store.locks.hold("archive-index"):
                    pass
            with store.locks.hold("report-1"):  # another name is fine
                pass
        with store.locks.hold("archive-index"):  # released: free again
            pass
    finally:
        store.close()

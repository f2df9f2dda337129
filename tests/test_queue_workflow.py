"""The desk's queue workflow on a real case store (SQLite file and PostgreSQL server).

Transitions allowed and forbidden, the history of every change in the custody chain, and two
desks changing one clip at once (two CaseStore instances, two threads): one wins, the other is
told, nothing is lost. Also the CLI's one-line errors for unknown statuses.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from osint_video.custody.chain import check_chain
from osint_video.desk import workflow
from osint_video.desk.workflow import TRANSITIONS, assign, change_status, set_priority
from osint_video.errors import ConflictError, NotFound, WorkflowError
from osint_video.store import locks, migrate
from osint_video.store.cases import Acquisition, CaseStore, NewEvent, utcnow
from osint_video.store.schema import STATUSES

CLI = [sys.executable, "-m", "osint_video.cli"]


_n = iter(range(1, 1_000_000))


def new_clip(store: CaseStore, status: str = "queued") -> int:
    sha = f"{next(_n):064x}"
    clip_id, _ = store.acquire(
        sha256=sha,
        size_bytes=10,
        kind="video",
        filename="x.mp4",
        evidence_path=f"evidence/{sha}",
        acquisition=Acquisition("editor", utcnow(), "kursk"),
        event=NewEvent("acquired", {"case": "kursk"}),
    )
    store.set_status(clip_id, status, error="boom" if status == "failed" else None)
    return clip_id


def history(store: CaseStore, clip_id: int, action: str = "status_changed") -> list:
    return [e for e in store.custody_events(clip_id)[1] if e.action == action]


def test_the_table_covers_every_status() -> None:
    assert set(TRANSITIONS) == set(STATUSES)
    for targets in TRANSITIONS.values():
        assert targets <= set(STATUSES)
    # every status can be reached, and no verdict is a dead end
    assert set().union(*TRANSITIONS.values()) == set(STATUSES)
    assert all(TRANSITIONS[s] for s in STATUSES)


def test_a_clip_walks_the_desk_and_every_step_is_in_custody(store: CaseStore) -> None:
    clip = new_clip(store)
    walk = [
        ("processing", "worker-1"),
        ("processed", "worker-1"),
        ("in_review", "olena"),
        ("verified", "olena"),
        ("disputed", "chief"),
        ("in_review", "chief"),
        ("rejected", "olena"),
        ("in_review", "chief"),
    ]
    before = utcnow() - timedelta(seconds=1)
    prev = "queued"
    for status, who in walk:
        assert change_status(store, clip, status, actor=who, note=f"to {status}") == prev
        prev = status
    events = history(store, clip)
    assert [(e.details["from"], e.details["to"], e.actor) for e in events] == [
        (a, b, who)
        for a, (b, who) in zip(["queued"] + [s for s, _ in walk[:-1]], walk, strict=True)
    ]
    assert all(e.details["note"] == f"to {e.details['to']}" for e in events)
    stamps = [datetime.fromisoformat(e.at.replace("Z", "+00:00")) for e in events]
    assert stamps == sorted(stamps) and stamps[0] >= before.astimezone(UTC)
    sha, chain = store.custody_events(clip)
    assert check_chain(sha, chain) == []
    assert store.load(clip).status == "in_review"


@pytest.mark.parametrize(
    ("start", "target"),
    [
        ("queued", "verified"),
        ("queued", "in_review"),
        ("processing", "verified"),
        ("processed", "verified"),
        ("failed", "processed"),
        ("rejected", "verified"),
        ("verified", "queued"),
    ],
)
def test_forbidden_transitions_change_nothing(store: CaseStore, start: str, target: str) -> None:
    clip = new_clip(store, start)
    n = len(store.custody_events(clip)[1])
    with pytest.raises(WorkflowError, match=f"cannot go from {start} to {target}"):
        change_status(store, clip, target, actor="olena")
    assert store.load(clip).status == start
    assert len(store.custody_events(clip)[1]) == n


def test_unknown_status_and_clip_are_clear_errors(store: CaseStore) -> None:
    clip = new_clip(store)
    with pytest.raises(WorkflowError, match="unknown status 'approved': expected one of queued"):
        change_status(store, clip, "approved", actor="olena")
    with pytest.raises(WorkflowError, match="unknown status 'Queued'"):
        change_status(store, clip, "processing", actor="olena", expected="Queued")
    with pytest.raises(NotFound, match="no clip with id 999"):
        change_status(store, 999, "processing", actor="olena")
    with pytest.raises(WorkflowError, match="unknown priority 'asap'"):
        set_priority(store, clip, "asap", actor="olena")


def test_retry_clears_the_error_but_custody_keeps_it(store: CaseStore) -> None:
    clip = new_clip(store, "failed")
    assert change_status(store, clip, "queued", actor="editor", note="server was down") == "failed"
    row = store.load(clip)
    assert row.status == "queued" and row.error is None
    [ev] = history(store, clip)
    assert ev.details["error"] == "boom" and ev.details["note"] == "server was down"


def test_assign_and_priority_are_recorded(store: CaseStore) -> None:
    clip = new_clip(store)
    assert assign(store, clip, "olena", actor="chief") is None
    assert assign(store, clip, "taras", actor="chief", note="olena is off") == "olena"
    assert set_priority(store, clip, "urgent", actor="chief") == "normal"
    row = store.load(clip)
    assert row.assignee == "taras" and row.priority == workflow.PRIORITIES["urgent"]
    assert [(e.details["from"], e.details["to"]) for e in history(store, clip, "assigned")] == [
        (None, "olena"),
        ("olena", "taras"),
    ]
    [p] = history(store, clip, "priority_set")
    assert (p.details["from"], p.details["to"], p.actor) == ("normal", "urgent", "chief")
    [summary] = store.list_clips(assignee="taras")
    assert (summary.assignee, summary.priority) == ("taras", "urgent")
    assert store.list_clips(assignee="olena") == []


def _race(db_url: str, work: list[Callable[[CaseStore], str]]) -> list[object]:
    """Run each callable in its own thread with its own CaseStore, released at once."""
    stores = [CaseStore(db_url) for _ in work]
    gate = threading.Barrier(len(work))
    results: list[object] = [None] * len(work)

    def run(i: int) -> None:
        gate.wait()
        try:
            results[i] = work[i](stores[i])
        except Exception as exc:  # noqa: BLE001 - the outcome under test
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(work))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for s in stores:
        s.close()
    return results


@pytest.mark.parametrize("round_", range(3))
def test_two_desks_at_once_one_wins_the_other_is_told(
    store: CaseStore, db_url: str, round_: int
) -> None:
    clip = new_clip(store, "in_review")
    verdicts = ["verified", "rejected"]
    results = _race(
        db_url,
        [
            lambda s, v=v: change_status(s, clip, v, actor=f"desk-{v}", expected="in_review")
            for v in verdicts
        ],
    )
    wins = [v for v, r in zip(verdicts, results, strict=True) if r == "in_review"]
    lost = [r for r in results if isinstance(r, ConflictError)]
    assert len(wins) == 1 and len(lost) == 1, results
    assert str(lost[0]) == (
        f"clip {clip} changed from in_review to {wins[0]} by someone else; reload and retry"
    )
    assert store.load(clip).status == wins[0]
    [ev] = history(store, clip)
    assert ev.details["to"] == wins[0] and ev.actor == f"desk-{wins[0]}"
    sha, chain = store.custody_events(clip)
    assert check_chain(sha, chain) == []


def test_many_concurrent_notes_all_land_in_one_unbroken_chain(
    store: CaseStore, db_url: str
) -> None:
    """in_review -> in_review from 6 desks at once: each succeeds, seq stays gapless."""
    clip = new_clip(store, "in_review")
    results = _race(
        db_url,
        [
            lambda s, i=i: change_status(s, clip, "in_review", actor=f"desk{i}", note=str(i))
            for i in range(6)
        ],
    )
    assert results == ["in_review"] * 6, results
    sha, chain = store.custody_events(clip)
    assert [e.seq for e in chain] == list(range(1, len(chain) + 1))
    assert sorted(e.details["note"] for e in history(store, clip)) == [str(i) for i in range(6)]
    assert check_chain(sha, chain) == []


def test_events_appended_at_once_from_many_writers_all_land(store: CaseStore, db_url: str) -> None:
    """Appends that change nothing else on the clip (a report written, a match recorded) used
    to read the last seq unlocked: on PostgreSQL two at once chose the same seq and one failed
    on the unique key. They queue on the clip's row now; the chain stays gapless."""
    clip = new_clip(store, "processed")
    results = _race(
        db_url,
        [
            lambda s, i=i: s.append_events(clip, f"desk{i}", [NewEvent("noted", {"i": i})])
            for i in range(8)
        ],
    )
    assert results == [None] * 8, results
    sha, chain = store.custody_events(clip)
    assert [e.seq for e in chain] == list(range(1, len(chain) + 1))
    assert sorted(e.details["i"] for e in chain if e.action == "noted") == list(range(8))
    assert check_chain(sha, chain) == []


def _held(store: CaseStore, clip: int, hold_s: float) -> tuple[float, float]:
    with store.report_lock(clip):
        began = time.monotonic()
        time.sleep(hold_s)
        return began, time.monotonic()


def test_report_lock_admits_one_writer_per_clip(store: CaseStore, db_url: str) -> None:
    """Four writers of one clip's reports take turns; a writer of another clip does not wait."""
    one, other = new_clip(store), new_clip(store)
    work = [lambda s: _held(s, one, 0.2) for _ in range(4)] + [lambda s: _held(s, other, 0.2)]
    spans = _race(db_url, work)
    same = sorted(spans[:4])
    assert all(a[1] <= b[0] for a, b in zip(same, same[1:], strict=False)), same
    assert spans[4][0] < same[-1][0]  # the other clip's writer ran beside them
    assert locks._threads == {}  # nothing kept per clip once no one holds or waits
    folder = store.locks.folder
    assert folder is None or list(folder.iterdir()) == []  # no lock file left behind either


def test_report_locks_take_no_pooled_connection(pg_url: str) -> None:
    """20 writers of 20 clips on one CaseStore (a worker with 20 jobs at once) all hold their
    lock and then query: the locks' connections must not come out of the engine's pool of 15,
    or the holders wait for one another's connections until the pool's timeout."""
    migrate.upgrade(pg_url)
    store = CaseStore(pg_url)
    clips = [new_clip(store) for _ in range(20)]
    everyone = threading.Barrier(len(clips), timeout=20)
    errors: list[BaseException] = []

    def write(clip: int) -> None:
        try:
            with store.report_lock(clip):
                everyone.wait()
                assert store.load(clip).id == clip
        except BaseException as exc:  # noqa: BLE001 - the outcome under test
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(c,)) for c in clips]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    store.close()
    assert errors == []


def test_report_lock_spans_processes_on_one_sqlite_file(tmp_path: Path) -> None:
    """fcntl locks belong to the process: another process on the same file waits too."""
    url = f"sqlite:///{tmp_path / 'cases.sqlite'}"
    store = CaseStore(url)
    clip = new_clip(store)
    holder = (
        "import sys, time\n"
        "from osint_video.store.cases import CaseStore\n"
        "with CaseStore(sys.argv[1]).report_lock(int(sys.argv[2])):\n"
        "    print('held', flush=True)\n"
        "    time.sleep(1.0)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", holder, url, str(clip)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        asked = time.monotonic()
        with store.report_lock(clip):
            waited = time.monotonic() - asked
        assert proc.wait(10) == 0
    finally:
        proc.kill()
        store.close()
    assert waited > 0.5


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real console entry point, as a separate process."""
    env = {**os.environ, "OSINT_VIDEO_HOME": str(home), "OSINT_VIDEO_OPERATOR": "olena"}
    env.pop("OSINT_VIDEO_DB", None)
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=120)


def test_unknown_status_from_the_real_cli_is_one_line(home: Path) -> None:
    store = CaseStore(f"sqlite:///{home / 'cases.sqlite'}")
    clip = new_clip(store, "processed")
    store.close()
    bad = _cli(home, "queue", "status", str(clip), "approved")
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines() == [
        "error: unknown status 'approved': expected one of queued, processing, processed, "
        "in_review, verified, disputed, rejected, failed"
    ]


def test_cli_status_assign_retry_and_their_errors(home: Path, cli: Callable) -> None:
    store = CaseStore(f"sqlite:///{home / 'cases.sqlite'}")
    clip = new_clip(store, "processed")
    store.close()
    rc, _, err = cli("queue", "status", str(clip), "verified")
    assert rc == 1 and "error: a clip cannot go from processed to verified" in err
    rc, _, err = cli("queue", "status", str(clip), "in_review", "--note", "mine")
    assert rc == 0 and f"clip {clip}: processed -> in_review" in err
    rc, _, err = cli("queue", "status", str(clip), "verified", "--expect", "processed")
    assert (rc, err.strip()) == (
        1,
        f"error: clip {clip} changed from processed to in_review by someone else; reload and retry",
    )
    assert cli("queue", "assign", str(clip), "taras")[0] == 0
    assert cli("queue", "priority", str(clip), "urgent")[0] == 0
    rc, _, err = cli("queue", "list", "--status", "bogus")
    assert rc == 1 and "unknown status 'bogus'" in err
    rc, out, _ = cli("queue", "list", "--assignee", "taras")
    assert rc == 0 and "taras" in out and "in_review" in out and "urgent" in out
    assert "taras" not in cli("queue", "list", "--assignee", "olena")[1]
    rc, _, err = cli("queue", "retry", str(clip))
    assert rc == 1 and f"clip {clip} is in_review, not failed: nothing to retry" in err
    rc, _, err = cli("queue", "assign", "424242", "taras")
    assert rc == 1 and "no clip" in err

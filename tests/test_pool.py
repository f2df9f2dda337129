"""`triage` of several files in a local process pool (SQLite, no workers): same results as one
file after another, progress from every process, WAL on the case store."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from synth import make_clips

from osint_video.config import load_config
from osint_video.pipeline import TriageRequest, intake
from osint_video.pool import LocalPool, PoolJob, default_workers
from osint_video.service import TriageItem, triage_paths
from osint_video.workspace import Workspace


def _triage(home: Path, files: list[Path], workers: int) -> list[TriageItem]:
    cfg = load_config(home=home)
    return triage_paths(cfg, files, case="pool", workers=workers)


def _facts(item: TriageItem, home: Path) -> tuple:
    """What must not depend on the number of processes (ids, hashes, keyframes, anomalies)."""
    rep = item.report or {}
    frames = tuple(
        (k["id"], k["frame"], k["hashes"]["phash"], k["hashes"]["dhash"])
        for k in rep.get("keyframes", [])
    )
    anomalies = tuple(sorted(a["code"] for a in rep.get("anomalies", [])))
    assert frames or item.status != "processed"  # a processed clip has keyframes to compare
    error = (item.error or "").replace(str(home), "HOME")
    return (item.path.name, item.clip_id, item.status, error, frames, anomalies)


def test_parallel_triage_gives_the_sequential_results(tmp_path: Path, home: Path) -> None:
    files = make_clips(tmp_path / "clips", 6)
    broken = tmp_path / "clips" / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64)
    repeated = tmp_path / "again.mp4"
    shutil.copy(files[0], repeated)
    inputs = [*files, broken, repeated]
    one = _triage(tmp_path / "seq", inputs, workers=1)
    two = _triage(tmp_path / "par", inputs, workers=2)
    assert [_facts(i, tmp_path / "seq") for i in one] == [_facts(i, tmp_path / "par") for i in two]
    assert all(i.status == "processed" for i in two[:6])
    assert two[6].error and two[7].clip_id == two[0].clip_id
    steps = {}
    for run in ("seq", "par"):
        with sqlite3.connect(tmp_path / run / "cases.sqlite") as conn:
            if run == "par":
                assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
            steps[run] = conn.execute(
                "SELECT clip_id, action, count(*) FROM custody_events"
                " WHERE action != 'status_changed' GROUP BY 1, 2 ORDER BY 1, 2"
            ).fetchall()
    # The same steps either way, however far clip 1 got before its copy came in: the repeated
    # file's clip has 2 acquisitions and its reports made again (listing both); nothing else
    # is done twice (status moves may repeat).
    assert steps["par"] == steps["seq"]
    twice = {(c, a) for c, a, n in steps["par"] if n > 1}
    assert twice == {(two[0].clip_id, "acquired"), (two[0].clip_id, "report_generated")}
    acquisitions = two[7].report["acquisitions"] if two[7].report else []
    assert len(acquisitions) == 2


def test_every_process_reports_progress(tmp_path: Path, home: Path) -> None:
    cfg = load_config()
    ws = Workspace.open(cfg)
    try:
        ids = [intake(ws, TriageRequest(f)).clip_id for f in make_clips(tmp_path / "c", 3)]
    finally:
        ws.close()
    seen: dict[int, list[str]] = {}
    pool = LocalPool(cfg, 2, lambda i, stage, _f: seen.setdefault(i, []).append(stage), print)
    try:
        for i, clip_id in enumerate(ids):
            pool.submit(PoolJob(i, clip_id))
        results = pool.finish()
    finally:
        pool.close()
    assert {i: (o.status if o else e) for i, (o, e) in results.items()} == {
        0: "processed",
        1: "processed",
        2: "processed",
    }
    assert set(seen) == {0, 1, 2}
    assert all(stages[-1] == "done" and "keyframes" in stages for stages in seen.values())


def test_default_workers() -> None:
    assert default_workers(1) == 1
    assert default_workers(100, 3) == 3
    assert default_workers(2, 8) == 2
    assert default_workers(0) == 1

"""The archive index at desk scale: segments, catch-up, tombstones, compaction, shards, repair.

Real SQLite case stores and real files; fingerprints are random 64-bit hashes recorded through
the matching hook itself (`match_and_index` with given fingerprints), so every test runs in
seconds. Every search is compared with a numpy scan over the store's own rows.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from osint_video.config import load_config
from osint_video.matching import compact as compaction
from osint_video.matching.fingerprints import FrameFingerprint
from osint_video.matching.index import (
    LiveIndex,
    forget_open_indexes,
    index_dir,
    open_index,
    rebuild,
    remove_clip,
    warm,
)
from osint_video.matching.manifest import log_head, read_entries, read_manifest
from osint_video.matching.match import match_and_index
from osint_video.matching.search import scan
from osint_video.models import MediaInfo
from osint_video.store.cases import Acquisition, NewEvent, utcnow
from osint_video.workspace import Workspace

RADIUS = 10
VIDEO = MediaInfo(kind="video")


def workspace(home: Path, **matching: object) -> Workspace:
    env = {f"OSINT_VIDEO__MATCHING__{k.upper()}": str(v) for k, v in matching.items()}
    env.setdefault("OSINT_VIDEO__MATCHING__AUTO_COMPACT", "false")
    return Workspace.open(load_config(home=home, environ={**os.environ, **env}))


@pytest.fixture
def ws(home: Path) -> Workspace:
    forget_open_indexes()
    w = workspace(home, segment_hashes=60)
    yield w
    w.close()
    forget_open_indexes()


def frames(rng: np.random.Generator, n: int, informative: float = 0.9) -> list[FrameFingerprint]:
    views = rng.integers(0, 2**64, (n, 5), dtype=np.uint64, endpoint=False)
    return [
        FrameFingerprint(i * 0.25, 20.0, bool(rng.random() < informative), tuple(map(int, v)))
        for i, v in enumerate(views)
    ]


def new_clip(ws: Workspace, rng: np.random.Generator) -> int:
    clip_id, _ = ws.cases.acquire(
        sha256=rng.bytes(32).hex(),
        size_bytes=1,
        kind="video",
        filename="x.mp4",
        evidence_path="evidence/x",
        acquisition=Acquisition("tester", utcnow(), "k"),
        event=NewEvent("acquired", {}),
    )
    return clip_id


def record(ws: Workspace, clip_id: int, fps: list[FrameFingerprint]) -> None:
    """What the pipeline's match step does for a clip whose fingerprints are known."""
    match_and_index(ws, clip_id, Path("unused"), VIDEO, fingerprints=fps)


def seed(ws: Workspace, rng: np.random.Generator, clips: int, per_clip: int) -> None:
    """Many clips at once, written as the match step writes them (fingerprint rows and one
    index-log row per clip), in bulk: a large archive in a second."""
    ids = [new_clip(ws, rng) for _ in range(clips)]
    views = rng.integers(-(2**63), 2**63, (clips * per_clip, 5), dtype=np.int64)
    rows = [
        (c, i, i * 0.25, *map(int, views[k * per_clip + i]))
        for k, c in enumerate(ids)
        for i in range(per_clip)
    ]
    cols = 'clip_id, "index", time_s, texture, informative, hash, "full", full_mirror, center80'
    with ws.cases.engine.begin() as conn:
        conn.exec_driver_sql(
            f"INSERT INTO match_fingerprints ({cols}, center90, center90_mirror)"
            " VALUES (?, ?, ?, 20.0, 1, 'phash:64', ?, ?, ?, ?, ?)",
            rows,
        )
        conn.exec_driver_sql(
            "INSERT INTO match_index_log (clip_id, action, hashes) VALUES (?, 'add', ?)",
            [(c, 2 * per_clip) for c in ids],
        )


def queries(rng: np.random.Generator, ws: Workspace, n: int = 300) -> np.ndarray:
    """Stored hashes with 0-14 bits flipped (inside and outside the radius), and noise."""
    stored = read_entries(ws).hashes
    q = rng.integers(0, 2**64, n, dtype=np.uint64, endpoint=False)
    if len(stored):
        picks = stored[rng.integers(0, len(stored), n // 2)]
        for j, h in enumerate(picks):
            for b in rng.choice(64, j % 15, replace=False):
                h ^= np.uint64(1) << np.uint64(b)
            q[j] = h
    return q


def found(idx: LiveIndex, q: np.ndarray) -> list[tuple[int, int, float, int]]:
    hits = idx.alive(idx.view().search(q, RADIUS))
    parts = (hits.query, hits.clip, hits.time, hits.distance)
    return sorted(zip(*(a.tolist() for a in parts), strict=True))


def truth(ws: Workspace, q: np.ndarray) -> list[tuple[int, int, float, int]]:
    """The same search as a numpy scan over the store's rows (the source of truth)."""
    e = read_entries(ws)
    hits = scan(e.hashes, q, RADIUS)
    clips, times = e.clips[hits.stored].tolist(), e.times[hits.stored].tolist()
    return sorted(zip(hits.query.tolist(), clips, times, hits.distance.tolist(), strict=True))


def churn(ws: Workspace, rng: np.random.Generator, clips: list[int], n: int) -> None:
    """n changes: new clips, clips matched again with other frames, clips removed."""
    for _ in range(n):
        roll = rng.random()
        if roll < 0.6 or len(clips) < 3:
            clips.append(new_clip(ws, rng))
            record(ws, clips[-1], frames(rng, int(rng.integers(3, 12))))
        elif roll < 0.85:
            record(ws, clips[int(rng.integers(len(clips)))], frames(rng, 6))
        else:
            remove_clip(ws, clips.pop(int(rng.integers(len(clips)))), "tester")


def test_search_stays_exact_through_flushes_compactions_and_removals(ws: Workspace) -> None:
    rng = np.random.default_rng(7)
    clips: list[int] = []
    for step in range(6):
        churn(ws, rng, clips, 12)
        idx = open_index(ws)
        q = queries(rng, ws)
        assert found(idx, q) == truth(ws, q), step
        assert len(idx) == len(read_entries(ws))
        if step == 3:
            assert compaction.compact(ws)  # everything into one segment per shard
            idx = open_index(ws)
            assert found(idx, q) == truth(ws, q)
    assert len(open_index(ws).segments) >= 2  # flushes wrote segments beside the base


def test_another_process_catches_up_by_the_log_and_nothing_is_rewritten(
    ws: Workspace, home: Path
) -> None:
    rng = np.random.default_rng(11)
    clips: list[int] = []
    churn(ws, rng, clips, 30)
    compaction.compact(ws)
    other = LiveIndex(index_dir(ws))  # another worker's index (here: another object)
    other.refresh(ws)
    files = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in index_dir(ws).rglob("*.npy")}
    mapped = other.segments
    for _ in range(3):  # one clip recorded here, then searched there: no reload, no rewrite
        clips.append(new_clip(ws, rng))
        record(ws, clips[-1], frames(rng, 5))
        other.refresh(ws)
        assert other.caught_up == 1 and other.segments == mapped
        q = queries(rng, ws)
        assert found(other, q) == truth(ws, q)
    assert {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in files} == files
    compaction.compact(ws)  # its segments are replaced and deleted under it ...
    assert not (index_dir(ws) / mapped[0].name).exists()
    q = queries(rng, ws)
    assert found(other, q) == truth(ws, q)  # ... and its searches go on (the mapped files)
    assert other.segments == mapped
    other.refresh(ws)
    assert other.segments != mapped and found(other, q) == truth(ws, q)


def test_a_removal_is_a_tombstone_until_compaction(ws: Workspace) -> None:
    rng = np.random.default_rng(3)
    clips = [new_clip(ws, rng) for _ in range(4)]
    for c in clips:
        record(ws, c, frames(rng, 8, informative=1.0))
    (base,) = rebuild(ws).segments
    gone = clips[1]
    q = read_entries(ws, [gone]).hashes
    assert remove_clip(ws, gone, "tester") == 8
    idx = open_index(ws)
    assert idx.segments == (base,) and gone not in {c for _q, c, _t, _d in found(idx, q)}
    assert len(base) == 64 and len(idx) == 48  # still in the segment, no longer counted
    idx.flush(ws, 1)  # the tombstone is written out beside the base
    assert compaction.compact(ws)
    (merged,) = open_index(ws).segments
    assert len(merged) == 48 and gone not in merged.content.labels


def test_sharded_index_answers_exactly_as_the_unsharded_one(home: Path, tmp_path: Path) -> None:
    forget_open_indexes()
    rng = np.random.default_rng(5)
    one = workspace(home, segment_hashes=50)
    try:
        clips: list[int] = []
        churn(one, rng, clips, 40)
        q = queries(rng, one)
        plain = found(open_index(one), q)
        summary = match_and_index(one, new_clip(one, rng), Path("x"), VIDEO, fingerprints=[])
    finally:
        one.close()
    forget_open_indexes()
    three = workspace(home, segment_hashes=50, shards=3)
    try:
        idx = rebuild(three)
        assert len(idx.manifest.shards) == 3
        assert {s.shard for s in idx.segments} == {0, 1, 2}
        assert found(idx, q) == plain == truth(three, q)
        churn(three, rng, clips, 15)  # flushes split by shard, then a compaction per shard
        compaction.compact(three)
        q = queries(rng, three)
        assert found(open_index(three), q) == truth(three, q)
        fps = [
            FrameFingerprint(i * 0.25, 20.0, True, (int(h), int(h), int(h), int(h), int(h)))
            for i, h in enumerate(read_entries(three, [clips[0]]).hashes[::2])
        ]  # a copy of clip 1's footage: found in its shard, decided exactly as unsharded
        again = match_and_index(three, new_clip(three, rng), Path("x"), VIDEO, fingerprints=fps)
        assert again.status == "matched" and again.matches[0]["clip_id"] == clips[0]
    finally:
        three.close()
        forget_open_indexes()
    assert summary.status == "no_visual_content"


def test_damage_and_loss_are_rebuilt_from_the_store_and_said(ws: Workspace) -> None:
    rng = np.random.default_rng(9)
    clips: list[int] = []
    churn(ws, rng, clips, 20)
    compaction.compact(ws)
    q = queries(rng, ws)
    want = truth(ws, q)
    cases = [
        ("sorted.npy", lambda p: p.write_bytes(p.read_bytes()[:-64])),  # truncated
        ("hashes.npy", lambda p: p.write_bytes(p.read_bytes()[:-1] + b"\x01")),  # edited
        ("", lambda p: __import__("shutil").rmtree(p)),  # a segment folder gone
    ]
    for fname, damage in cases:
        (seg,) = open_index(ws).segments
        forget_open_indexes()  # what the next process to open it finds
        damage(index_dir(ws) / seg.name / fname if fname else index_dir(ws) / seg.name)
        said: list[str] = []
        assert found(open_index(ws, said.append), q) == want
        assert seg.name in said[0] and "rebuilt from the case store" in said[0], said
    (seg,) = open_index(ws).segments
    forget_open_indexes()
    (index_dir(ws) / seg.name / "order.npy").write_bytes(b"")
    thread = warm(ws)  # a worker's background open repairs it: its first job is told
    assert thread is not None
    thread.join(60)
    said = []
    assert found(open_index(ws, said.append), q) == want
    assert seg.name in said[0] and said[0] in (index_dir(ws) / "index.log").read_text()
    forget_open_indexes()
    __import__("shutil").rmtree(index_dir(ws))  # the whole folder deleted
    said = []
    assert found(open_index(ws, said.append), q) == want
    assert "missing: rebuilt" in said[0]


def test_a_compaction_killed_mid_write_loses_and_doubles_nothing(home: Path) -> None:
    forget_open_indexes()
    ws = workspace(home, segment_hashes=10**6)
    rng = np.random.default_rng(13)
    try:
        seed(ws, rng, 60, 1700)  # ~200,000 entries: a compaction that takes a moment to write
        rebuild(ws)
        record(ws, new_clip(ws, rng), frames(rng, 40, informative=1.0))
        open_index(ws).flush(ws, 1)
        before = read_manifest(index_dir(ws))
        env = {**os.environ, "OSINT_VIDEO_HOME": str(home)}
        code = "from osint_video.matching.compact import main; main()"
        env["OSINT_VIDEO__MATCHING__COMPACT_RATIO"] = "0.0001"
        child = subprocess.Popen([sys.executable, "-c", code], env=env)
        deadline = time.monotonic() + 60
        while not any(p.name.startswith(".tmp-") for p in index_dir(ws).iterdir()):
            assert child.poll() is None and time.monotonic() < deadline
            time.sleep(0.005)
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        assert read_manifest(index_dir(ws)) == before  # the old segments still stand
        forget_open_indexes()
        q = queries(rng, ws)
        idx = open_index(ws)
        assert found(idx, q) == truth(ws, q) and len(idx) == len(read_entries(ws))
        assert compaction.compact(ws)  # the next one finishes and clears what was left
        assert not [p for p in index_dir(ws).iterdir() if p.name.startswith(".tmp-")]
        assert found(open_index(ws), q) == truth(ws, q)
    finally:
        ws.close()
        forget_open_indexes()


def test_two_compactions_at_once_one_waits(ws: Workspace) -> None:
    rng = np.random.default_rng(17)
    clips: list[int] = []
    churn(ws, rng, clips, 40)
    assert compaction.due(read_manifest(index_dir(ws)), ws.config.matching.compact_ratio)
    barrier = threading.Barrier(2)
    out: list[list[str]] = []

    def run() -> None:
        barrier.wait()
        out.append(compaction.compact(ws, full=False))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(len(o) > 0 for o in out) == [False, True]  # the second found nothing due
    q = queries(rng, ws)
    assert found(open_index(ws), q) == truth(ws, q)


def test_compaction_starts_by_itself_in_the_background(home: Path) -> None:
    forget_open_indexes()
    ws = workspace(home, segment_hashes=40, compact_ratio=0.5, auto_compact="true")
    rng = np.random.default_rng(19)
    try:
        clips: list[int] = []
        churn(ws, rng, clips, 30)
        deadline = time.monotonic() + 60
        while compaction._child is None or compaction._child.poll() is None:
            assert time.monotonic() < deadline, "no compaction ran"
            time.sleep(0.1)
        assert compaction._child.returncode == 0
        log = (index_dir(ws) / "compact.log").read_text()
        assert "-> 1 segment" in log
        q = queries(rng, ws)
        assert found(open_index(ws), q) == truth(ws, q)
        counts = collections.Counter(s.shard for s in open_index(ws).segments)
        assert max(counts.values()) <= compaction.MAX_SMALL + 1
    finally:
        ws.close()
        forget_open_indexes()


def test_two_copies_matched_at_once_find_each_other_once(ws: Workspace) -> None:
    """Both search before either records (the unlocked part); the one that takes the archive
    lock second catches up under it and finds the first."""
    from osint_video.matching.match import ArchiveLock, finish, record_matches, search_early

    rng = np.random.default_rng(23)
    churn(ws, rng, [], 10)
    fps = frames(rng, 12, informative=1.0)
    a, b = new_clip(ws, rng), new_clip(ws, rng)
    early_a = search_early(ws, fps, clip_id=a)
    early_b = search_early(ws, fps, clip_id=b)
    results = {}
    for clip, early in ((b, early_b), (a, early_a)):
        with ArchiveLock(ws) as lock:
            lock.take(early.index)
            results[clip] = finish(ws, clip, early)
            record_matches(ws, results[clip], NewEvent("matched", {}))
    assert results[b].matches == []
    assert [m["clip_id"] for m in results[a].matches] == [b]
    assert results[a].index_position > early_a.view.position  # read under the lock


def test_a_pool_process_keeps_one_index_and_reads_what_others_record(
    home: Path, tmp_path: Path
) -> None:
    """What each local pool process runs: one index opened at start, kept across its clips,
    each clip matched against what another process recorded a moment before."""
    import queue

    from synth import make_clips

    from osint_video import pool
    from osint_video.matching.index import live_index
    from osint_video.pipeline import TriageRequest, intake

    forget_open_indexes()
    cfg = load_config(home=home)
    ws = Workspace.open(cfg)
    rng = np.random.default_rng(29)
    try:
        ids = [intake(ws, TriageRequest(f)).clip_id for f in make_clips(tmp_path / "c", 3)]
        pool._init(cfg, queue.Queue())
        assert pool._ws is not None
        idx = live_index(pool._ws)
        for i, clip_id in enumerate(ids):
            seed(ws, rng, 1, 5)  # another machine records a clip (straight into the store)
            head = log_head(ws)[0]
            _index, outcome, error = pool._run(pool.PoolJob(i, clip_id))
            assert error is None and outcome is not None and outcome.status == "processed"
            matched = [e for e in ws.cases.custody_events(clip_id)[1] if e.action == "matched"]
            assert matched[-1].details["index_position"] == head  # searched here at once
            assert live_index(pool._ws) is idx and idx.caught_up <= 2
    finally:
        ws.close()
        forget_open_indexes()


def test_an_index_from_before_segments_is_rebuilt_once(ws: Workspace) -> None:
    rng = np.random.default_rng(31)
    churn(ws, rng, [], 8)
    forget_open_indexes()
    __import__("shutil").rmtree(index_dir(ws))
    index_dir(ws).mkdir()
    (index_dir(ws) / "manifest.json").write_text('{"format": 1, "count": 3, "hash": "phash:64"}')
    np.save(index_dir(ws) / "hashes.npy", np.arange(3, dtype=np.uint64))
    said: list[str] = []
    q = queries(rng, ws)
    assert found(open_index(ws, said.append), q) == truth(ws, q)
    assert "format 1 (expected 2)" in said[0] and "rebuilt" in said[0]
    assert not (index_dir(ws) / "hashes.npy").exists()

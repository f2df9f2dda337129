"""The sound index at desk scale (issue 17 with issue 16's design): segments, catch-up from the
index log, replaced and removed sound, compaction, repair.

Real SQLite case stores and real files; sound fingerprints are random 32-bit sub-fingerprints
recorded through the sound's own archive calls (`find_sound` then `record_sound`, as the
`SoundMatch` step does), so every test runs in seconds. Every search is compared with the same
search over an index built in memory from the store's own rows (the source of truth).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_index import new_clip, workspace  # a clip in the store; a workspace's settings

from osint_video.matching import compact as compaction
from osint_video.matching.index import forget_open_indexes, remove_clip
from osint_video.matching.manifest import log_since, read_manifest
from osint_video.matching.sound_archive import find_sound, record_sound
from osint_video.matching.sound_index import (
    SOUND_KIND,
    LiveSoundIndex,
    build,
    open_sound_index,
    read_sound,
    sound_dir,
)
from osint_video.matching.sound_match import SoundVote, search_sound
from osint_video.sound.chromaprint import ITEM_S
from osint_video.sound.fingerprint import TrackPrint
from osint_video.store.cases import NewEvent
from osint_video.store.schema import SOUND
from osint_video.workspace import Workspace

ITEMS = 200  # sub-fingerprints per track (25 s)


@pytest.fixture
def ws(home: Path) -> Workspace:
    forget_open_indexes()
    w = workspace(home, segment_hashes=500)  # a segment every ~2 clips
    yield w
    w.close()
    forget_open_indexes()


def tracks(rng: np.random.Generator, n: int = 1) -> list[TrackPrint]:
    """Random sound: every sub-fingerprint informative but a few quiet stretches."""
    out = []
    for t in range(n):
        values = rng.integers(0, 2**32, ITEMS, dtype=np.uint64).astype(np.uint32)
        mask = np.ones(ITEMS, bool)
        mask[rng.integers(0, ITEMS - 10) :][:10] = False
        out.append(TrackPrint(t, 0.0, values, mask))
    return out


def record(ws: Workspace, clip_id: int, prints: list[TrackPrint]) -> None:
    """What the SoundMatch step does for a clip whose sound is known."""
    with ws.lock("archive-index"):
        found = find_sound(ws, clip_id, prints, [], [])
        record_sound(ws, found, NewEvent("sound_matched", {}))


def fill(
    ws: Workspace, rng: np.random.Generator, n: int, wait: bool = False
) -> dict[int, list[TrackPrint]]:
    """`n` new clips with their sound recorded (`wait`: for each automatic compaction)."""
    heard = {}
    for _ in range(n):
        c = new_clip(ws, rng)
        heard[c] = tracks(rng)
        record(ws, c, heard[c])
        if wait and compaction._child is not None:
            compaction._child.wait(timeout=60)  # the automatic compaction, a child process
    return heard


def excerpt(p: TrackPrint, rng: np.random.Generator, start: int = 40) -> TrackPrint:
    """100 sub-fingerprints of a track (12 s), 1 bit in 32 flipped (a re-encode)."""
    values = p.values[start : start + 100].copy()
    values ^= np.uint32(1) << rng.integers(0, 32, len(values)).astype(np.uint32)
    return TrackPrint(0, 3.0, values, p.mask[start : start + 100].copy())


def search(ws: Workspace, query: TrackPrint) -> list[SoundVote]:
    return search_sound(open_sound_index(ws).view(), [query], ws.config.sound, exclude=None)


def truth(ws: Workspace, query: TrackPrint) -> list[SoundVote]:
    """The same search over an index built in memory from the store's rows."""
    entries, _counts = read_sound(ws, None)
    table = entries.table
    stored = []
    for row in table:
        sl = slice(int(row["at"]), int(row["at"] + row["length"]))
        p = TrackPrint(int(row["track"]), float(row["start"]), entries.values[sl], entries.mask[sl])
        stored.append((int(row["clip"]), p))
    return search_sound(build(Path("unused"), stored), [query], ws.config.sound, exclude=None)


def clips_found(votes: list[SoundVote]) -> set[int]:
    return {v.other_clip_id for v in votes}


def test_a_clip_another_process_records_is_found_by_the_next_search(
    ws: Workspace, home: Path, tmp_path: Path
) -> None:
    rng = np.random.default_rng(1)
    for _ in range(4):
        record(ws, new_clip(ws, rng), tracks(rng))
    compaction.compact(ws)
    idx = open_sound_index(ws)
    mapped = idx.segments
    files = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in sound_dir(ws).rglob("*.npy")}
    assert files and len(mapped) == 1
    clip = new_clip(ws, rng)
    heard = tracks(rng)
    np.save(tmp_path / "values.npy", heard[0].values)
    np.save(tmp_path / "mask.npy", heard[0].mask)
    script = (
        "import sys, numpy as np\n"
        "from pathlib import Path\n"
        "from osint_video.config import load_config\n"
        "from osint_video.workspace import Workspace\n"
        "from osint_video.sound.fingerprint import TrackPrint\n"
        "from osint_video.store.cases import NewEvent\n"
        "from osint_video.matching.sound_archive import find_sound, record_sound\n"
        "d = Path(sys.argv[2])\n"
        "p = TrackPrint(0, 0.0, np.load(d / 'values.npy'), np.load(d / 'mask.npy'))\n"
        "ws = Workspace.open(load_config())\n"
        "with ws.lock('archive-index'):\n"
        "    found = find_sound(ws, int(sys.argv[1]), [p], [], [])\n"
        "    record_sound(ws, found, NewEvent('sound_matched', {}))\n"
        "ws.close()\n"
    )
    env = {**os.environ, "OSINT_VIDEO_HOME": str(home), "PYTHONPATH": os.getcwd()}
    env["OSINT_VIDEO__MATCHING__SEGMENT_HASHES"] = "100000"
    proc = subprocess.run(
        [sys.executable, "-c", script, str(clip), str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    query = excerpt(heard[0], rng)
    assert open_sound_index(ws) is idx and idx.caught_up == 1  # the log's one new row, read
    assert idx.segments == mapped  # no rebuild, no reload
    votes = search_sound(idx.view(), [query], ws.config.sound, exclude=None)
    assert clips_found(votes) == {clip} and votes == truth(ws, query)
    assert votes[0].bit_error < 0.05
    assert votes[0].ranges[0].other_start_s == pytest.approx(40 * ITEM_S, abs=0.4)
    now = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in sound_dir(ws).rglob("*.npy")}
    assert now == files  # nothing on disk was rewritten for the new clip
    [*_, last] = log_since(ws, 0, SOUND)
    assert last[1:] == (clip, "add")


def test_replaced_and_removed_sound_leaves_no_stale_hits(ws: Workspace) -> None:
    rng = np.random.default_rng(2)
    ids = [new_clip(ws, rng) for _ in range(5)]
    heard = {c: tracks(rng, 2) for c in ids}
    for c in ids:
        record(ws, c, heard[c])
    again, gone = ids[1], ids[3]
    old = excerpt(heard[again][1], rng)
    assert clips_found(search(ws, old)) == {again}
    heard[again] = tracks(rng, 2)  # matched again: new sound replaces the old
    record(ws, again, heard[again])
    idx = open_sound_index(ws)
    assert any(again in s.content.labels for s in idx.segments)  # old entries still on disk
    assert search(ws, old) == [] == truth(ws, old)
    new = excerpt(heard[again][0], rng)
    assert clips_found(search(ws, new)) == {again} and search(ws, new) == truth(ws, new)
    size = len(idx)
    removed = excerpt(heard[gone][0], rng)
    remove_clip(ws, gone, "tester")
    assert search(ws, removed) == [] == truth(ws, removed)
    assert len(open_sound_index(ws)) == size - sum(int(p.mask.sum()) for p in heard[gone])
    open_sound_index(ws).flush(ws, 1)  # the tombstone written out beside the segments
    lines = compaction.compact(ws)
    assert any(line.startswith("sound: ") for line in lines)
    (merged,) = open_sound_index(ws).segments
    assert set(merged.content.labels) == set(ids) - {gone}
    assert len(merged) == 4 * 2 * ITEMS  # the replaced and removed entries are gone
    for q in (old, new, removed):
        assert search(ws, q) == truth(ws, q)


def test_a_damaged_or_missing_sound_index_is_rebuilt_and_said(ws: Workspace) -> None:
    rng = np.random.default_rng(3)
    heard = fill(ws, rng, 4)
    idx = open_sound_index(ws)
    assert len(idx.segments) >= 1
    queries = [excerpt(p[0], rng) for p in heard.values()]
    want = [truth(ws, q) for q in queries]
    assert all(len(w) == 1 for w in want)
    values = sound_dir(ws) / idx.segments[0].name / "values.npy"
    data = bytearray(values.read_bytes())
    data[-5] ^= 0xFF  # one byte changed, same size
    values.write_bytes(bytes(data))
    forget_open_indexes()
    notes: list[str] = []
    idx = open_sound_index(ws, notes.append)
    assert len(notes) == 1 and "sound index" in notes[0] and "checksum" in notes[0], notes
    assert "rebuilt from the case store" in notes[0]
    assert [search(ws, q) for q in queries] == want
    forget_open_indexes()
    (sound_dir(ws) / "manifest.json").unlink()
    notes.clear()
    open_sound_index(ws, notes.append)
    assert len(notes) == 1 and "missing" in notes[0]
    assert [search(ws, q) for q in queries] == want
    forget_open_indexes()  # the one-array index of before (format 1): rebuilt once
    (sound_dir(ws) / "manifest.json").write_text('{"format": 1, "algorithm": "chromaprint:2"}')
    (sound_dir(ws) / "keys.npy").write_bytes(b"old")
    notes.clear()
    open_sound_index(ws, notes.append)
    assert len(notes) == 1 and "inconsistent" in notes[0]
    assert not (sound_dir(ws) / "keys.npy").exists()
    assert [search(ws, q) for q in queries] == want
    assert read_manifest(sound_dir(ws), SOUND_KIND.hash) is not None


def test_compaction_merges_sound_segments_and_answers_the_same(home: Path) -> None:
    forget_open_indexes()
    ws = workspace(home, segment_hashes=300, auto_compact="true", compact_ratio=0.3)
    try:
        rng = np.random.default_rng(4)
        heard = fill(ws, rng, 12, wait=True)
        queries = [excerpt(p[0], rng) for p in heard.values()]
        want = [truth(ws, q) for q in queries]
        assert [clips_found(w) for w in want] == [{c} for c in heard]
        manifest = read_manifest(sound_dir(ws), SOUND_KIND.hash)
        assert manifest is not None and len(manifest.refs()) <= 3  # appended, then merged
        assert "sound: shard 0:" in (home / "index" / "compact.log").read_text()
        forget_open_indexes()
        before = [search(ws, q) for q in queries]
        assert compaction.compact(ws, full=True)
        (merged,) = open_sound_index(ws).segments
        assert len(merged.content.labels) == 12
        assert [search(ws, q) for q in queries] == before == want
        other = LiveSoundIndex(sound_dir(ws))  # a fresh process maps the merged segment
        other.refresh(ws)
        assert len(other) == len(open_sound_index(ws))
    finally:
        ws.close()
        forget_open_indexes()

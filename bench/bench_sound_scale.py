"""The sound index at desk scale (issue 17 on issue 16's design): what adding one clip's sound and
one sound search cost with a small archive and with 5 M stored sub-fingerprints, and, beside
them, what the index before segments cost per clip at the same sizes.

Run: `.venv/bin/python bench/bench_sound_scale.py [--sizes 24000,5000000] [--clips 60]
[--no-legacy]`. Works in bench/out/sound-scale/ (a SQLite case store per size).

The archive's sound is synthetic and written straight through the segment writer (one base
segment: ~10,400 clips of 60 s, 480 sub-fingerprints each, random 32-bit values, 90 %
informative), as `index rebuild` would write it; the clips then added are real case-store
clips whose sound is recorded as the `SoundMatch` step records it (`find_sound` under the
archive lock, then `record_sound`: store transaction with its log row, catch-up, and the tail
written out as a segment every `[matching] segment_hashes` entries, compacted in a child
process when due). The synthetic clips have case-store rows (`clips`) but no sound rows, so
`index rebuild` would drop them: none is run. Measured per size:

- first open of the sound index in a fresh process (segments mapped; their checksums were
  stamped by the writer, so nothing is hashed), and the open a job does (log catch-up);
- adding one clip's sound, p50 / p95 / max over `--clips` clips (the max holds a tail flush);
- one search: a 10 s excerpt (1 bit in 32 flipped) of a stored clip, p50 / p95 over 20, each
  checked to find its clip;
- legacy (the index before segments, read from git at 07dda46): `replace_clip` (rebuild the
  arrays, save and SHA-256 them all) and its open (load and SHA-256 every array). Its
  `_store_summary` (a distinct-clip scan of `sound_fingerprints` per open) is not counted: the
  synthetic archive has no rows to scan.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from osint_video.config import load_config  # noqa: E402
from osint_video.matching.index import forget_open_indexes  # noqa: E402
from osint_video.matching.manifest import Manifest, SegmentRef, write_manifest  # noqa: E402
from osint_video.matching.segments import Content, meta_checksum  # noqa: E402
from osint_video.matching.sound_archive import find_sound, record_sound  # noqa: E402
from osint_video.matching.sound_index import SOUND_KIND, open_sound_index  # noqa: E402
from osint_video.matching.sound_match import search_sound  # noqa: E402
from osint_video.matching.sound_segments import (  # noqa: E402
    informative_counts,
    sound_entries,
    write_sound_segment,
)
from osint_video.sound.fingerprint import TrackPrint  # noqa: E402
from osint_video.store.cases import Acquisition, NewEvent, utcnow  # noqa: E402
from osint_video.workspace import Workspace  # noqa: E402

OUT = REPO / "bench" / "out" / "sound-scale"
ITEMS = 480  # a 60 s track
FIRST_ID = 10_000_000  # the synthetic clips' ids
CLIPS_SQL = (
    "INSERT INTO clips (id, sha256, size_bytes, kind, filename, evidence_path, status,"
    " created_at, updated_at, priority) VALUES (?, ?, 1, 'video', 'seed.mp4', 'evidence/seed',"
    " 'processed', '2025-01-01 00:00:00', '2025-01-01 00:00:00', 1)"
)
LEGACY_REV = "07dda46"
OPEN = (
    "import json, time\n"
    "t = time.perf_counter()\n"
    "from osint_video.config import load_config\n"
    "from osint_video.workspace import Workspace\n"
    "from osint_video.matching.sound_index import open_sound_index\n"
    "ws = Workspace.open(load_config())\n"
    "s = time.perf_counter(); idx = open_sound_index(ws); e = time.perf_counter()\n"
    "print(json.dumps({'open_s': e - s, 'entries': len(idx)}))\n"
)


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def track(rng: np.random.Generator, n: int = ITEMS) -> TrackPrint:
    values = rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32)
    return TrackPrint(0, 0.0, values, rng.random(n) < 0.9)


def seed(ws: Workspace, rng: np.random.Generator, entries: int) -> list[tuple[int, TrackPrint]]:
    """The synthetic archive: one base sound segment and its manifest (as a rebuild writes)."""
    stored = [(FIRST_ID + k, track(rng)) for k in range(max(1, entries // ITEMS))]
    with ws.cases.engine.begin() as conn:  # the clips exist (a compaction keeps their entries)
        conn.exec_driver_sql(CLIPS_SQL, [(c, f"{c:064x}") for c, _p in stored])
    e = sound_entries(stored)
    labels = {c: (0, n) for c, n in informative_counts(e).items()}
    root = SOUND_KIND.root(ws)
    root.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    name = write_sound_segment(root, 0, 0, 0, Content(e, labels))
    ref = SegmentRef(name, meta_checksum(root, name), 0, 0, len(e))
    write_manifest(root, Manifest(0, None, ((ref,),), SOUND_KIND.hash))
    say(f"  {len(e):,} entries written as one segment in {time.perf_counter() - began:.2f} s")
    return stored


def new_clip(ws: Workspace, rng: np.random.Generator) -> int:
    clip_id, _ = ws.cases.acquire(
        sha256=rng.bytes(32).hex(), size_bytes=1, kind="video", filename="x.mp4",
        evidence_path="evidence/x", acquisition=Acquisition("bench", utcnow(), "k"),
        event=NewEvent("acquired", {}),
    )  # fmt: skip
    return clip_id


def first_open(home: Path) -> dict[str, Any]:
    env = {**os.environ, "OSINT_VIDEO_HOME": str(home), "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-c", OPEN], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def excerpt(p: TrackPrint, rng: np.random.Generator) -> TrackPrint:
    start = int(rng.integers(0, len(p) - 81))
    values = p.values[start : start + 81].copy()
    values ^= np.uint32(1) << rng.integers(0, 32, len(values)).astype(np.uint32)
    return TrackPrint(0, 0.0, values, p.mask[start : start + 81].copy())


def stats(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(1000 * statistics.median(values), 2),
        "p95_ms": round(1000 * float(np.percentile(values, 95)), 2),
        "max_ms": round(1000 * max(values), 2),
    }


def measure(size: int, clips: int, old: ModuleType | None) -> dict[str, Any]:
    home = OUT / f"size-{size}"
    shutil.rmtree(home, ignore_errors=True)
    forget_open_indexes()
    ws = Workspace.open(load_config(home=home))
    rng = np.random.default_rng(size)
    try:
        stored = seed(ws, rng, size)
        row: dict[str, Any] = {"entries": len(stored) * ITEMS, "clips": len(stored)}
        row["fresh_process_open_s"] = round(first_open(home)["open_s"], 4)
        opens, adds = [], []
        for _ in range(clips):
            began = time.perf_counter()
            open_sound_index(ws)
            opens.append(time.perf_counter() - began)
            clip, heard = new_clip(ws, rng), [track(rng)]
            began = time.perf_counter()
            with ws.lock("archive-index"):
                found = find_sound(ws, clip, heard, [], [])
                record_sound(ws, found, NewEvent("sound_matched", {}))
            adds.append(time.perf_counter() - began)
        row["job_open"] = stats(opens)
        row["add_one_clip"] = stats(adds)
        row["segments_after"] = len(open_sound_index(ws).segments)
        searches = []
        view = open_sound_index(ws).view()
        for k in rng.integers(0, len(stored), 20):
            clip, p = stored[int(k)]
            q = excerpt(p, rng)
            began = time.perf_counter()
            votes = search_sound(view, [q], ws.config.sound, exclude=None)
            searches.append(time.perf_counter() - began)
            assert [v.other_clip_id for v in votes] == [clip], votes
        row["search"] = stats(searches)
        if old is not None:
            row["legacy"] = legacy_costs(old, home, stored, rng)
        return row
    finally:
        ws.close()
        forget_open_indexes()


def legacy(out: Path) -> ModuleType:
    """The sound index before segments, from git, as a module `legacy_sound_index`."""
    text = subprocess.run(
        ["git", "show", f"{LEGACY_REV}:osint_video/matching/sound_index.py"],
        cwd=REPO, check=True, capture_output=True, text=True,
    ).stdout.replace("from ..", "from osint_video.")  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    (out / "legacy_sound_index.py").write_text(text)
    sys.path.insert(0, str(out))
    return importlib.import_module("legacy_sound_index")


def legacy_costs(
    old: ModuleType, home: Path, stored: list[tuple[int, TrackPrint]], rng: np.random.Generator
) -> dict[str, Any]:
    idx = old.build(home / "legacy-sound", stored)
    old.save(idx)
    adds, opens = [], []
    for k in range(3):
        began = time.perf_counter()
        idx = old.replace_clip(idx, FIRST_ID - 1 - k, [track(rng)])
        adds.append(time.perf_counter() - began)
        began = time.perf_counter()
        old._load(idx.root, old._summary(idx))
        opens.append(time.perf_counter() - began)
    size = sum((idx.root / f"{n}.npy").stat().st_size for n in old.ARRAYS)
    return {
        "add_one_clip_ms": round(1000 * statistics.median(adds), 1),
        "open_ms": round(1000 * statistics.median(opens), 1),
        "bytes_rewritten_per_clip": size,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="24000,5000000", help="stored sub-fingerprints")
    ap.add_argument("--clips", type=int, default=60, help="clips added per size")
    ap.add_argument("--no-legacy", action="store_true", help="skip the index before segments")
    args = ap.parse_args()
    old = None if args.no_legacy else legacy(OUT / "legacy")
    rows = {}
    for size in (int(s) for s in args.sizes.split(",")):
        say(f"{size:,} sub-fingerprints")
        rows[size] = measure(size, args.clips, old)
        say(json.dumps(rows[size], indent=1))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "figures.json").write_text(json.dumps(rows, indent=1))
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()

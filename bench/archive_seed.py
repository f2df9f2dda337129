"""Archives of N stored hashes for bench_archive_scale.py, made once and kept in bench/out/.

A hash is one stored view (full frame or central 80 %) of one informative sampled frame, so N
hashes are N/2 fingerprint rows: clips of 240 frames (60 s at 4 fps), random 64-bit views,
written as the match step writes them (the rows, one index-log row per clip). The rows are
generated inside the database (SQLite: a recursive CTE and `random()`; PostgreSQL:
`generate_series` and two `random()` halves per value), so 10 M hashes take seconds, not the
minutes a Python loop would. Then the index is built from the store (`rebuild_files`), timed.

Also `legacy()`: the archive index as it was before issue 16 (one set of arrays, checksummed,
recounted, rebuilt into multi-index tables and rewritten for every clip), loaded from git so
the bench can run the old per-clip work beside the new.
"""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out" / "archive-scale"
PER_CLIP = 240
# The commit before issue 16's index: the old index, search and kernel modules are read from it.
LEGACY_REV = "ae88140"

CLIPS_SQL = (
    "INSERT INTO clips (id, sha256, size_bytes, kind, filename, evidence_path, status,"
    " created_at, updated_at, priority) SELECT {ids}, {sha}, 1, 'video', 'seed.mp4',"
    " 'evidence/seed', 'processed', '2025-01-01 00:00:00', '2025-01-01 00:00:00', 1 FROM {src}"
)
ROWS_SQL = (
    'INSERT INTO match_fingerprints (clip_id, "index", time_s, texture, informative, hash,'
    ' "full", full_mirror, center80, center90, center90_mirror) SELECT {n} / {per} + 1,'
    " {mod}, ({mod}) * 0.25, 20.0, {true}, 'phash:64', {r}, {r}, {r}, {r}, {r} FROM {src}"
)
LOG_SQL = (
    "INSERT INTO match_index_log (clip_id, action, hashes) SELECT clip_id, 'add', 2 * count(*)"
    " FROM match_fingerprints GROUP BY clip_id ORDER BY clip_id"
)
PG_RANDOM = (
    "((((random() * 4294967296)::bigint - 2147483648) << 32) | (random() * 4294967296)::bigint)"
)


def fill(url: str, hashes: int) -> None:
    """`hashes` stored hashes in an empty case store at head (see the module docstring)."""
    rows = hashes // 2
    clips = -(-rows // PER_CLIP)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql(
                CLIPS_SQL.format(
                    ids="id",
                    sha="printf('%064x', id)",
                    src=f"(WITH RECURSIVE k(id) AS (SELECT 1 UNION ALL SELECT id + 1 FROM k"
                    f" WHERE id < {clips}) SELECT id FROM k)",
                )
            )
            src = f"(WITH RECURSIVE s(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM s WHERE n < {rows - 1}) SELECT n FROM s)"  # noqa: E501
            conn.exec_driver_sql(
                ROWS_SQL.format(
                    n="n", per=PER_CLIP, mod=f"n % {PER_CLIP}", true=1, r="random()", src=src
                )
            )
        else:
            conn.exec_driver_sql(
                CLIPS_SQL.format(
                    ids="g",
                    sha="lpad(to_hex(g), 64, '0')",
                    src=f"generate_series(1, {clips}) AS g",
                )
            )
            conn.exec_driver_sql(
                ROWS_SQL.format(
                    n="g",
                    per=PER_CLIP,
                    mod=f"mod(g, {PER_CLIP})",
                    true="true",
                    r=PG_RANDOM,
                    src=f"generate_series(0, {rows - 1}) AS g",
                )
            )
            conn.exec_driver_sql(f"SELECT setval('clips_id_seq', {clips})")
        conn.exec_driver_sql(LOG_SQL)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    engine.dispose()


def seeded_sqlite(hashes: int) -> tuple[Path, dict[str, float]]:
    """A workspace folder with a SQLite case store of `hashes` hashes and its index (cached)."""
    home = OUT / f"sqlite-{hashes}"
    done = home / "seeded.json"
    if done.is_file():
        return home, json.loads(done.read_text())
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    url = f"sqlite:///{home / 'cases.sqlite'}"
    facts = _seed(url, home, hashes)
    done.write_text(json.dumps(facts))
    return home, facts


def _seed(url: str, home: Path, hashes: int) -> dict[str, float]:
    from osint_video.config import load_config
    from osint_video.matching.index import rebuild_files
    from osint_video.store import migrate
    from osint_video.workspace import Workspace

    migrate.upgrade(url)
    began = time.perf_counter()
    fill(url, hashes)
    seeded = time.perf_counter() - began
    env = {"OSINT_VIDEO__WORKSPACE__DATABASE_URL": url}
    ws = Workspace.open(load_config(home=home, environ=env))
    try:
        began = time.perf_counter()
        rebuild_files(ws)
        built = time.perf_counter() - began
    finally:
        ws.close()
    print(f"  seeded {hashes:,} hashes in {seeded:.1f} s, index built in {built:.1f} s",
          file=sys.stderr, flush=True)  # fmt: skip
    return {"hashes": hashes, "seed_s": round(seeded, 2), "index_build_s": round(built, 2)}


def copy_home(src: Path, dst: Path, with_store: bool = True) -> Path:
    """A run's own copy: the SQLite file copied, the index's segments hard-linked (segments
    never change; a manifest is replaced by rename, so the copy's never touches the cache)."""
    shutil.rmtree(dst, ignore_errors=True)
    dst.mkdir(parents=True)
    if with_store:
        shutil.copyfile(src / "cases.sqlite", dst / "cases.sqlite")
    if (src / "index").is_dir():
        subprocess.run(["cp", "-al", str(src / "index"), str(dst / "index")], check=True)
    return dst


def legacy() -> ModuleType:
    """The pre-issue-16 index as a package `legacy_matching` in bench/out (from git)."""
    pkg = OUT / "legacy" / "legacy_matching"
    if not (pkg / "index.py").is_file():
        pkg.mkdir(parents=True, exist_ok=True)
        for name in ("index", "search", "_kernel"):
            text = subprocess.run(
                ["git", "show", f"{LEGACY_REV}:osint_video/matching/{name}.py"],
                cwd=REPO, check=True, capture_output=True, text=True,
            ).stdout  # fmt: skip
            text = text.replace("from ..", "from osint_video.")
            for mod in ("fingerprints", "schema"):
                text = text.replace(f"from .{mod} ", f"from osint_video.matching.{mod} ")
            (pkg / f"{name}.py").write_text(text)
        (pkg / "__init__.py").write_text("")
    sys.path.insert(0, str(pkg.parent))
    module = importlib.import_module("legacy_matching.index")
    module.index_dir = lambda ws: ws.home / "legacy-index"  # beside the new index, not in it
    return module

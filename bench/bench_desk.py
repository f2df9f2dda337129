"""Bench for the shared desk: clips per minute for 1, 2 and 4 queue workers (PostgreSQL,
procrastinate) and for the local process pool (SQLite), against the same clips processed one
after another in one process, side by side in one run.

Run: `.venv/bin/python bench/bench_desk.py [--clips N] [--quick]`.

Every row starts from a fresh database with the same N small clips already queued (intake,
steps 1-4, is not timed: it is what `queue add` does); the time is steps 5-11 for all of
them, wall clock, including the worker processes' start. "workers" counts clips processed at
once: 1 = one process, 2 = two processes, 4 = two processes x concurrency 2. A throwaway
PostgreSQL server is started for the run (as the tests do) and removed afterwards.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from pgserver import PgServer, _runner, find_bindir  # noqa: E402
from synth import make_clips  # noqa: E402

from osint_video.config import Config, load_config  # noqa: E402
from osint_video.desk import tasks  # noqa: E402
from osint_video.pipeline import TriageRequest, intake, process_clip  # noqa: E402
from osint_video.pool import drain_local  # noqa: E402
from osint_video.store import migrate  # noqa: E402
from osint_video.workspace import Workspace  # noqa: E402

WORKER = (
    "import sys\n"
    "from osint_video.config import load_config\n"
    "from osint_video.desk import worker as w\n"
    "cfg = load_config()\n"
    "w.run(cfg, w.options(cfg, int(sys.argv[1]), drain=True), lambda _l: None)\n"
)


@dataclass(frozen=True)
class Row:
    name: str
    layout: str
    seconds: float
    clips: int

    @property
    def per_minute(self) -> float:
        return 60.0 * self.clips / self.seconds


def _env(home: Path, url: str | None) -> dict[str, str]:
    env = {**os.environ, "OSINT_VIDEO_HOME": str(home), "OSINT_VIDEO_OPERATOR": "bench"}
    env.pop("OSINT_VIDEO_DB", None)
    env.pop("OSINT_VIDEO_CONFIG", None)
    if url:
        env["OSINT_VIDEO_DB"] = url
    return env


def _queued(home: Path, url: str | None, clips: list[Path]) -> tuple[Config, list[int]]:
    """A fresh workspace (and database) with `clips` recorded and, on PostgreSQL, queued."""
    env = _env(home, url)
    if url:
        migrate.upgrade(url)
        env["OSINT_VIDEO__WORKSPACE__DATABASE_URL"] = url
    cfg = load_config(home=home, environ=env)
    ws = Workspace.open(cfg)
    try:
        ids = [intake(ws, TriageRequest(c)).clip_id for c in clips]
        if url:
            tasks.enqueue(ws, ids)
    finally:
        ws.close()
    return cfg, ids


def sequential(cfg: Config, ids: list[int]) -> float:
    ws = Workspace.open(cfg)
    try:
        start = time.perf_counter()
        for clip_id in ids:
            process_clip(ws, clip_id)
        return time.perf_counter() - start
    finally:
        ws.close()


def workers(home: Path, url: str, processes: int, concurrency: int) -> float:
    env = _env(home, url)
    start = time.perf_counter()
    procs = [
        subprocess.Popen([sys.executable, "-c", WORKER, str(concurrency)], env=env)
        for _ in range(processes)
    ]
    for p in procs:
        if p.wait() != 0:
            raise SystemExit(f"a worker failed (exit {p.returncode})")
    return time.perf_counter() - start


def pool(cfg: Config, processes: int) -> float:
    start = time.perf_counter()
    done = drain_local(cfg, processes)
    assert all(o.status == "processed" for o in done), [o.error for o in done if o.error]
    return time.perf_counter() - start


def run(n: int, base: Path, server: PgServer) -> list[Row]:
    clips = make_clips(base / "clips", n)
    rows: list[Row] = []
    names = iter(range(1000))

    def pg(label: str) -> tuple[Path, str, Config, list[int]]:
        i = next(names)
        url = server.new_database(f"bench{i}")
        cfg, ids = _queued(base / f"ws{i}", url, clips)
        print(f"  {label} ...", file=sys.stderr, flush=True)
        return base / f"ws{i}", url, cfg, ids

    _h, _u, cfg, ids = pg("sequential, PostgreSQL")
    rows.append(Row("sequential, one process", "PostgreSQL", sequential(cfg, ids), n))
    for procs, conc in ((1, 1), (2, 1), (2, 2)):
        home, url, _cfg, _ids = pg(f"{procs * conc} worker(s)")
        layout = f"{procs} process(es) x {conc}"
        rows.append(Row(f"{procs * conc} worker(s)", layout, workers(home, url, procs, conc), n))
    cfg, ids = _queued(base / "sqlite-seq", None, clips)
    print("  sequential, SQLite ...", file=sys.stderr, flush=True)
    rows.append(Row("sequential, one process", "SQLite", sequential(cfg, ids), n))
    cfg, ids = _queued(base / "sqlite-pool", None, clips)
    procs = os.cpu_count() or 1
    print("  local pool ...", file=sys.stderr, flush=True)
    rows.append(Row("local process pool", f"SQLite, {procs} processes", pool(cfg, procs), n))
    return rows


def table(rows: list[Row]) -> str:
    base = {r.layout.split(",")[0]: r for r in rows if r.name.startswith("sequential")}
    lines = [
        "| run | database / layout | seconds | clips per minute | vs sequential |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        ref = base["SQLite" if r.layout.startswith("SQLite") else "PostgreSQL"]
        lines.append(
            f"| {r.name} | {r.layout} | {r.seconds:.1f} | {r.per_minute:.0f} | "
            f"{ref.seconds / r.seconds:.2f}x |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=40, help="small clips per run (default 40)")
    ap.add_argument("--quick", action="store_true", help="12 clips")
    args = ap.parse_args()
    n = 12 if args.quick else args.clips
    bindir, prefix = find_bindir(), _runner()
    if bindir is None or prefix is None:
        raise SystemExit("PostgreSQL server binaries are missing (Debian package postgresql)")
    server = PgServer(bindir, prefix)
    base = Path(tempfile.mkdtemp(prefix="bench-desk-"))
    try:
        server.init()
        server.start()
        rows = run(n, base, server)
    finally:
        server.cleanup()
        subprocess.run(["rm", "-rf", str(base)], check=False)
    print(f"\n{n} clips of 1 s (160x120), {os.cpu_count()} cores, steps 5-11 (intake not timed)\n")
    print(table(rows))


if __name__ == "__main__":
    main()

"""Archive matching at desk scale (issue 16): what a clip costs at 10 k, 1 M and 10 M stored
hashes, with the segmented index and, side by side, with the index as it was before.

Run: `.venv/bin/python bench/bench_archive_scale.py [--sizes 10000,1000000,10000000]
[--clips 20] [--parts sqlite,legacy,rss,pg] [--quick]`. Archives are seeded once and kept in
bench/out/archive-scale/ (`archive_seed.py`: ~1.3 GB at 10 M on SQLite, ~2.5 GB on PostgreSQL).

1. SQLite, one process (what `triage` of many files does per pool process): 20 clips of 8 s
   640x360 triaged one after another against an empty archive and against each size (a
   warm-up clip first, not counted): the whole triage, the match step, and how long the archive
   lock was held, p50 / p95; the first open of the index in a fresh process; the search at
   each size compared with a numpy scan of every stored hash (identical or the bench fails).
2. The same per-clip work with the index before issue 16 (`archive_seed.legacy`: open =
   recount the store + load + checksum the arrays, search = rebuild the multi-index tables
   then search, rewrite = arrays saved and checksummed again), each part timed, in a child
   process whose peak RSS is read too; all of it ran under the archive lock.
3. Peak RSS of `osint-video triage CLIP` (a child process, os.wait4) at 10 M and empty.
4. PostgreSQL: clips per minute for 1, 2 and 4 workers (1 x 1, 2 x 1, 2 x 2 processes x
   concurrency) against an empty archive and a copy of the 10 M one, interleaved; the lock
   hold of clips processed in this process on the 10 M copy; one worker's resident set after
   1, 10, 25, 50, 75 and 100 jobs (its file-backed part is the shared, memory-mapped index).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))

from archive_seed import OUT, copy_home, fill, legacy, seeded_sqlite  # noqa: E402
from pgserver import PgServer, _runner, find_bindir  # noqa: E402
from synth import make_clips, make_cut_clip  # noqa: E402

from osint_video.config import load_config  # noqa: E402
from osint_video.matching import match as matching  # noqa: E402
from osint_video.matching.index import forget_open_indexes, open_index  # noqa: E402
from osint_video.matching.manifest import read_entries  # noqa: E402
from osint_video.matching.search import scan  # noqa: E402
from osint_video.pipeline import TriageRequest, intake, process_clip, triage  # noqa: E402
from osint_video.workspace import Workspace  # noqa: E402

RUNS = OUT / "runs"
WORKER = (
    "import sys\n"
    "from osint_video.config import load_config\n"
    "from osint_video.desk import worker as w\n"
    "cfg = load_config()\n"
    "w.run(cfg, w.options(cfg, int(sys.argv[1]), drain=True), lambda _l: None)\n"
)


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def ms(values: list[float]) -> str:
    return f"{1000 * pct(values, 50):.0f} / {1000 * pct(values, 95):.0f}"


# -- clips ---------------------------------------------------------------------------------------


def triage_clips(n: int) -> list[Path]:
    """n + 1 clips of 8 s 640x360 (200 frames at 25 fps, two shots), made once."""
    folder = OUT / "clips-8s"
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n + 1):
        path = folder / f"t{i:03d}.mp4"
        if not path.is_file():
            make_cut_clip(path, [30 + 7 * i], 200, size=(640, 360))
        out.append(path)
    return out


def desk_clips(n: int) -> list[Path]:
    folder = OUT / f"clips-1s-{n}"
    if not folder.is_dir():
        make_clips(folder, n)
    return sorted(folder.glob("c*.mp4"))


# -- 1. SQLite, in process -----------------------------------------------------------------------


def workspace(home: Path, url: str | None = None) -> Workspace:
    env = {**os.environ, "OSINT_VIDEO_OPERATOR": "bench"}
    if url:
        env["OSINT_VIDEO__WORKSPACE__DATABASE_URL"] = url
    return Workspace.open(load_config(home=home, environ=env))


def first_open(ws: Workspace) -> tuple[float, float]:
    """Seconds to open the index in a fresh process: first after a copy (checksums verified),
    then again (verified before: only mapped and caught up)."""
    times = []
    for _ in range(2):
        forget_open_indexes()
        began = time.perf_counter()
        open_index(ws)
        times.append(time.perf_counter() - began)
    return times[0], times[1]


def timed_triage(ws: Workspace, path: Path) -> dict[str, float]:
    marks: dict[str, float] = {}

    def progress(stage: str, _frac: float) -> None:
        marks.setdefault(stage, time.perf_counter())

    began = time.perf_counter()
    out = triage(ws, TriageRequest(path, case="bench"), progress)
    assert out.error is None, out.error
    ended = time.perf_counter()
    hold = matching.LOCK_HOLDS[-1][0]
    return {"triage": ended - began, "match": marks["report"] - marks["match"], "hold": hold}


def exact(ws: Workspace, clip_id: int) -> tuple[bool, float, float]:
    """One clip's queries: the index's answer against a numpy scan of every stored hash."""
    from osint_video.matching.match import _queries

    idx = open_index(ws)
    fps = matching.fingerprint_video(
        ws.evidence.path_for(ws.cases.record(clip_id).sha256),
        ws.cases.record(clip_id).media,  # type: ignore[arg-type]
        ws.config.matching,
    )
    q, _frames = _queries(fps)
    began = time.perf_counter()
    hits = idx.alive(idx.view().search(q, ws.config.matching.radius))
    ours = time.perf_counter() - began
    e = read_entries(ws)
    began = time.perf_counter()
    ref = scan(e.hashes, q, ws.config.matching.radius)
    scanned = time.perf_counter() - began
    a = sorted(
        zip(
            hits.query.tolist(),
            hits.clip.tolist(),
            hits.time.tolist(),
            hits.distance.tolist(),
            strict=True,
        )
    )  # noqa: E501
    b = sorted(
        zip(
            ref.query.tolist(),
            e.clips[ref.stored].tolist(),
            e.times[ref.stored].tolist(),
            ref.distance.tolist(),
            strict=True,
        )
    )  # noqa: E501
    return a == b, ours, scanned


def sqlite_runs(sizes: list[int], clips: list[Path]) -> list[dict[str, Any]]:
    """Triage `clips` (the first a warm-up) against an empty archive and each size, one clip
    at a time on each in turn (a shared machine's load moves: interleaving keeps it fair)."""
    runs: list[dict[str, Any]] = []
    for size in [0, *sizes]:
        if size:
            src, facts = seeded_sqlite(size)
            home = copy_home(src, RUNS / f"sqlite-{size}")
        else:
            facts, home = {}, copy_home(OUT / "none", RUNS / "sqlite-0", with_store=False)
        ws = workspace(home)
        opened = first_open(ws) if size else (0.0, 0.0)
        runs.append({"size": size, "ws": ws, "rows": [], "opened": opened, "facts": facts})
    forget_open_indexes()
    try:
        for i, path in enumerate(clips):
            for run in runs:
                t = timed_triage(run["ws"], path)
                if i:
                    run["rows"].append(t)
                say(f"  {run['size']:,} hashes, clip {i}: triage {t['triage']:.2f} s, match "
                    f"{t['match'] * 1000:.0f} ms, lock {t['hold'] * 1000:.0f} ms")  # fmt: skip
        for run in runs:
            ws = run.pop("ws")
            same, run["search_s"], run["scan_s"] = exact(ws, ws.cases.list_clips()[-1].id)
            if not same:
                raise SystemExit(f"{run['size']:,} hashes: the index differs from a numpy scan")
    finally:
        for run in runs:
            if "ws" in run:
                run.pop("ws").close()
        forget_open_indexes()
    return runs


# -- 2. the index before issue 16 ------------------------------------------------------------


def legacy_child(home: Path, paths: list[str]) -> None:
    """(In a child process.) The old per-clip work for each clip, timed; JSON on stdout."""
    from osint_video.matching.match import _queries, _save
    from osint_video.store.cases import Acquisition, NewEvent, utcnow

    old = legacy()
    ws = workspace(home)
    old.rebuild(ws)  # its arrays, once (not timed)
    out = []
    for p in paths:
        media = (
            __import__("osint_video.media.probe", fromlist=["x"])
            .probe_file(Path(p), "video", ws.config.probe)
            .media
        )
        fps = matching.fingerprint_video(Path(p), media, ws.config.matching)
        clip, _ = ws.cases.acquire(
            sha256=os.urandom(32).hex(), size_bytes=1, kind="video", filename=Path(p).name,
            evidence_path="evidence/x", acquisition=Acquisition("bench", utcnow(), "bench"),
            event=NewEvent("acquired", {}),
        )  # fmt: skip
        t0 = time.perf_counter()
        idx = old.open_index(ws)
        t1 = time.perf_counter()
        idx.search(_queries(fps)[0], ws.config.matching.radius)
        t2 = time.perf_counter()
        _save(ws, clip, fps, [], None, NewEvent("matched", {}))
        t3 = time.perf_counter()
        old.replace_clip(idx, clip, fps)
        t4 = time.perf_counter()
        out.append({"open": t1 - t0, "search": t2 - t1, "rows": t3 - t2, "rewrite": t4 - t3})
    ws.close()
    print(json.dumps(out))


# A child's peak RSS, from its own /proc/self/status at exit: os.wait4's ru_maxrss would
# report this (large) bench process's, which a forked child inherits as its high-water mark.
PEAK = (
    "import atexit, sys\n"
    "def _peak():\n"
    "    with open('/proc/self/status') as f:\n"
    "        keep = ('VmHWM', 'RssAnon', 'RssFile')\n"
    "        sys.stderr.write(''.join(x for x in f if x.startswith(keep)))\n"
    "atexit.register(_peak)\n"
)
CLI = PEAK + "from osint_video.cli import main\nsys.argv[0] = 'osint-video'\nmain()\n"


def peak_of(stderr: str) -> dict[str, float]:
    out = {}
    for line in stderr.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "RssAnon", "RssFile"):
            out[key] = int(value.split()[0]) / 1024
    return out


def child(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, dict, str]:
    """Wall seconds, peak RSS (MB: VmHWM, and at exit RssAnon / RssFile) and stdout."""
    began = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, env=env, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{argv[:4]} failed: {proc.stderr[-2000:]}")
    return time.perf_counter() - began, peak_of(proc.stderr), proc.stdout


def legacy_run(size: int, clips: list[Path]) -> dict[str, Any]:
    src, _facts = seeded_sqlite(size)
    home = copy_home(src, RUNS / f"legacy-{size}")
    home.joinpath("index").rename(home / "new-index")  # the old code has its own folder
    code = PEAK + f"sys.argv = {[__file__, '--legacy-child', str(home), *map(str, clips)]!r}\n"
    code += f"sys.path.insert(0, {str(REPO / 'bench')!r})\n"
    code += "import bench_archive_scale as b\nb.main()\n"
    argv = [sys.executable, "-c", code]
    _wall, rss, out = child(argv)
    rows = json.loads(out)
    return {"size": size, "rows": rows, "rss": rss}


# -- 3. a triage's peak RSS ------------------------------------------------------------------


def cli_triage_rss(size: int, clip: Path) -> tuple[float, dict]:
    if size:
        src, _ = seeded_sqlite(size)
        home = copy_home(src, RUNS / f"cli-{size}")
        ws = workspace(home)
        first_open(ws)  # verified once after the copy, as the first triage on a machine would
        ws.close()
        forget_open_indexes()
    else:
        home = copy_home(OUT / "none", RUNS / "cli-0", with_store=False)
    env = {**os.environ, "OSINT_VIDEO_OPERATOR": "bench", "PYTHONPATH": str(REPO)}
    env.pop("OSINT_VIDEO_DB", None)
    argv = [sys.executable, "-c", CLI, "--home", str(home), "triage", str(clip)]
    wall, rss, _out = child(argv, env)
    return wall, rss


# -- 4. PostgreSQL ---------------------------------------------------------------------------


class CachedPg(PgServer):
    """A server whose data directory is kept in bench/out (the seeded database survives)."""

    def __init__(self, bindir: Path, prefix: list[str]) -> None:
        super().__init__(bindir, prefix)
        shutil.rmtree(self.base, ignore_errors=True)
        self.base = OUT / "pg"
        self.datadir, self.log = self.base / "data", self.base / "log"
        if not self.datadir.is_dir():
            self.base.mkdir(parents=True, exist_ok=True)
            if prefix:
                shutil.chown(self.base, "postgres", "postgres")
            self.init()

    def cleanup(self) -> None:
        if (self.datadir / "postmaster.pid").is_file():
            self.stop()


def pg_seeded(server: CachedPg, size: int) -> tuple[str, Path]:
    """The seeded database (a template for each run) and its index folder (cached)."""
    from osint_video.matching.index import rebuild_files
    from osint_video.store import migrate

    name, home = f"seed_{size}", OUT / f"pg-home-{size}"
    if not (home / "seeded.json").is_file():
        server.drop_database(name)
        url = server.new_database(name)
        migrate.upgrade(url)
        began = time.perf_counter()
        fill(url, size)
        seeded = time.perf_counter() - began
        home.mkdir(parents=True, exist_ok=True)
        ws = workspace(home, url)
        began = time.perf_counter()
        rebuild_files(ws)
        built = time.perf_counter() - began
        ws.close()
        say(f"  PostgreSQL: seeded {size:,} hashes in {seeded:.1f} s, index {built:.1f} s")
        facts = {"seed_s": round(seeded, 1), "index_build_s": round(built, 1)}
        (home / "seeded.json").write_text(json.dumps(facts))
    return name, home


def pg_copy(server: CachedPg, seed: tuple[str, Path] | None, tag: str) -> tuple[str, Path]:
    """A fresh database (a copy of the seeded one, or empty at head) and its workspace."""
    from osint_video.store import migrate

    server.drop_database(tag)
    home = RUNS / tag
    if seed is None:
        url = server.new_database(tag)
        migrate.upgrade(url)
        copy_home(OUT / "none", home, with_store=False)
    else:
        server._admin(f'CREATE DATABASE "{tag}" TEMPLATE "{seed[0]}"')
        url = server.url_for(tag)
        copy_home(seed[1], home, with_store=False)
        ws = workspace(home, url)
        first_open(ws)  # verified once after the copy (not timed)
        ws.close()
        forget_open_indexes()
    return url, home


def queue(url: str, home: Path, clips: list[Path]) -> list[int]:
    from osint_video.desk import tasks

    ws = workspace(home, url)
    try:
        ids = [intake(ws, TriageRequest(c)).clip_id for c in clips]
        tasks.enqueue(ws, ids)
    finally:
        ws.close()
    return ids


def worker_env(home: Path, url: str) -> dict[str, str]:
    env = {**os.environ, "OSINT_VIDEO_HOME": str(home), "OSINT_VIDEO_DB": url}
    env |= {"OSINT_VIDEO_OPERATOR": "bench", "PYTHONPATH": str(REPO)}
    env.pop("OSINT_VIDEO_CONFIG", None)
    return env


def drain(home: Path, url: str, procs: int, conc: int) -> float:
    began = time.perf_counter()
    env = worker_env(home, url)
    running = [
        subprocess.Popen([sys.executable, "-c", WORKER, str(conc)], env=env) for _ in range(procs)
    ]
    for p in running:
        if p.wait() != 0:
            raise SystemExit(f"a worker failed (exit {p.returncode})")
    return time.perf_counter() - began


def throughput(server: CachedPg, seed: tuple[str, Path], clips: list[Path]) -> list[dict[str, Any]]:
    rows = []
    for procs, conc in ((1, 1), (2, 1), (2, 2)):
        for label, src in (("empty", None), ("10 M", seed)):
            tag = f"run_{procs}x{conc}_{label.replace(' ', '')}"
            url, home = pg_copy(server, src, tag)
            queue(url, home, clips)
            seconds = drain(home, url, procs, conc)
            rows.append({"workers": procs * conc, "layout": f"{procs} x {conc}",
                         "archive": label, "per_min": 60 * len(clips) / seconds})  # fmt: skip
            say(f"  {procs} x {conc}, {label}: {60 * len(clips) / seconds:.0f} clips/min")
            server.drop_database(tag)
    return rows


def pg_lock_holds(server: CachedPg, seed: tuple[str, Path], clips: list[Path]) -> list[float]:
    """Clips processed in this process on a copy of the 10 M database: lock hold times."""
    url, home = pg_copy(server, seed, "run_holds")
    ids = queue(url, home, clips)
    ws = workspace(home, url)
    try:
        holds = []
        for clip_id in ids:
            process_clip(ws, clip_id)
            holds.append(matching.LOCK_HOLDS[-1][0])
    finally:
        ws.close()
        forget_open_indexes()
        server.drop_database("run_holds")
    return holds[1:]


def rss_of(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
            fields[key] = int(value.split()[0]) // 1024
    return fields


def worker_rss(server: CachedPg, seed: tuple[str, Path], jobs: int) -> list[tuple[int, dict]]:
    """One worker (concurrency 1) through `jobs` clips: its resident set as jobs complete."""
    url, home = pg_copy(server, seed, "run_rss")
    first = min(queue(url, home, desk_clips(jobs)))
    proc = subprocess.Popen([sys.executable, "-c", WORKER, "1"], env=worker_env(home, url))
    marks, samples, last = [1, 10, 25, 50, 75, jobs], [], 0
    import psycopg

    from osint_video.desk.tasks import conninfo

    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        while proc.poll() is None and marks:
            done = conn.execute(
                "SELECT count(*) FROM clips WHERE status = 'processed' AND id >= %s", (first,)
            ).fetchone()
            n = int(done[0]) if done else 0
            if n >= marks[0] and n > last:
                with_rss = rss_of(proc.pid)
                samples.append((n, with_rss))
                last = n
                while marks and marks[0] <= n:
                    marks.pop(0)
            time.sleep(0.05)
    proc.wait()
    server.drop_database("run_rss")
    return samples


# -- report ------------------------------------------------------------------------------------


def report(sq: list[dict], old: list[dict], rss: dict, pg: dict) -> None:
    if sq:
        print_sqlite(sq)
    if old:
        print_legacy(old)
    if rss:
        print_rss(rss)
    if pg:
        print_pg(pg)


def print_sqlite(sq: list[dict]) -> None:
    base = next(r for r in sq if r["size"] == 0)
    t0 = pct([r["triage"] for r in base["rows"]], 50)
    print("\n## SQLite, one process: per clip (8 s 640x360), p50 / p95 in ms\n")
    print("| stored hashes | triage | x empty | match step | archive lock held | "
          "first open (verify) / again | search / numpy scan of all |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for r in sq:
        rows = r["rows"]
        tri = [x["triage"] for x in rows]
        print(
            f"| {r['size']:,} | {ms(tri)} | {pct(tri, 50) / t0:.2f} | "
            f"{ms([x['match'] for x in rows])} | {ms([x['hold'] for x in rows])} | "
            f"{r['opened'][0]:.2f} / {r['opened'][1]:.2f} s | "
            f"{r['search_s'] * 1000:.0f} ms / {r['scan_s']:.2f} s, identical |"
        )


def print_legacy(old: list[dict]) -> None:
    print("\n## The index before issue 16, same clips' work, medians in ms (all under the lock)\n")
    print("| stored hashes | open (recount, load, checksum) | search (tables rebuilt) | "
          "rows | rewrite | lock held | peak RSS |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for r in old:
        med = {k: 1000 * statistics.median(x[k] for x in r["rows"]) for k in r["rows"][0]}
        print(
            f"| {r['size']:,} | {med['open']:.0f} | {med['search']:.0f} | {med['rows']:.0f} | "
            f"{med['rewrite']:.0f} | {sum(med.values()):.0f} | {r['rss']['VmHWM']:.0f} MB |"
        )


def print_rss(rss: dict) -> None:
    if rss:
        print("\n## `osint-video triage CLIP` in a fresh process: wall, peak RSS\n")
        for size, (wall, peak) in sorted(rss.items()):
            anon, file = peak["RssAnon"], peak["RssFile"]
            print(f"- {size:,} hashes: {wall:.2f} s, peak {peak['VmHWM']:.0f} MB (at exit "
                  f"{anon:.0f} MB anonymous + {file:.0f} MB file-backed)")  # fmt: skip


def print_pg(pg: dict) -> None:
    print("\n## PostgreSQL workers: clips per minute (1 s clips)\n")
    print("| workers | processes x concurrency | empty archive | 10 M hashes | ratio |")
    print("|---|---|---|---|---|")
    rows = pg["throughput"]
    for w in sorted({r["workers"] for r in rows}):
        a = next(r for r in rows if r["workers"] == w and r["archive"] == "empty")
        b = next(r for r in rows if r["workers"] == w and r["archive"] != "empty")
        print(f"| {w} | {a['layout']} | {a['per_min']:.0f} | {b['per_min']:.0f} | "
              f"{b['per_min'] / a['per_min']:.2f} |")  # fmt: skip
    holds = pg["holds"]
    print(f"\nArchive lock held at 10 M on PostgreSQL (in process, {len(holds)} clips): "
          f"p50 / p95 / max {ms(holds)} / {1000 * max(holds):.0f} ms")  # fmt: skip
    print("\nOne worker's resident set (MB) after N jobs at 10 M: total (anonymous + file)\n")
    for n, f in pg["rss"]:
        print(f"- {n}: {f['VmRSS']} ({f['RssAnon']} + {f['RssFile']}), peak {f['VmHWM']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,1000000,10000000")
    ap.add_argument("--clips", type=int, default=20)
    ap.add_argument("--legacy-clips", type=int, default=3)
    ap.add_argument("--desk-clips", type=int, default=24)
    ap.add_argument("--jobs", type=int, default=100, help="jobs for the worker RSS (100)")
    ap.add_argument("--parts", default="sqlite,legacy,rss,pg", help="which parts to run")
    ap.add_argument("--quick", action="store_true", help="6 clips, 8 desk clips, 30 jobs")
    ap.add_argument("--legacy-child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.legacy_child:
        legacy_child(Path(args.legacy_child[0]), args.legacy_child[1:])
        return
    if args.quick:
        args.clips, args.desk_clips, args.jobs = 6, 8, 30
    sizes = [int(s) for s in args.sizes.split(",")]
    (OUT / "none").mkdir(parents=True, exist_ok=True)
    clips = triage_clips(args.clips)
    parts = set(args.parts.split(","))
    sq: list[dict[str, Any]] = []
    old: list[dict[str, Any]] = []
    rss: dict[int, Any] = {}
    pg: dict[str, Any] = {}
    if "sqlite" in parts:
        say("SQLite, in process ...")
        sq = sqlite_runs(sizes, clips)
    if "legacy" in parts:
        say("the index before issue 16 ...")
        old = [legacy_run(s, clips[1 : 1 + args.legacy_clips]) for s in sizes]
    if "rss" in parts:
        say("peak RSS of a triage ...")
        rss = {s: cli_triage_rss(s, clips[0]) for s in (0, max(sizes))}
    if "pg" in parts:
        pg = pg_part(max(sizes), args)
    shutil.rmtree(RUNS, ignore_errors=True)  # the seeded archives stay, the runs' copies go
    report(sq, old, rss, pg)
    print(f"\n(peak RSS of this bench process: "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB; load "
          f"{os.getloadavg()[0]:.1f})")  # fmt: skip


def pg_part(size: int, args: argparse.Namespace) -> dict[str, Any]:
    bindir, prefix = find_bindir(), _runner()
    if bindir is None or prefix is None:
        raise SystemExit("PostgreSQL server binaries are missing (Debian package postgresql)")
    server = CachedPg(bindir, prefix)
    server.start()
    try:
        say("PostgreSQL ...")
        seed = pg_seeded(server, size)
        clips = desk_clips(args.desk_clips)
        return {
            "throughput": throughput(server, seed, clips),
            "holds": pg_lock_holds(server, seed, triage_clips(args.clips)[: 1 + args.clips // 2]),
            "rss": worker_rss(server, seed, args.jobs),
        }
    finally:
        server.cleanup()


if __name__ == "__main__":
    main()

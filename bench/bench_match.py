"""Bench for "Seen before" matching: accuracy per re-upload transform, videohash side by side,
and the archive index at 10 M hashes. Run: `.venv/bin/python bench/bench_match.py [--quick]`.

Accuracy: each source (real clips from ../shared/media and a generated clip with cuts) is the
archive's original; each transformed copy is a query. Recall = copies matched to their source;
false matches = any other archive clip matched (unrelated pairs). Compilations: the source
inside a longer clip of other footage (query = compilation) and the reverse (archive holds the
compilation, query = the source). The peer, videohash, gives one 64-bit hash per video; a pair
matches at <= 10 bits.

Scale: 10,000,000 random 64-bit hashes plus a real clip's; one clip's query (60 frames x 4
views, radius 10); build time, memory, median query time, and a plain numpy scan for the ratio.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))

from osint_video.config import (  # noqa: E402
    MatchingConfig,
    ProbeConfig,  # noqa: E402
)
from osint_video.matching.fingerprints import QUERY_VIEWS, VIEWS  # noqa: E402
from osint_video.matching.index import fingerprint_entries  # noqa: E402
from osint_video.matching.match import (  # noqa: E402
    MemoryIndex,  # noqa: E402
    fingerprint_video,
)
from osint_video.matching.search import MultiIndex, scan  # noqa: E402
from osint_video.matching.segments import concat  # noqa: E402
from osint_video.media.probe import probe_file  # noqa: E402

MEDIA = REPO.parent / "shared" / "media"
OUT = REPO / "bench" / "out" / "match"
SOURCES = ["testvideo.mp4", "big_buck_bunny_0_30.webm", "cup.mp4", "with-gps.mov", "fire2.mp4"]
FILLERS = ["MVI_4823.AVI", "counter.mp4"]  # compilation filler: not in the archive's sources
X264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-an"]
TRANSFORMS = {
    "reencode_200k": [
        "-vf",
        "scale=trunc(iw/2)*2:trunc(ih/2)*2",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-b:v",
        "200k",
        "-pix_fmt",
        "yuv420p",
        "-an",
    ],
    "scale_360p": ["-vf", "scale=-2:360", *X264],
    "crop_10pct": ["-vf", "crop=trunc(iw*0.9/2)*2:trunc(ih*0.9/2)*2", *X264],
    "letterbox": ["-vf", "pad=iw:trunc(ih*1.4/2)*2:0:(oh-ih)/2", *X264],
    "pillarbox": ["-vf", "pad=trunc(iw*1.4/2)*2:ih:(ow-iw)/2:0", *X264],
    "watermark_caption": [
        "-vf",
        "drawbox=x=iw*0.04:y=ih*0.04:w=iw/4:h=ih/9:color=white@0.7:t=fill,"
        "drawbox=x=0:y=ih*0.82:w=iw:h=ih*0.12:color=black@0.75:t=fill,"
        "drawgrid=w=iw/12:h=ih/40:t=1:color=yellow@0.9:x=0:y=ih*0.85,"
        "crop=iw:ih",
        *X264,
    ],
    "hflip": ["-vf", "hflip", *X264],
    "hflip_crop8": ["-vf", "hflip,crop=trunc(iw*0.92/2)*2:trunc(ih*0.92/2)*2", *X264],
    "color_shift": ["-vf", "eq=brightness=0.08:contrast=1.25:saturation=1.5,hue=h=20", *X264],
    "fps_change": ["-vf", "fps=12", *X264],
    "trim_middle": None,  # built per source (needs the duration)
    "in_compilation": None,  # query = filler + source + filler
    "compilation_in_archive": None,  # archive = compilation, query = source
}


def ffmpeg(args: list[str]) -> None:
    proc = subprocess.run(["ffmpeg", "-v", "error", "-y", *args], capture_output=True, timeout=600)
    if proc.returncode:
        raise RuntimeError(proc.stderr.decode()[-600:])


def synth_source() -> Path:
    from synth import make_cut_clip

    path = OUT / "synth_cuts.mp4"
    if not path.exists():
        make_cut_clip(path, [50, 120, 190, 260], 330, size=(480, 270), noise=3)
    return path


def compilation(src: Path, dst: Path) -> None:
    inputs = [MEDIA / FILLERS[0], src, MEDIA / FILLERS[1]]
    scale = (
        "scale=640:360:force_original_aspect_ratio=decrease,pad=640:360:(ow-iw)/2:(oh-ih)/2,"
        "setsar=1,fps=25,format=yuv420p"
    )
    graph = (
        ";".join(f"[{i}:v]{scale}[v{i}]" for i in range(3)) + ";[v0][v1][v2]concat=n=3:v=1:a=0[o]"
    )
    ffmpeg(
        [
            *sum((["-i", str(p)] for p in inputs), []),
            "-filter_complex",
            graph,
            "-map",
            "[o]",
            *X264,
            str(dst),
        ]
    )


def make_variant(src: Path, name: str, duration: float) -> Path:
    dst = OUT / f"{src.stem}.{name}.mp4"
    if dst.exists():
        return dst
    if name == "trim_middle":
        ffmpeg(
            [
                "-ss",
                f"{duration * 0.3:.2f}",
                "-i",
                str(src),
                "-t",
                f"{max(duration * 0.45, 1.2):.2f}",
                *X264,
                str(dst),
            ]
        )
    elif name in ("in_compilation", "compilation_in_archive"):
        comp = OUT / f"{src.stem}.compilation.mp4"
        if not comp.exists():
            compilation(src, comp)
        return comp
    else:
        ffmpeg(["-i", str(src), *TRANSFORMS[name], str(dst)])  # type: ignore[misc]
    return dst


def fingerprints(path: Path, cfg: MatchingConfig) -> list:
    media = probe_file(path, "video", ProbeConfig()).media
    return fingerprint_video(path, media, cfg)


def videohash_of(path: Path) -> int | None:
    import PIL.Image

    PIL.Image.ANTIALIAS = PIL.Image.LANCZOS  # type: ignore[attr-defined]  (videohash needs it)
    from videohash import VideoHash

    try:
        return int(VideoHash(path=str(path)).hash_hex, 16)
    except Exception:  # noqa: BLE001 - the peer's failures are counted, not fatal
        return None


EXTRA_UNRELATED = ["uuid540.mp4", "xmp480qt.mov", "Sony_ILCE-7M3_A7M3.mts"]


@dataclass(frozen=True)
class Query:
    transform: str
    path: Path
    fingerprints: list
    truth: int
    exclude: int | None
    others: tuple[int, ...]


@dataclass
class Setup:
    index: MemoryIndex
    archive_paths: dict[int, Path]
    queries: list[Query]


def prepare(cfg: MatchingConfig) -> Setup:
    """Archive: sources (ids 0..), their compilations (100+), other real clips (200+)."""
    OUT.mkdir(parents=True, exist_ok=True)
    sources = [MEDIA / s for s in SOURCES] + [synth_source()]
    durations = [probe_file(s, "video", ProbeConfig()).media.duration_s or 4.0 for s in sources]
    paths: dict[int, Path] = dict(enumerate(sources))
    for i, (s, d) in enumerate(zip(sources, durations, strict=True)):
        paths[100 + i] = make_variant(s, "in_compilation", d)
    for j, name in enumerate(EXTRA_UNRELATED):
        paths[200 + j] = MEDIA / name
    archive_fp = {k: fingerprints(p, cfg) for k, p in paths.items()}
    entries = concat([fingerprint_entries(k, v) for k, v in archive_fp.items()])
    queries = []
    for name in TRANSFORMS:
        for i, (src, dur) in enumerate(zip(sources, durations, strict=True)):
            query = src if name == "compilation_in_archive" else make_variant(src, name, dur)
            truth = 100 + i if name == "compilation_in_archive" else i
            exclude = {"compilation_in_archive": i, "in_compilation": 100 + i}.get(name)
            # compilations share the filler footage: for a compilation query they are related
            others = tuple(
                k
                for k in paths
                if k not in (i, 100 + i) and (name != "in_compilation" or not 100 <= k < 200)
            )
            fp = archive_fp[i] if query == src else fingerprints(query, cfg)
            queries.append(Query(name, query, fp, truth, exclude, others))
    return Setup(MemoryIndex(entries), paths, queries)


def evaluate(setup: Setup, cfg: MatchingConfig) -> dict[str, dict]:
    rows: dict[str, dict] = {}
    for q in setup.queries:
        votes = {v.other_clip_id: v for v in setup.index.vote(q.fingerprints, cfg, q.exclude)}
        matched = set(votes)
        r = rows.setdefault(
            q.transform,
            {"pairs": 0, "hits": 0, "false": 0, "unrelated": 0, "coverage": [], "mirrored": 0},
        )
        r["mirrored"] += q.truth in votes and votes[q.truth].mirrored
        r["coverage"].append(votes[q.truth].coverage if q.truth in votes else 0.0)
        r["pairs"] += 1
        r["hits"] += q.truth in matched
        r["false"] += len(matched & set(q.others))
        r["unrelated"] += len(q.others)
    for r in rows.values():
        r["recall"] = r["hits"] / r["pairs"]
    return rows


def raw_scores(setup: Setup, cfg: MatchingConfig) -> tuple[list[tuple], list[tuple]]:
    """(agreeing frames, score) of the best offset cluster, true pairs and unrelated pairs."""
    loose = dataclasses.replace(cfg, min_frames=1, min_score=0.0, max_ranges=1)
    true, false = [], []
    for q in setup.queries:
        votes = {v.other_clip_id: v for v in setup.index.vote(q.fingerprints, loose, q.exclude)}
        t = votes.get(q.truth)
        true.append((t.clusters[0].agreeing, t.score) if t else (0, 0.0))
        false.extend(
            (votes[k].clusters[0].agreeing, votes[k].score) for k in q.others if k in votes
        )
    return true, false


def calibrate(setup: Setup, cfg: MatchingConfig) -> list[dict]:
    grid = []
    for radius in (8, 10, 12):
        for min_frames in (2, 3, 4):
            for min_score in (0.05, 0.1, 0.15, 0.2):
                c = dataclasses.replace(
                    cfg, radius=radius, min_frames=min_frames, min_score=min_score
                )
                rows = evaluate(setup, c)
                grid.append(
                    {
                        "radius": radius,
                        "min_frames": min_frames,
                        "min_score": min_score,
                        "min_recall": min(r["recall"] for r in rows.values()),
                        "false": sum(r["false"] for r in rows.values()),
                        "unrelated": sum(r["unrelated"] for r in rows.values()),
                    }
                )
    return grid


def videohash_table(setup: Setup) -> dict[str, dict]:
    cache_file = OUT / "videohash.json"
    cache = json.loads(cache_file.read_text()) if cache_file.exists() else {}

    def vh(path: Path) -> int | None:
        key = f"{path.name}:{path.stat().st_size}"
        if key not in cache:
            cache[key] = videohash_of(path)
            cache_file.write_text(json.dumps(cache))
        return cache[key]

    archive = {k: vh(p) for k, p in setup.archive_paths.items()}
    rows: dict[str, dict] = {}
    for q in setup.queries:
        r = rows.setdefault(q.transform, {"hits": 0, "false": 0, "failed": 0, "pairs": 0})
        r["pairs"] += 1
        h = vh(q.path)
        if h is None or archive[q.truth] is None:
            r["failed"] += 1
            continue
        r["hits"] += (h ^ archive[q.truth]).bit_count() <= 10
        r["false"] += sum(
            (h ^ archive[k]).bit_count() <= 10 for k in q.others if archive[k] is not None
        )
    for r in rows.values():
        r["recall"] = r["hits"] / r["pairs"]
    return rows


def scale(n_synthetic: int, real: np.ndarray, query: np.ndarray, repeats: int) -> dict:
    rng = np.random.default_rng(42)
    hashes = np.concatenate(
        [rng.integers(0, 2**64 - 1, n_synthetic, dtype=np.uint64, endpoint=True), real]
    )
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    mih = MultiIndex(hashes)
    build = time.perf_counter() - t0
    mih.search(query[:4], 10)  # warm (first use) outside the timing
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        hits = mih.search(query, 10)
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    ref = scan(hashes, query, 10)
    numpy_s = time.perf_counter() - t0
    same = sorted(zip(hits.query.tolist(), hits.stored.tolist(), strict=False)) == sorted(
        zip(ref.query.tolist(), ref.stored.tolist(), strict=False)
    )
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "hashes": len(hashes),
        "queries": len(query),
        "build_s": round(build, 2),
        "index_mb": round(mih.nbytes / 1e6),
        "peak_rss_mb": round(rss1 / 1024),
        "rss_growth_mb": round((rss1 - rss0) / 1024),
        "query_median_ms": round(statistics.median(times) * 1e3, 1),
        "numpy_scan_ms": round(numpy_s * 1e3, 1),
        "speedup_vs_numpy": round(numpy_s / statistics.median(times), 1),
        "hits": len(hits.query),
        "identical_to_scan": same,
    }


def print_accuracy(rows: dict, vh: dict | None) -> None:
    print(
        f"{'transform':24} {'recall':>7} {'false':>9} {'videohash recall':>17} {'vh false':>9}"
        f" {'coverage min-max':>17} {'said mirrored':>14}"
    )
    tf = tu = vf = 0
    for name, r in rows.items():
        tf, tu = tf + r["false"], tu + r["unrelated"]
        v = vh[name] if vh else None
        vf += v["false"] if v else 0
        print(
            f"{name:24} {r['recall']:7.2f} {r['false']:4}/{r['unrelated']:<4} "
            f"{'-' if v is None else format(v['recall'], '.2f'):>17} "
            f"{'-' if v is None else v['false']:>9}"
            f"      {min(r['coverage']):.2f} - {max(r['coverage']):.2f}"
            f" {r['mirrored']:>8}/{r['hits']:<5}"
        )
    print(f"false-match rate: ours {tf}/{tu} = {tf / tu:.4f}", end="")
    print(f"; videohash {vf}/{tu} = {vf / tu:.4f}" if vh else "")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="1 M hashes, no videohash, no grid")
    ap.add_argument("--no-videohash", action="store_true")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--no-sound", action="store_true", help="leave out the sound rows")
    args = ap.parse_args()
    cfg = MatchingConfig()
    t0 = time.perf_counter()
    setup = prepare(cfg)
    rows = evaluate(setup, cfg)
    vh = None if (args.quick or args.no_videohash) else videohash_table(setup)
    print(
        f"\naccuracy: {len(setup.queries)} queries against {len(setup.archive_paths)} archive "
        f"clips (radius {cfg.radius}, min_frames {cfg.min_frames}, min_score {cfg.min_score}), "
        f"{time.perf_counter() - t0:.0f} s"
    )
    print_accuracy(rows, vh)
    true, false = raw_scores(setup, cfg)
    print(
        f"best offset cluster, true pairs: min agreeing frames {min(f for f, _ in true)}, "
        f"min score {min(s for _, s in true):.3f}; unrelated pairs with any hit: {len(false)}, "
        f"max agreeing frames "
        f"{max((f for f, _ in false), default=0)}, max score "
        f"{max((s for _, s in false), default=0):.3f}"
    )
    grid = [] if args.quick else calibrate(setup, cfg)
    if grid:
        print("\ncalibration grid (worst per-transform recall, false matches):")
        for g in grid:
            print(
                f"  radius {g['radius']:2} min_frames {g['min_frames']} min_score "
                f"{g['min_score']:.2f}: recall {g['min_recall']:.2f}, false {g['false']}/"
                f"{g['unrelated']}"
            )
    real = np.concatenate(
        [fingerprint_entries(0, fingerprints(MEDIA / s, cfg)).hashes for s in SOURCES]
    )
    fp = fingerprints(MEDIA / SOURCES[0], cfg)
    inf = [f for f in fp if f.informative][:60]
    query = np.array([f.hashes[VIEWS.index(v)] for f in inf for v in QUERY_VIEWS], dtype=np.uint64)
    n = 1_000_000 if args.quick else 10_000_000
    sc = scale(n - len(real), real, query, 15)
    print(
        f"\nindex: {sc['hashes']:,} hashes, build {sc['build_s']} s, tables {sc['index_mb']} MB, "
        f"peak RSS {sc['peak_rss_mb']} MB; one clip's query ({sc['queries']} hashes, radius 10): "
        f"median {sc['query_median_ms']} ms; numpy scan {sc['numpy_scan_ms']} ms "
        f"(x{sc['speedup_vs_numpy']}); identical results: {sc['identical_to_scan']}"
    )
    if not args.no_sound:  # issue 17: picture only, sound only and both, per transform
        import bench_sound

        sound_setup = bench_sound.prepare(args.quick)
        print(
            f"\nby picture, by sound and both: {len(sound_setup['queries'])} queries against "
            f"{len(sound_setup['archive'])} archive clips (generated speech footage, Big Buck "
            "Bunny)"
        )
        bench_sound.print_rows(bench_sound.evaluate(sound_setup))
    print(f"bench_match: {time.perf_counter() - t0:.0f} s in total")
    if args.json:
        args.json.write_text(
            json.dumps({"accuracy": rows, "videohash": vh, "grid": grid, "scale": sc}, indent=1)
        )


if __name__ == "__main__":
    main()

"""Speed and accuracy bench: full decode vs PySceneDetect vs our keyframe step vs `triage`.

Usage: .venv/bin/python bench/bench_triage.py [--runs N] [--skip-shared]

Generates (once, cached in bench/out/) a 60 s 1080p30 H.264 High clip at 15 Mb/s with 12 hard
cuts, a fixed 60-frame GOP (keyframes never at a cut) and grain over everything, then runs each
contender as a child process, side by side in one run (absolute times on a shared machine mean
little; ratios to the full decode do). Each row: best wall time of N runs, ratio to the full
decode, cuts found within +-2 frames, false cuts, peak RSS of the child.
Then the same cut counts for the shared-media clips with known cuts.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out"
CLIP = OUT / "bench_1080p30_12cuts.mp4"
CUTS = [131, 277, 412, 569, 703, 845, 1001, 1139, 1283, 1427, 1553, 1691]
PY = sys.executable
SHARED = Path(os.environ.get("OSINT_VIDEO_SHARED_MEDIA", REPO.parent / "shared" / "media"))

SCENEDETECT = """
import json, sys
from scenedetect import open_video, SceneManager, ContentDetector
v = open_video(sys.argv[1], backend="pyav")
sm = SceneManager(); sm.add_detector(ContentDetector())
sm.auto_downscale = True
sm.detect_scenes(v)
print(json.dumps([s[0].get_frames() for s in sm.get_scene_list()[1:]]))
"""
OURS = """
import json, sys, tempfile
from pathlib import Path
from osint_video.config import load_config
from osint_video.keyframes.extract import extract_keyframes
from osint_video.models import MediaInfo
cfg = load_config(environ={}).keyframes
with tempfile.TemporaryDirectory() as d:
    r = extract_keyframes(Path(sys.argv[1]), MediaInfo(kind="video"), Path(d), cfg)
print(json.dumps([c.frame for c in r.cuts]))
print(json.dumps({"keyframes": len(r.keyframes)}), file=sys.stderr)
"""
# The floors of any design that decodes every GOP's reference chain: ffmpeg itself, each half
# of the clip on its own single-threaded decoder, both halves at once (the most 2 cores give).
# `noref`: I, P and reference B pictures (what frame-exact cuts on a B-pyramid stream need);
# `bidir` with no deblocking: I and P pictures only, inexact (the least any P-chain design does).
FLOOR = """
import subprocess, sys
clip, half, skip = sys.argv[1], sys.argv[2], sys.argv[3:]
base = ["ffmpeg", "-v", "error", "-threads", "1", *skip]
tail = ["-map", "0:v:0", "-f", "null", "-"]
procs = [
    subprocess.Popen([*base, "-t", half, "-i", clip, *tail]),
    subprocess.Popen([*base, "-ss", half, "-i", clip, *tail]),
]
sys.exit(max(p.wait() for p in procs))
"""


@dataclass
class Row:
    name: str
    wall_s: float
    rss_mb: float
    cuts: list[int] | None
    cpu_s: float = 0.0


def make_clip() -> Path:
    """The bench clip (cached): see the module docstring."""
    if CLIP.is_file():
        return CLIP
    sys.path.insert(0, str(REPO / "tests"))
    from synth import make_cut_clip

    OUT.mkdir(parents=True, exist_ok=True)
    print(f"generating {CLIP} (a minute or two, once)...", file=sys.stderr)
    tmp = CLIP.with_suffix(".tmp.mp4")
    make_cut_clip(
        tmp,
        CUTS,
        1800,
        fps=30,
        size=(1920, 1080),
        gop=60,
        noise=12,
        codec_args=(
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-b:v",
            "15M",
            "-maxrate",
            "15M",
            "-bufsize",
            "30M",
            "-pix_fmt",
            "yuv420p",
            "-profile:v",
            "high",
        ),
    )
    tmp.rename(CLIP)
    return CLIP


def timed(argv: list[str]) -> tuple[float, float, str, float]:
    """Wall seconds, peak RSS (MB) of the child (os.wait4), its stdout, its CPU seconds
    (user + system: steadier than wall time when other work shares the cores)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, cwd=REPO)
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            tail = err.read().decode(errors="replace")[-500:]
            raise RuntimeError(f"{argv[:3]} failed: {tail}")
        cpu = usage.ru_utime + usage.ru_stime
        return wall, usage.ru_maxrss / 1024, out.read().decode(), cpu


def contenders(clip: Path) -> dict[str, list[str]]:
    found = {
        "ffmpeg full decode": [
            "ffmpeg",
            "-v",
            "error",
            "-i",
            str(clip),
            "-map",
            "0:v:0",
            "-f",
            "null",
            "-",
        ],
        "ffmpeg keyframes only": [
            "ffmpeg",
            "-v",
            "error",
            "-skip_frame",
            "nokey",
            "-i",
            str(clip),
            "-map",
            "0:v:0",
            "-f",
            "null",
            "-",
        ],
        "floor: I/P/B-ref, 2 x 1 thread": [
            *[PY, "-c", FLOOR, str(clip), "30"],
            *["-skip_frame", "noref"],
        ],
        "floor: I/P no deblock, 2 x 1": [
            *[PY, "-c", FLOOR, str(clip), "30"],
            *["-skip_frame", "bidir", "-skip_loop_filter", "all"],
        ],
        "PySceneDetect detect-content": [PY, "-c", SCENEDETECT, str(clip)],
        "osint-video keyframes (ours)": [PY, "-c", OURS, str(clip)],
    }
    if not has_scenedetect():
        del found["PySceneDetect detect-content"]
    cli = shutil.which("osint-video", path=str(Path(PY).parent))
    if cli:
        triage = [cli, "--home", "{home}", "triage", str(clip), "--json"]
        found["osint-video triage --json"] = triage
        # the steps alone: archive matching (a later issue) adds its 4 fps samples
        off = "OSINT_VIDEO__MATCHING__ENABLED=false"
        found["osint-video triage, matching off"] = ["env", off, *triage]
        # on-screen text's share of triage (issue 14: at most 15 %)
        no_text = "OSINT_VIDEO__OCR__ENABLED=false"
        found["osint-video triage, text off"] = ["env", no_text, *triage]
    return found


@functools.cache
def has_scenedetect() -> bool:
    """PySceneDetect is installed for the bench by `make bench` only; without it, its rows are
    left out (the rest still compares)."""
    probe = subprocess.run([PY, "-c", "import scenedetect"], capture_output=True)
    if probe.returncode != 0:
        print("(scenedetect not installed: its rows are left out)", file=sys.stderr)
    return probe.returncode == 0


def run_one(name: str, argv: list[str]) -> Row:
    with tempfile.TemporaryDirectory() as home:
        argv = [a.replace("{home}", home) for a in argv]
        wall, rss, out, cpu = timed(argv)
    return Row(name, wall, rss, parse_cuts(name, out), cpu)


def parse_cuts(name: str, out: str) -> list[int] | None:
    if name.startswith(("ffmpeg", "floor")):
        return None
    if "triage" in name:
        report = json.loads(out.strip().splitlines()[-1])
        return [s["start_frame"] for s in report.get("shots", [])[1:]]
    return json.loads(out.strip().splitlines()[-1])


def score(found: list[int], truth: list[int], tol: int = 2) -> tuple[int, int]:
    """(true cuts found, false cuts), matching each true cut at most once within +-tol."""
    left = list(found)
    hits = 0
    for t in truth:
        match = next((f for f in left if abs(f - t) <= tol), None)
        if match is not None:
            left.remove(match)
            hits += 1
    return hits, len(left)


def bench_main(runs: int) -> None:
    clip = make_clip()
    best: dict[str, Row] = {}
    for _ in range(runs):  # interleaved, so load changes hit every contender alike
        for name, argv in contenders(clip).items():
            row = run_one(name, argv)
            if name not in best or row.wall_s < best[name].wall_s:
                best[name] = row
    base = best["ffmpeg full decode"].wall_s
    print(
        f"\n{clip.name}: 60 s 1080p30 H.264 15 Mb/s, GOP 60, grain, {len(CUTS)} hard cuts "
        f"(best of {runs})"
    )
    cpu_base = best["ffmpeg full decode"].cpu_s
    print(
        f"{'contender':32} {'wall s':>7} {'x full':>7} {'found':>6} {'false':>6} {'RSS MB':>7}"
        f" {'CPU s':>7} {'x full':>7}"
    )
    for row in best.values():
        hits, false = score(row.cuts, CUTS) if row.cuts is not None else ("-", "-")
        found = f"{hits}/{len(CUTS)}" if row.cuts is not None else "-"
        print(
            f"{row.name:32} {row.wall_s:7.2f} {row.wall_s / base:7.2f} {found:>6} {false!s:>6} "
            f"{row.rss_mb:7.0f} {row.cpu_s:7.2f} {row.cpu_s / cpu_base:7.2f}"
        )
    text_share(best)


def text_share(best: dict[str, Row]) -> None:
    """On-screen text's share of triage: triage with and without the text step."""
    on, off = best.get("osint-video triage --json"), best.get("osint-video triage, text off")
    if on is None or off is None:
        return
    wall = (on.wall_s - off.wall_s) / on.wall_s
    cpu = (on.cpu_s - off.cpu_s) / on.cpu_s
    print(f"on-screen text: {100 * wall:.1f} % of triage wall time, {100 * cpu:.1f} % of its CPU")


def shared_main() -> None:
    truth_file = SHARED / "truth.json"
    if not truth_file.is_file():
        print(f"\n(shared media not found at {SHARED}; skipped)")
        return
    truth = json.loads(truth_file.read_text())["files"]
    clips = {
        "testvideo.mp4": truth["testvideo.mp4"]["expected_cuts"]["ContentDetector.default"],
        "counter.mp4": truth["counter.mp4"]["expected_cuts"]["ContentDetector.default"],
        "big_buck_bunny_0_30.webm": truth["big_buck_bunny_0_30.webm"]["reference_cuts"][
            "verified_hard_cuts"
        ],
    }
    print(f"\n{'shared clip':28} {'truth':>5} {'PySceneDetect':>16} {'ours':>16}")
    codes = (SCENEDETECT, OURS) if has_scenedetect() else (OURS,)
    for name, cuts in clips.items():
        cells = [] if len(codes) == 2 else ["-"]
        for code in codes:
            _w, _r, out, _c = timed([PY, "-c", code, str(SHARED / name)])
            hits, false = score(json.loads(out.strip().splitlines()[-1]), cuts)
            cells.append(f"{hits}/{len(cuts)} found {false} false")
        print(f"{name:28} {len(cuts):5} {cells[0]:>16} {cells[1]:>16}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--skip-shared", action="store_true")
    args = ap.parse_args()
    bench_main(args.runs)
    if not args.skip_shared:
        shared_main()


if __name__ == "__main__":
    main()

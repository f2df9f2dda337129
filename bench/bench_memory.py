"""Memory bench: peak RSS of `osint-video triage` on a 1-hour 1080p30 clip (target: < 500 MB).

Usage: .venv/bin/python bench/bench_memory.py [--minutes N]

The clip (cached in bench/out/, git-ignored) is 180 shots of 20 s: three generated 1080p30
sources (testsrc2, mandelbrot, SMPTE bars with grain) encoded once with x264 ultrafast and
joined by the concat demuxer without re-encoding, so making an hour takes about a minute.
Triage runs as a child process with the default config (archive matching on); its peak RSS
comes from os.wait4, beside ffmpeg's full decode of the same clip in the same run.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_triage import OUT, PY, timed  # noqa: E402

SHOT_S = 20
SOURCES = (
    "testsrc2=size=1920x1080:rate=30",
    "mandelbrot=size=1920x1080:rate=30",
    "smptebars=size=1920x1080:rate=30,noise=alls=8:allf=t",
)
TARGET_MB = 500


def make_clip(minutes: int) -> Path:
    """`minutes` of 1080p30 in 20 s shots cycling through SOURCES (cached)."""
    clip = OUT / f"bench_1080p30_{minutes}min.mp4"
    if clip.is_file():
        return clip
    OUT.mkdir(parents=True, exist_ok=True)
    print(f"generating {clip.name} (once)...", file=sys.stderr)
    with tempfile.TemporaryDirectory(dir=OUT) as tmp:
        parts = []
        for i, src in enumerate(SOURCES):
            part = Path(tmp) / f"s{i}.mp4"
            subprocess.run(
                ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", src, "-t", str(SHOT_S),
                 "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                 "-g", "60", str(part)],
                check=True, timeout=600,
            )  # fmt: skip
            parts.append(part)
        shots = minutes * 60 // SHOT_S
        listing = Path(tmp) / "list.txt"
        listing.write_text("".join(f"file '{parts[k % len(parts)]}'\n" for k in range(shots)))
        tmp_clip = Path(tmp) / "clip.mp4"
        subprocess.run(
            ["ffmpeg", "-v", "error", "-f", "concat", "-safe", "0", "-i", str(listing),
             "-c", "copy", str(tmp_clip)],
            check=True, timeout=600,
        )  # fmt: skip
        shutil.move(tmp_clip, clip)
    return clip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=int, default=60)
    args = ap.parse_args()
    clip = make_clip(args.minutes)
    cli = shutil.which("osint-video", path=str(Path(PY).parent))
    if cli is None:
        sys.exit("osint-video is not installed in this venv (make setup)")
    rows = []
    wall, rss, _out, cpu = timed(["ffmpeg", "-v", "error", "-i", str(clip), "-map", "0:v:0",
                                  "-f", "null", "-"])  # fmt: skip
    rows.append(("ffmpeg full decode", wall, rss, cpu))
    with tempfile.TemporaryDirectory() as home:
        wall, rss, out, cpu = timed([cli, "--home", home, "triage", str(clip), "--json"])
    rows.append(("osint-video triage --json", wall, rss, cpu))
    print(f"\n{clip.name}: {args.minutes} min 1080p30, {args.minutes * 60 // SHOT_S} shots")
    print(f"{'contender':28} {'wall s':>8} {'peak RSS MB':>12} {'CPU s':>8}")
    for name, wall, rss, cpu in rows:
        print(f"{name:28} {wall:8.1f} {rss:12.0f} {cpu:8.1f}")
    verdict = "met" if rows[-1][2] < TARGET_MB else "NOT met"
    print(f"target: triage peak RSS < {TARGET_MB} MB: {verdict}")


if __name__ == "__main__":
    main()

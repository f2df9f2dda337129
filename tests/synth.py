"""Synthetic clips made with ffmpeg lavfi, with known answers (cut frames, flashes, metadata).

Each shot is a different lavfi source (or the same source moved/recoloured), concatenated, so a
cut at frame N means frame N is the first frame of the new shot. Tests and the bench share it.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

# Visually distinct sources; each is textured (so hashes are informative) and moves a little.
SOURCES = [
    "testsrc2=size={w}x{h}:rate={fps}",
    "mandelbrot=size={w}x{h}:rate={fps}",
    "life=size={w}x{h}:rate={fps}:mold=10:ratio=0.3:death_color=#3050a0:life_color=#f0d020",
    "cellauto=size={w}x{h}:rate={fps}:rule=110",
    "smptehdbars=size={w}x{h}:rate={fps}",
    "gradients=size={w}x{h}:rate={fps}:speed=0.05:n=5:seed=7",
    "rgbtestsrc=size={w}x{h}:rate={fps}",
    "testsrc=size={w}x{h}:rate={fps}",
]
# Filters that make one source look like several different shots.
VARIANTS = [
    "null",
    "hflip,hue=h=120",
    "negate",
    "vflip,hue=h=240",
    "edgedetect=mode=colormix",
    "rotate=PI/6:fillcolor=teal",
    "hue=s=0,eq=contrast=1.6",
    "colorchannelmixer=.3:.4:.3:0:.3:.4:.3:0:.3:.4:.3",
]


def run_tool(argv: Sequence[str]) -> None:
    """Run a media tool (ffmpeg, espeak-ng) for a fixture; its stderr's tail if it fails."""
    proc = subprocess.run(list(argv), capture_output=True, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed: {proc.stderr.decode(errors='replace')[-800:]}")


def make_cut_clip(
    path: Path,
    cuts: Sequence[int],
    total_frames: int,
    *,
    fps: int = 25,
    size: tuple[int, int] = (320, 240),
    codec_args: Sequence[str] = ("-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"),
    gop: int | None = None,
    flash_frames: Sequence[int] = (),
    metadata: dict[str, str] | None = None,
    noise: int = 0,
) -> Path:
    """A clip whose shot k starts at frame cuts[k-1] (0-based), each shot a different source.

    `flash_frames` are single frames turned white (a muzzle flash), which must not become cuts.
    `gop` fixes the keyframe interval (phone-style: keyframes not at cuts); `noise` adds grain.
    """
    w, h = size
    bounds = [0, *cuts, total_frames]
    parts, labels = [], []
    for i in range(len(bounds) - 1):
        n = bounds[i + 1] - bounds[i]
        src = SOURCES[i % len(SOURCES)].format(w=w, h=h, fps=fps)
        var = VARIANTS[(i // len(SOURCES)) % len(VARIANTS)]
        parts.append(
            f"{src},trim=start_frame={i * 7}:end_frame={i * 7 + n},setpts=PTS-STARTPTS,"
            f"{var},format=yuv420p,scale={w}:{h},setsar=1[s{i}]"
        )
        labels.append(f"[s{i}]")
    graph = ";".join(parts) + f";{''.join(labels)}concat=n={len(labels)}:v=1:a=0[cat]"
    post = []
    if flash_frames:
        expr = "+".join(f"eq(n\\,{f})" for f in flash_frames)
        post.append(f"drawbox=x=0:y=0:w=iw:h=ih:color=white@0.85:t=fill:enable='{expr}'")
    if noise:
        post.append(f"noise=alls={noise}:allf=t")
    graph += f";[cat]{','.join(post) or 'null'}[out]"
    argv = [
        "ffmpeg",
        "-y",
        "-v",
        "error",
        "-filter_complex",
        graph,
        "-map",
        "[out]",
        "-frames:v",
        str(total_frames),
        *codec_args,
    ]
    if gop:
        argv += ["-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0"]
    for k, v in (metadata or {}).items():
        argv += ["-metadata", f"{k}={v}"]
    argv.append(str(path))
    run_tool(argv)
    return path


def make_still(path: Path, size: tuple[int, int] = (640, 480)) -> Path:
    """A single textured image (format from the suffix)."""
    run_tool(
        [
            "ffmpeg",
            "-y",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size={size[0]}x{size[1]}",
            "-frames:v",
            "1",
            str(path),
        ]
    )
    return path


def make_clips(folder: Path, n: int) -> list[Path]:
    """`n` distinct 1 s clips (160x120, 10 fps) cut from one cellular-automaton video.

    One ffmpeg run: every second starts with a keyframe, the segment muxer copies each
    second into its own file, so clips differ in content at no extra cost. Archive matching
    may still link a few neighbours (measured: clip 12 of 16 matches clip 11).
    """
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
         "cellauto=s=160x120:rate=10:rule=30:seed=7:scroll=1,format=yuv420p",
         "-t", str(n), "-c:v", "libx264", "-preset", "ultrafast", "-g", "10",
         "-keyint_min", "10", "-sc_threshold", "0", "-f", "segment", "-segment_time", "1",
         "-reset_timestamps", "1", str(folder / "c%04d.mp4")],
        check=True, timeout=120,
    )  # fmt: skip
    clips = sorted(folder.glob("c*.mp4"))
    assert len(clips) == n
    return clips


def make_static_clip(path: Path) -> Path:
    """One unchanging view (bars and grain), 6 s at 25 fps in GOPs of 50: every GOP is still
    (the decode skips them, but for the last)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    run_tool(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
              "smptebars=size=320x240:rate=25:d=6", "-vf", "noise=alls=6:allf=t",
              "-c:v", "libx264", "-preset", "veryfast", "-g", "50", "-keyint_min", "50",
              "-sc_threshold", "0", "-pix_fmt", "yuv420p", str(path)])  # fmt: skip
    return path

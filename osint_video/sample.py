"""Make the demo's sample clip: four generated shots, a one-frame flash, phone-style metadata.

Used by `make demo` so a new user sees the whole pipeline on a clip with known answers
(cuts at frames 75, 150 and 240; a flash at frame 200 that is not a cut; a location near Sudzha).

`make_repost` then makes what a channel reposting it would post (mirrored, shrunk, re-encoded,
metadata gone), so the demo also shows the clip being recognised as seen before.

Usage: python -m osint_video.sample OUT.mp4
       python -m osint_video.sample --repost IN.mp4 OUT.mp4
"""

from __future__ import annotations

import sys
from pathlib import Path

from .media import ffmpeg
from .media.ffmpeg import Option

SHOTS = [
    ("testsrc2=size=640x360:rate=25", 75),
    ("mandelbrot=size=640x360:rate=25", 75),
    ("life=size=640x360:rate=25:mold=10:ratio=0.3:life_color=#d0c060", 90),
    ("testsrc2=size=640x360:rate=25,hflip,hue=h=120", 60),
]
FLASH_FRAME = 200
# Russian-language instructions flashed for one second inside the second shot (between its
# keyframes), and a channel's handle in a corner throughout: what on-screen text reading finds.
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
CAPTION = ("ВНИМАНИЕ! КОЛОННА НА ДОРОГЕ", 100, 125)  # text, first frame, last frame
HANDLE = "@sudzha_front"


def make_sample(out: Path) -> Path:
    """Write the sample clip to `out` (H.264 MP4 with creation time and ISO 6709 location)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    shots = [
        ffmpeg.lavfi(src)
        .filter("trim", end_frame=n)
        .filter("setpts", "PTS-STARTPTS")
        .filter("format", "yuv420p")
        for src, n in SHOTS
    ]
    video = (
        ffmpeg.concat(shots)
        .filter("drawbox", **_flash())
        .filter("drawtext", **_caption())
        .filter("drawtext", **_handle())
    )
    options: dict[str, Option] = {
        "c:v": "libx264",
        "preset": "veryfast",
        "g": 50,
        "sc_threshold": 0,
        "metadata:g:0": "creation_time=2024-08-14T09:12:30Z",
        "metadata:g:1": "location=+51.1930+035.2710/",
        "metadata:g:2": "title=Sample: generated test footage",
    }
    ffmpeg.run(ffmpeg.encode_argv(video, out, options), timeout=120)
    return out


def _flash() -> dict[str, Option]:
    """One white frame: a flash that is not a cut."""
    fill: dict[str, Option] = {
        "x": 0,
        "y": 0,
        "w": "iw",
        "h": "ih",
        "color": "white@0.9",
        "t": "fill",
    }
    return {**fill, "enable": f"eq(n,{FLASH_FRAME})"}


def _caption() -> dict[str, Option]:
    text, first, last = CAPTION
    font: dict[str, Option] = {"fontfile": FONT, "text": text, "fontcolor": "white", "fontsize": 24}
    box: dict[str, Option] = {"box": 1, "boxcolor": "black@0.5", "boxborderw": 8}
    where = {"x": "(w-tw)/2", "y": "h*0.72", "enable": f"between(n,{first},{last})"}
    return {**font, **box, **where}


def _handle() -> dict[str, Option]:
    style: dict[str, Option] = {"fontcolor": "white@0.85", "fontsize": 18, "x": "w-tw-14", "y": 12}
    return {"fontfile": FONT, "text": HANDLE, **style}


def make_repost(src: Path, out: Path) -> Path:
    """A repost of `src`: mirrored (a common trick against matching), 320x180 at 250 kb/s,
    without its metadata (as platforms strip it)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    options: dict[str, Option] = {"map_metadata": -1, "c:v": "libx264", "b:v": "250k"}
    argv = ffmpeg.reencode_argv(src, out, video_filter="scale=320:180,hflip", options=options)
    ffmpeg.run(argv, timeout=120)
    return out


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--repost":
        print(make_repost(Path(sys.argv[2]), Path(sys.argv[3])))
    elif len(sys.argv) == 2:
        print(make_sample(Path(sys.argv[1])))
    else:
        sys.exit(
            "usage: python -m osint_video.sample OUT.mp4\n"
            "       python -m osint_video.sample --repost IN.mp4 OUT.mp4"
        )

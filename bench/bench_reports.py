"""Report and verify speed: a 200-keyframe report to HTML and PDF; `verify --all` on 1,000 clips.

Usage: .venv/bin/python bench/bench_reports.py [--clips N] [--clip-kib K] [--runs R]

1. A synthetic clip with 200 keyframes (real PNG frames from ffmpeg's testsrc2, rows inserted
   in the case store, signed): time `render_html` (thumbnails inlined) and the PDF
   (WeasyPrint); targets < 2 s and < 10 s.
2. N small clips (one real ffmpeg clip, each copy made unique by a trailing counter), stored
   in the evidence store with their custody events: time `verify` on all of them against
   `sha256sum` of the same files in the same run (page cache warm for both), print MB/s.
Everything is generated under a temporary folder and removed afterwards.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from osint_video.config import load_config  # noqa: E402
from osint_video.custody.signing import init_keys  # noqa: E402
from osint_video.custody.verify import verify  # noqa: E402
from osint_video.report.pdf import html_to_pdf  # noqa: E402
from osint_video.report.provenance import build_report  # noqa: E402
from osint_video.report.render import render_html  # noqa: E402
from osint_video.report.validation import validate_report  # noqa: E402
from osint_video.store.cases import Acquisition, NewEvent, utcnow  # noqa: E402
from osint_video.store.evidence import sha256_file  # noqa: E402
from osint_video.workspace import Workspace  # noqa: E402


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True, timeout=300)


def add_clip(ws: Workspace, src: Path, name: str) -> tuple[int, str]:
    stored = ws.evidence.put(src)
    event = NewEvent("acquired", {"outputs": {"evidence": stored.relpath, "sha256": stored.sha256}})
    acq = Acquisition(operator="bench", at=utcnow(), case="bench", source_path=str(src))
    clip_id, _ = ws.cases.acquire(
        sha256=stored.sha256,
        size_bytes=stored.size_bytes,
        kind="video",
        filename=name,
        evidence_path=stored.relpath,
        acquisition=acq,
        event=event,
    )
    return clip_id, stored.sha256


def big_report(ws: Workspace, root: Path, n: int = 200) -> dict:
    """A clip with `n` keyframes: real frames on disk, rows in the store, like a long triage."""
    src = root / "long.mp4"
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=640x360:rate=10",
        "-t",
        str(n / 10),
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        str(src),
    )
    clip_id, sha = add_clip(ws, src, "long.mp4")
    kdir = ws.derived_dir(sha) / "keyframes"
    kdir.mkdir(parents=True)
    ffmpeg("-i", str(src), "-frames:v", str(n), str(kdir / "kf_%04d.png"))
    keyframes = [
        {
            "index": i,
            "shot": i // 10,
            "frame": i,
            "time_s": i / 10,
            "path": ws.rel(kdir / f"kf_{i + 1:04d}.png"),
            "phash": f"phash:64:{i:016x}",
            "dhash": f"dhash:64:{i * 7:016x}",
            "duplicate_of": None,
            "informative": True,
            "sharpness": 1.0,
        }
        for i in range(n)
    ]
    shots = [
        {"index": s, "start_frame": s * 10, "end_frame": s * 10 + 9, "start_s": s, "end_s": s + 0.9}
        for s in range(n // 10)
    ]
    ws.cases.save_results(
        clip_id,
        actor="bench",
        status="processed",
        fields={
            "media": {
                "duration_s": n / 10,
                "width": 640,
                "height": 360,
                "fps": 10.0,
                "codec": "h264",
                "frame_count": n,
            },
            "duration_s": n / 10,
        },
        shots=shots,
        keyframes=keyframes,
        events=[
            NewEvent(
                "keyframes_extracted",
                {"outputs": {p.name: sha256_file(p) for p in sorted(kdir.iterdir())}},
            )
        ],
    )
    from osint_video.custody.signing import load_private, signature_block

    key = load_private(ws.home / "keys")
    report = build_report(ws.cases.record(clip_id), signature_block(key) if key else None)
    validate_report(report)
    return report


def best(fn, runs: int) -> float:  # noqa: ANN001 - a thunk
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def bench_render(ws: Workspace, root: Path, runs: int) -> None:
    report = big_report(ws, root)
    html_s = best(lambda: render_html(report, ws.home), runs)
    html = render_html(report, ws.home, print_layout=True)
    (root / "big.html").write_text(html)
    if os.environ.get("BENCH_KEEP_HTML"):
        Path(os.environ["BENCH_KEEP_HTML"]).write_text(html)
    html_to_pdf("<p>warm up</p>", root / "warm.pdf")  # import and font discovery, once
    pdf_s = best(lambda: html_to_pdf(html, root / "r.pdf"), max(1, runs - 1))
    print(
        f"report, {len(report['keyframes'])} keyframes: HTML {html_s:.2f} s (target < 2), "
        f"PDF {pdf_s:.2f} s (target < 10), HTML {len(html) / 1e6:.1f} MB, "
        f"PDF {(root / 'r.pdf').stat().st_size / 1e6:.1f} MB"
    )


def bench_verify(ws: Workspace, root: Path, clips: int, kib: int) -> None:
    base = root / "small.mp4"
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=10",
        "-t",
        "20",
        "-c:v",
        "libx264",
        "-b:v",
        f"{kib * 8 * 1024 // 20 // 1000}k",
        "-pix_fmt",
        "yuv420p",
        str(base),
    )
    data = base.read_bytes()
    t = time.perf_counter()
    tmp = root / "in.mp4"
    for i in range(clips):
        tmp.write_bytes(data + i.to_bytes(4, "big"))
        add_clip(ws, tmp, f"clip{i}.mp4")
    print(
        f"setup: {clips} clips of {len(data) / 1024:.0f} KiB stored in "
        f"{time.perf_counter() - t:.1f} s"
    )
    ids = [c.id for c in ws.cases.list_clips(case="bench")]
    files = [str(p) for p in (ws.home / "evidence").rglob("*") if p.is_file()]
    size = sum(os.path.getsize(f) for f in files)
    verify(ws, ids)  # warm the page cache for both contenders
    ours = verify(ws, ids)
    assert ours.ok, [c.messages()[:3] for c in ours.clips if not c.ok][:3]
    t = time.perf_counter()
    subprocess.run(
        ["xargs", "-0", "sha256sum"],
        input="\0".join(files).encode(),
        stdout=subprocess.DEVNULL,
        check=True,
    )
    ref = time.perf_counter() - t
    mb = size / 1e6
    print(
        f"verify --all, {len(ids)} clips, {mb:.0f} MB: {ours.seconds:.2f} s "
        f"({ours.bytes_hashed / 1e6 / ours.seconds:.0f} MB/s incl. chain checks); "
        f"sha256sum {ref:.2f} s ({mb / ref:.0f} MB/s); ratio {ours.seconds / ref:.2f}x"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=1000)
    ap.add_argument("--clip-kib", type=int, default=256)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-reports-") as tmp:
        root = Path(tmp)
        ws = Workspace.open(load_config(home=root / "ws"))
        try:
            init_keys(ws.home / "keys")
            bench_render(ws, root, args.runs)
            bench_verify(ws, root, args.clips, args.clip_kib)
        finally:
            ws.close()


if __name__ == "__main__":
    main()

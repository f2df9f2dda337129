"""Label Studio push/pull speed: 1,000 keyframes pushed to a local server, 1,000 annotations pulled.

Usage: .venv/bin/python bench/bench_labelstudio.py [--keyframes N] [--clips C] [--upload]

A real Label Studio (the test harness's template, tests/lsserver.py: set
OSINT_VIDEO_LS_TEMPLATE=DIR to keep the 30-60 s `label-studio init` between runs) is started on
a free port. A workspace under its Local Files root gets C clips with N keyframes in all (small
unique PNGs, rows inserted through the case store, as triage would leave them). Timed:

1. `annotate push` of every keyframe plus one verdict task per clip (OCR off: tesseract's cost
   is per frame and measured by the OCR tests; Local Files, or --upload for multipart upload);
2. a second push (nothing new: the idempotence check costs one query);
3. `annotate pull` of N annotations (one per keyframe task, created beforehand through the API
   by 4 threads, not timed) plus two verdicts per clip, with validation and verdicts.

Targets: push < 30 s, pull < 10 s on 2 cores. Everything is removed afterwards.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

import lsserver  # noqa: E402
from PIL import Image  # noqa: E402

from osint_video.annotate.client import Client  # noqa: E402
from osint_video.annotate.pull import pull  # noqa: E402
from osint_video.annotate.push import push  # noqa: E402
from osint_video.config import load_config  # noqa: E402
from osint_video.labelstudio import process  # noqa: E402
from osint_video.labelstudio.server import Connection  # noqa: E402
from osint_video.store import annotations as db  # noqa: E402
from osint_video.store.cases import Acquisition, NewEvent, utcnow  # noqa: E402
from osint_video.workspace import Workspace  # noqa: E402

FRAME = [{"from_name": "flags", "to_name": "image", "type": "choices",
          "value": {"choices": ["graphic"]}}]  # fmt: skip
VERDICT = [
    {"from_name": "verdict", "to_name": "contact_sheet", "type": "choices",
     "value": {"choices": ["authentic"]}},
    {"from_name": "confidence", "to_name": "contact_sheet", "type": "rating",
     "value": {"rating": 4}},
]  # fmt: skip


def png(path: Path, seed: int) -> None:
    rnd = random.Random(seed)
    img = Image.new("RGB", (96, 54), (rnd.randrange(256), rnd.randrange(256), 0))
    for _ in range(20):
        x, y = rnd.randrange(96), rnd.randrange(54)
        img.putpixel((x, y), (255, 255, rnd.randrange(256)))
    img.save(path, optimize=False)


def add_clip(ws: Workspace, root: Path, n: int, k: int, base: int) -> int:
    """One clip with `k` keyframe rows and files, as triage leaves it (status processed)."""
    src = root / f"clip{n}.bin"
    src.write_bytes(os.urandom(2048))
    stored = ws.evidence.put(src)
    acq = Acquisition(operator="bench", at=utcnow(), case="bench", source_url="https://t.me/x/1")
    clip_id, _ = ws.cases.acquire(
        sha256=stored.sha256,
        size_bytes=stored.size_bytes,
        kind="video",
        filename=src.name,
        evidence_path=stored.relpath,
        acquisition=acq,
        event=NewEvent("acquired", {"sha256": stored.sha256}),
    )
    out = ws.derived_dir(stored.sha256)
    (out / "keyframes").mkdir(parents=True)
    frames = []
    for i in range(k):
        path = out / "keyframes" / f"kf_{i:04d}.png"
        png(path, base + i)
        frames.append(
            {"index": i, "shot": 0, "frame": i * 10, "time_s": i * 0.4, "path": ws.rel(path),
             "phash": f"phash:64:{base + i:016x}", "dhash": None, "duplicate_of": None,
             "informative": True, "sharpness": 1.0}
        )  # fmt: skip
    png(out / "contact_sheet.png", base - 1)
    ws.cases.save_results(
        clip_id,
        actor="bench",
        status="processed",
        fields={"derived": {"contact_sheet": ws.rel(out / "contact_sheet.png")}},
        shots=[{"index": 0, "start_frame": 0, "end_frame": k * 10, "start_s": 0.0,
                "end_s": k * 0.4}],
        keyframes=frames,
        events=[],
    )  # fmt: skip
    return clip_id


def annotate_all(server: lsserver.LsServer, ws: Workspace, client: Client) -> int:
    """One annotation per keyframe task, two verdicts per clip task (not timed)."""
    second = server.make_user("second@bench.test")
    admin = int(client.whoami().id)
    jobs = []
    for kind in ("keyframe", "clip"):
        ref = db.get_project(ws.cases, client.url, "bench", kind)
        assert ref is not None
        for task in db.task_index(ws.cases, ref.row):
            if kind == "keyframe":
                jobs.append((task, FRAME, admin))
            else:
                jobs += [(task, VERDICT, admin), (task, VERDICT, second)]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda j: client.create_annotation(*j), jobs))
    return len(jobs)


def upload_push(conn: Connection, home: Path, dest: Path) -> tuple[int, float]:
    """The same keyframes pushed the way a desk's own server gets them (upload, not Local
    Files), from a copy of the workspace made before any push, into projects of its own."""
    shutil.copytree(home, dest)
    environ = {"OSINT_VIDEO__OCR__ENABLED": "false", "OSINT_VIDEO__ANNOTATE__PROJECT_PREFIX": "up"}
    ws = Workspace.open(load_config(home=dest, environ=environ))
    remote = Connection(conn.url, conn.api_key, local=False, files_root=None)
    t = time.perf_counter()
    s = push(ws, Client(remote), remote)
    took = time.perf_counter() - t
    ws.close()
    return sum(p.sent for p in s.projects), took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keyframes", type=int, default=1000)
    ap.add_argument("--clips", type=int, default=10)
    ap.add_argument("--upload", action="store_true", help="upload images instead of Local Files")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-ls-"))
    kept = os.environ.get("OSINT_VIDEO_LS_TEMPLATE", "")
    template = Path(kept) if kept else tmp / "template"
    if not lsserver._template_ready(template):
        t = time.perf_counter()
        lsserver._build_template(template)
        print(f"label-studio init (template, once): {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    server = lsserver.start_server(template, tmp / "ls")
    print(f"server up in {time.perf_counter() - t:.1f} s at {server.url}")
    try:
        home = server.files_root / "ws"
        cfg = load_config(home=home, environ={"OSINT_VIDEO__OCR__ENABLED": "false"})
        ws = Workspace.open(cfg)
        per = args.keyframes // args.clips
        for c in range(args.clips):
            add_clip(ws, tmp, c, per, 10_000 * (c + 1))
        conn = server.connection
        if not args.upload:  # a desk's server first, on a copy: images by multipart upload
            sent, took = upload_push(conn, home, tmp / "ws-upload")
            print(f"push by upload (a desk's server): {sent} tasks in {took:.2f} s")
        if args.upload:
            conn = Connection(conn.url, conn.api_key, local=False, files_root=None)
        client = Client(conn)
        t = time.perf_counter()
        s = push(ws, client, conn)
        push_s = time.perf_counter() - t
        sent = sum(p.sent for p in s.projects)
        print(f"push: {sent} tasks ({per * args.clips} keyframes + {args.clips} verdict tasks, "
              f"images by {s.images}) in {push_s:.2f} s  [target < 30 s]")  # fmt: skip
        t = time.perf_counter()
        again = push(ws, client, conn)
        print(f"push again: {sum(p.sent for p in again.projects)} sent, "
              f"{sum(p.already for p in again.projects)} already there, "
              f"{time.perf_counter() - t:.2f} s")  # fmt: skip
        t = time.perf_counter()
        made = annotate_all(server, ws, client)
        print(f"(setup) {made} annotations created through the API in "
              f"{time.perf_counter() - t:.1f} s")  # fmt: skip
        t = time.perf_counter()
        p = pull(ws, client)
        pull_s = time.perf_counter() - t
        print(f"pull: {p.added} annotations stored, {len(p.verdicts)} verdicts, "
              f"{len(p.status_changes)} status changes in {pull_s:.2f} s"
              "  [target < 10 s]")  # fmt: skip
        ref = db.get_project(ws.cases, client.url, "bench", "keyframe")
        t = time.perf_counter()
        n = len(client.export(ref.project_id)) if ref else 0
        print(f"  of which the server's export of {n} tasks alone: "
              f"{time.perf_counter() - t:.2f} s")  # fmt: skip
        t = time.perf_counter()
        p2 = pull(ws, client)
        print(f"pull again: {p2.unchanged} unchanged in {time.perf_counter() - t:.2f} s")
        ws.close()
        ok = push_s < 30 and pull_s < 10
        print("targets met" if ok else "TARGET MISSED")
    finally:
        process.terminate(server.pid)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

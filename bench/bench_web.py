"""Bench for the web desk: board and clip page server time on a store of 10,000 clips, and 50
concurrent sessions reading the board for 30 s.

Run: `.venv/bin/python bench/bench_web.py [--clips N] [--seconds S] [--sessions K]`.

The store is filled directly (SQLAlchemy rows, no media: the pages read the store, not the
files): N clips with an acquisition, 8 keyframes and 4 anomalies each, spread over 20 cases
and 5 statuses, 2,000 copy links (each a `matches` row, so the board groups them), and one clip
matched by 20 others (its page shows 20 pairs of players). Server time is measured in this
process through the ASGI app (Starlette's TestClient: routing, session check, queries,
template), 60 requests after 5 warm-ups; the load run starts `osint-video serve` as its own
process on 127.0.0.1 and reads `/` from K threads, one logged-in session each, bounded in
time, and counts errors.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

import httpx  # noqa: E402
from webdesk import PASSWORDS, free_port, login  # noqa: E402

from osint_video.config import load_config  # noqa: E402
from osint_video.store.schema import (  # noqa: E402
    AcquisitionRow,
    ClipRow,
    KeyframeRow,
    MatchRow,
)
from osint_video.web.users import add_user  # noqa: E402
from osint_video.workspace import Workspace  # noqa: E402

STATUSES = ("processed", "processed", "in_review", "verified", "failed", "queued")
ANOMALIES = [
    {"code": "no_metadata", "message": "no metadata", "severity": "warning"},
    {"code": "reencoded", "message": "re-encoded", "severity": "warning"},
    {"code": "future_date", "message": "in the future", "severity": "critical"},
    {"code": "c2pa_present", "message": "signed", "severity": "info"},
]


def fill(home: Path, n: int) -> None:
    cfg = load_config(home=home)
    ws = Workspace.open(cfg)
    rng = random.Random(7)
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    with ws.cases.session() as ses:
        for i in range(1, n + 1):
            at = t0 + timedelta(minutes=i)
            sha = f"{i:064x}"
            ses.add(
                ClipRow(
                    id=i, sha256=sha, size_bytes=1_000_000, kind="video",
                    filename=f"clip_{i}.mp4", evidence_path=f"evidence/{sha}",
                    status=STATUSES[i % len(STATUSES)], created_at=at, updated_at=at,
                    anomalies=ANOMALIES, duration_s=12.0, priority=i % 4,
                    assignee=f"annotator-{i % 7}" if i % 3 else None,
                    onscreen_search=f"колонна на дороге {i}" if i % 10 == 0 else None,
                    derived={"stripped_copy": f"derived/{sha}/stripped.mp4"},
                )
            )  # fmt: skip
            ses.add(
                AcquisitionRow(
                    clip_id=i, at=at, operator="bench", case=f"case-{i % 20}",
                    source_url=f"https://example.org/c/{i}", note=f"note {i}",
                )
            )  # fmt: skip
            for k in range(8):
                ses.add(
                    KeyframeRow(
                        clip_id=i, index=k, shot=k, frame=k * 25, time_s=k * 1.0,
                        path=f"derived/{sha}/keyframes/{k}.png", phash=None, dhash=None,
                        duplicate_of=None, informative=True, sharpness=1.0,
                    )
                )  # fmt: skip
        ses.flush()
        pairs = set()
        while len(pairs) < 2000:
            a, b = rng.randrange(1, n + 1), rng.randrange(1, n + 1)
            if a > b:
                pairs.add((a, b))
        pairs |= {(n - j, 1) for j in range(20)}  # clip 1 is matched by 20 later clips
        for a, b in pairs:
            entry = {"clip_id": b, "filename": f"clip_{b}.mp4", "case": "case-1",
                     "source_url": None, "score": 0.5, "mirrored": a % 2 == 0,
                     "ranges": [{"this_start_s": 1.0, "this_end_s": 9.0,
                                 "other_start_s": 3.0, "other_end_s": 11.0}]}  # fmt: skip
            ses.add(MatchRow(clip_id=a, other_clip_id=b, score=0.5, details=entry))
        for j in range(20):  # clip 2 matched 20 earlier clips (its own matches)
            b = 100 + j
            entry = {"clip_id": b, "filename": f"clip_{b}.mp4", "case": "case-1",
                     "source_url": None, "score": 0.5, "mirrored": False,
                     "ranges": [{"this_start_s": 1.0, "this_end_s": 9.0,
                                 "other_start_s": 3.0, "other_end_s": 11.0}]}  # fmt: skip
            if (2, b) not in pairs:
                ses.add(MatchRow(clip_id=2, other_clip_id=b, score=0.5, details=entry))
    for name, pw in PASSWORDS.items():
        add_user(ws.cases, name, "editor", pw)
    ws.close()


def timed(client, path: str, runs: int = 60) -> tuple[float, float]:  # noqa: ANN001
    for _ in range(5):
        assert client.get(path).status_code == 200
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        r = client.get(path)
        times.append((time.perf_counter() - t) * 1000)
        assert r.status_code == 200, r.status_code
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


def server_times(home: Path) -> None:
    import re

    from starlette.testclient import TestClient

    from osint_video.web.app import create_app

    with TestClient(create_app(load_config(home=home)), base_url="http://127.0.0.1") as c:
        form = c.get("/login").text
        token = re.search(r'name="csrf" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
        c.post("/login", data={"csrf": token, "name": "ed", "password": PASSWORDS["ed"]})
        rows = [
            ("board, first page", "/"),
            ("board, text filter (Cyrillic)", "/?q=колонна"),
            ("board, case + status filter", "/?case=case-3&status=processed"),
            ("board, page 50", "/?page=50"),
            ("board, live state poll", "/board/state"),
            ("clip page, 20 matches", "/clips/2"),
            ("clip page, 20 seen later", "/clips/1"),
        ]
        print("| request | median ms | p95 ms |")
        print("|---|---|---|")
        for name, path in rows:
            med, p95 = timed(c, path)
            print(f"| {name} | {med:.1f} | {p95:.1f} |")


def load(home: Path, seconds: float, sessions: int) -> None:
    port = free_port()
    env = {**os.environ, "OSINT_VIDEO_HOME": str(home), "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "osint_video.cli", "serve", "--port", str(port)],
        env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(base + "/login", timeout=2)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        clients = [login(base, "ed") for _ in range(sessions)]
        counts = {"ok": 0, "error": 0}
        times: list[float] = []
        lock = threading.Lock()
        stop = time.monotonic() + seconds

        def reader(c: httpx.Client) -> None:
            while time.monotonic() < stop:
                t = time.perf_counter()
                try:
                    ok = c.get("/").status_code == 200
                except httpx.HTTPError:
                    ok = False
                with lock:
                    counts["ok" if ok else "error"] += 1
                    times.append((time.perf_counter() - t) * 1000)

        threads = [threading.Thread(target=reader, args=(c,)) for c in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join(seconds + 120)
        times.sort()
        print(
            f"\n{sessions} sessions x {seconds:g} s on 127.0.0.1: {counts['ok']} board pages, "
            f"{counts['error']} errors, {counts['ok'] / seconds:.1f} pages/s, latency median "
            f"{statistics.median(times):.0f} ms, p95 {times[int(len(times) * 0.95) - 1]:.0f} ms"
        )
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=10_000)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--sessions", type=int, default=50)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp:
        home = Path(tmp) / "ws"
        t = time.perf_counter()
        fill(home, args.clips)
        print(f"store: {args.clips} clips filled in {time.perf_counter() - t:.1f} s (SQLite)\n")
        server_times(home)
        load(home, args.seconds, args.sessions)


if __name__ == "__main__":
    main()

"""A shared desk end to end, as its users run it: real CLI processes on a real PostgreSQL.

An editor runs `db upgrade`, queues a folder and a URL (yt-dlp against a local HTTP server),
a worker drains the queue, an editor assigns and moves a clip; every step is read back from
`queue list --json`, the report and the custody log, the way a second machine would see it.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from synth import make_cut_clip

CLI = [sys.executable, "-m", "osint_video.cli"]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        pass


@pytest.fixture
def www(tmp_path: Path) -> Iterator[str]:
    root = tmp_path / "www"
    root.mkdir()
    make_cut_clip(root / "ka52.mp4", [10], 25, size=(160, 120))
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root))
    )
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _run(env: dict[str, str], *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    res = subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=300)
    if ok:
        assert res.returncode == 0, res.stderr
    return res


def test_queue_url_and_folder_then_a_worker_drains_them(
    pg_url: str, www: str, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "OSINT_VIDEO_DB": pg_url,
        "OSINT_VIDEO_HOME": str(tmp_path / "shared"),
        "OSINT_VIDEO_OPERATOR": "editor-1",
        "OSINT_VIDEO_STALLED_AFTER_S": "5",
        "OSINT_VIDEO__QUEUE__ALLOW_NETWORKS": "127.0.0.1/32",  # the test's own web server
    }
    env.pop("OSINT_VIDEO_CONFIG", None)
    # Before the schema exists a desk is told what to run, in one line.
    refused = _run(env, "queue", "list", ok=False)
    assert refused.returncode != 0 and "db upgrade" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert json.loads(_run(env, "db", "upgrade", "--json").stdout)["applied"]

    folder = tmp_path / "incoming"
    folder.mkdir()
    make_cut_clip(folder / "a.mp4", [8], 25, size=(160, 120))
    make_cut_clip(folder / "b.mp4", [6, 14], 25, size=(160, 120))
    _run(env, "queue", "add", str(folder), "--case", "kursk", "--priority", "high")
    _run(env, "queue", "add", f"{www}/ka52.mp4", "--case", "kursk", "--note", "reposted")
    queued = json.loads(_run(env, "queue", "list", "--json").stdout)
    assert sorted(c["status"] for c in queued) == ["queued"] * 3

    _run({**env, "OSINT_VIDEO_OPERATOR": "worker-1"}, "worker", "--drain")
    clips = {c["filename"]: c for c in json.loads(_run(env, "queue", "list", "--json").stdout)}
    assert {c["status"] for c in clips.values()} == {"processed"}, clips
    assert clips["a.mp4"]["priority"] == "high"

    url_clip = clips["ka52.mp4"]
    _run(env, "queue", "assign", str(url_clip["id"]), "annotator-7")
    _run(env, "queue", "status", str(url_clip["id"]), "in_review", "--note", "to the desk")
    forbidden = _run(env, "queue", "status", str(url_clip["id"]), "queued", ok=False)
    assert forbidden.returncode != 0 and len(forbidden.stderr.strip().splitlines()) == 1

    report = json.loads(_run(env, "report", str(url_clip["id"]), "--format", "json").stdout)
    assert report["source"]["url"] == f"{www}/ka52.mp4"
    assert report["source"]["platform"] and report["source"]["platform_id"] == "ka52"
    moves = [
        (e["actor"], e["details"]["from"], e["details"]["to"])
        for e in report["custody"]
        if e["action"] == "status_changed"
    ]
    assert moves == [
        ("worker-1", "queued", "processing"),
        ("worker-1", "processing", "processed"),
        ("editor-1", "processed", "in_review"),
    ]
    actions = [e["action"] for e in report["custody"]]
    assert actions.count("keyframes_extracted") == 1 and "downloaded" in actions
    verified = json.loads(_run(env, "verify", "--all", "--json").stdout)
    assert verified["ok"], verified

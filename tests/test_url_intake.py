"""URL intake with the real yt-dlp against real HTTP servers on 127.0.0.1 (no network, no mocks).

A threading http.server serves a generated mp4, an HTML page without video and a junk ".mp4";
another socket accepts connections and never answers (the timeout); a third trickles a video's
bytes, each in time for the socket timeout, never in time for the whole download's deadline.
Also: `queue add` of local files, and an original that vanishes after queueing (the evidence
copy is what gets processed).
"""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yt_dlp.version
from synth import make_cut_clip

from osint_video.config import load_config
from osint_video.desk import queue as desk
from osint_video.desk.intake import DownloadFailed, download
from osint_video.errors import WorkflowError
from osint_video.pipeline import process_clip
from osint_video.report.validation import validate_report
from osint_video.store.evidence import sha256_file
from osint_video.workspace import Workspace

Serve = tuple[str, Path]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        pass


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    """(base URL, served folder) of a local HTTP server; a clip, a page and junk are there."""
    root = tmp_path_factory.mktemp("www")
    make_cut_clip(root / "clip.mp4", [12], 25, size=(160, 120))
    (root / "page.html").write_text("<html><body><p>no video here</p></body></html>")
    (root / "junk.mp4").write_bytes(b"this is not a video at all\n" * 50)
    handler = functools.partial(_Quiet, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def silent() -> Iterator[str]:
    """A base URL whose server accepts the connection and never says a word."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


class _Trickle(http.server.BaseHTTPRequestHandler):
    """Promises 1 MB of mp4 and sends 64 bytes every 0.1 s (a stalled CDN, a throttled mirror)."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Length", str(1 << 20))
        self.end_headers()
        try:
            for _ in range(600):  # 60 s at most, then the test fails on its own clock
                self.wfile.write(b"\0" * 64)
                self.wfile.flush()
                time.sleep(0.1)
        except OSError:  # the client gave up: what the deadline is for
            pass

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        pass


@pytest.fixture(scope="module")
def trickle() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Trickle)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def cfg(home: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201 - Config
    monkeypatch.setenv("OSINT_VIDEO__QUEUE__SOCKET_TIMEOUT_S", "1")
    monkeypatch.setenv("OSINT_VIDEO__QUEUE__ALLOW_NETWORKS", "127.0.0.1/32")  # our test servers
    return load_config()


def test_url_intake_keeps_platform_facts_custody_and_report_source(
    cfg, server: Serve, capfd: pytest.CaptureFixture[str]
) -> None:
    base, root = server
    url = f"{base}/clip.mp4"
    capfd.readouterr()
    [res] = desk.add(cfg, [url], desk.AddOptions("kursk", "high", "from channel X"))
    assert capfd.readouterr().err == ""  # yt-dlp said nothing on the terminal
    assert res.error is None and res.status == "queued" and res.clip_id == 1
    mtime = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime((root / "clip.mp4").stat().st_mtime))
    assert res.source == {
        "url": url,
        "platform": "Generic",
        "uploader": None,
        "uploaded_at": mtime,  # the HTTP Last-Modified header
        "title": "clip",
        "platform_id": "clip",
    }
    ws = Workspace.open(cfg)
    try:
        clip = ws.cases.load(1)
        assert clip.sha256 == sha256_file(root / "clip.mp4")  # the bytes as served
        assert [a.source_url for a in clip.acquisitions] == [url]
        assert [e.action for e in clip.custody] == ["acquired", "downloaded", "priority_set"]
        dl = clip.custody[1].details
        assert (dl["url"], dl["extractor"], dl["platform_id"]) == (url, "generic", "clip")
        assert dl["tools"]["yt-dlp"] == yt_dlp.version.__version__
        info_path = ws.home / dl["outputs"]["info_json"]
        assert sha256_file(info_path) == dl["outputs"]["info_json_sha256"]
        info = json.loads(info_path.read_text())
        assert info["webpage_url"] == url and info["extractor"] == "generic"
        assert list((ws.home / "tmp").iterdir()) == []  # the download folder is gone
        process_clip(ws, 1)
        report = json.loads((ws.derived_dir(clip.sha256) / "report.json").read_text())
    finally:
        ws.close()
    validate_report(report)
    assert report["status"] == "processed" and report["source"] == res.source


def test_urls_that_fail_become_failed_items_and_the_rest_goes_on(
    cli: Callable, server: Serve, silent: str, tmp_path: Path
) -> None:
    base, root = server
    local = shutil.copy(root / "clip.mp4", tmp_path / "local.mp4")
    bad = {
        f"{base}/missing.mp4": "HTTP error 404: File not found",
        f"{base}/page.html": "not a video: no video found on that page (unsupported URL)",
        f"{base}/junk.mp4": "downloaded file refused: not a video or image file",
        "http://": "malformed URL: no valid host[:port]",
        "ftp://example.org/clip.mp4": "malformed URL: scheme 'ftp' (only http and https)",
        f"{silent}/clip.mp4": "timed out: no answer within 1 s",
    }
    start = time.monotonic()
    rc, out, err = cli("queue", "add", *bad, str(local), "--case", "kursk", "--json")
    assert time.monotonic() - start < 20
    assert rc == 1
    lines = [json.loads(x) for x in out.splitlines()]
    assert [x["input"] for x in lines] == [*bad, str(local)]
    for line, (url, reason) in zip(lines, bad.items(), strict=False):
        assert line["error"].startswith(reason), (url, line["error"])
        assert line["clip_id"] is None and line["item"].startswith("u")
    assert lines[-1]["status"] == "queued" and lines[-1]["error"] is None
    assert len(err.strip().splitlines()) == len(bad) and "Traceback" not in err
    rc, out, _ = cli("queue", "list", "--status", "failed", "--json")
    failed = json.loads(out)
    assert [(f["id"], f["url"], f["cases"]) for f in failed] == [
        (f"u{i}", url, ["kursk"]) for i, url in enumerate(bad, 1)
    ]
    assert all(f["status"] == "failed" and f["error"] for f in failed)
    rc, out, _ = cli("queue", "list")
    assert "u1" in out and "404" in out and "local.mp4" in out


def test_a_download_that_never_ends_stops_at_the_deadline(
    trickle: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`download_timeout_s` bounds the whole download; the socket timeout alone never fires
    here (bytes keep coming), so without the deadline this would take minutes."""
    monkeypatch.setenv("OSINT_VIDEO__QUEUE__DOWNLOAD_TIMEOUT_S", "2")
    queue_cfg = load_config().queue
    start = time.monotonic()
    with pytest.raises(DownloadFailed, match=r"^download took longer than 2 s$"):
        download(f"{trickle}/slow.mp4", tmp_path, queue_cfg)
    assert 2 <= time.monotonic() - start < 10


def test_retry_downloads_a_failed_url_again(cli: Callable, server: Serve, tmp_path: Path) -> None:
    base, root = server
    url = f"{base}/late.mp4"
    rc, _, err = cli("queue", "add", url, "--priority", "urgent", "--note", "tip from X")
    assert rc == 1 and "kept as failed item u1" in err
    assert cli("queue", "retry", "u1")[0] == 1  # still not there
    make_cut_clip(root / "late.mp4", [10], 20, size=(160, 120))
    rc, _, err = cli("queue", "retry", "u1")
    assert rc == 0 and "u1 -> clip 1 (queued)" in err
    assert json.loads(cli("queue", "list", "--status", "failed", "--json")[1]) == []
    [row] = json.loads(cli("queue", "list", "--json")[1])
    assert (row["id"], row["priority"], row["status"]) == (1, "urgent", "queued")
    rc, _, err = cli("queue", "retry", "u1")
    assert rc == 1 and "already retried: it is clip 1" in err
    ws = Workspace.open(load_config())
    try:
        from osint_video.desk.failures import get_failure

        item = get_failure(ws.cases, 1)
        assert (item.attempts, item.clip_id) == (3, 1)
        assert ws.cases.load(1).acquisitions[0].note == "tip from X"
    finally:
        ws.close()


def test_unknown_priority_is_refused_before_anything_is_stored(
    cli: Callable, server: Serve
) -> None:
    rc, _, err = cli("queue", "add", f"{server[0]}/clip.mp4", "--priority", "asap")
    assert rc == 1
    assert (
        err.strip() == "error: unknown priority 'asap': expected one of low, normal, high, urgent"
    )
    assert json.loads(cli("queue", "list", "--json")[1]) == []


def test_the_original_may_vanish_after_queue_add(cfg, tmp_path: Path) -> None:
    (tmp_path / "downloads").mkdir()
    original = make_cut_clip(tmp_path / "downloads" / "phone.mp4", [15], 30, size=(160, 120))
    folder = str(tmp_path / "downloads")
    [res] = desk.add(cfg, [folder], desk.AddOptions(case="kursk"))
    assert res.status == "queued" and res.clip_id == 1
    original.unlink()  # the editor tidies up their downloads folder
    ws = Workspace.open(cfg)
    try:
        outcome = process_clip(ws, 1)
        report = json.loads((ws.home / outcome.report_json).read_text())
    finally:
        ws.close()
    assert outcome.status == "processed" and outcome.error is None
    assert report["keyframes"] and report["source"] == dict.fromkeys(
        ("url", "platform", "uploader", "uploaded_at", "title", "platform_id")
    )


def test_retry_of_something_that_is_not_there(cfg) -> None:
    with pytest.raises(WorkflowError, match="unknown status"):
        desk.listing(cfg, status="done")
    from osint_video.errors import NotFound

    with pytest.raises(NotFound, match="no failed URL item u7"):
        desk.retry(cfg, "u7")

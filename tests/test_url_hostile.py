"""URL intake against hostile servers on 127.0.0.1/127.0.0.2 (issue 13, class 6), real yt-dlp.

A server that drips its headers a byte at a time (never a socket timeout, no progress hook ever
runs), an endless HTML page, files over the size cap, and addresses a desk must not fetch from:
loopback however it is spelled, and a redirect from an allowed server to a refused one. Linux
routes all of 127/8 to `lo`, so a server on 127.0.0.2 is "another host" for the allow-list.
"""

from __future__ import annotations

import functools
import http.server
import json
import re
import socketserver
import subprocess
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from synth import make_cut_clip

from osint_video.config import load_config
from osint_video.desk.child import run_fetch
from osint_video.desk.intake import DownloadFailed, download, fetch_request

MB = 1 << 20


@functools.cache
def _gzip_bomb() -> bytes:
    """256 KB of gzip that inflates to 256 MB of page (8 times the default page cap)."""
    pack = zlib.compressobj(1, zlib.DEFLATED, 31)
    parts = [pack.compress(b"<html><body>")]
    parts += [pack.compress(bytes(64 * MB)) for _ in range(4)]
    return b"".join(parts) + pack.flush()


class _Hostile(http.server.BaseHTTPRequestHandler):
    """Paths: /drip (headers a byte every 0.3 s), /endless.html, /bomb.html (gzip that inflates
    to 256 MB), /big.mp4 (3 MB announced), /big-stream.mp4 (3 MB, no length), /to?u=URL
    (302 to URL); anything else 404."""

    protocol_version = "HTTP/1.0"
    requests: list[str]
    gone: threading.Event

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.requests.append(self.path)
        route = {
            "/drip": self._drip,
            "/endless.html": self._endless,
            "/bomb.html": self._bomb,
            "/big.mp4": functools.partial(self._big, True),
            "/big-stream.mp4": functools.partial(self._big, False),
        }.get(self.path.split("?")[0], self._redirect)
        try:
            route()
        except OSError:  # the client went away: what the limits are for
            self.gone.set()

    def _drip(self) -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nX-Padding: " + b"a" * 10_000
        for byte in head:  # 3000 s at most; the test fails long before
            self.wfile.write(bytes([byte]))
            self.wfile.flush()
            time.sleep(0.3)

    def _endless(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(b"<html><head><title>x</title></head><body>")
        chunk = b"<p>" + b"na" * 32_000 + b"</p>\n"
        for _ in range(200_000):  # 12 GB at most
            self.wfile.write(chunk)

    def _bomb(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(_gzip_bomb())))
        self.end_headers()
        self.wfile.write(_gzip_bomb())

    def _big(self, announced: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        if announced:
            self.send_header("Content-Length", str(3 * MB))
        self.end_headers()
        for _ in range(48):
            self.wfile.write(b"\0" * 65536)

    def _redirect(self) -> None:
        if not self.path.startswith("/to?u="):
            self.send_error(404)
            return
        self.send_response(302)
        self.send_header("Location", self.path.removeprefix("/to?u="))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        pass


class _Files(http.server.SimpleHTTPRequestHandler):
    requests: list[str]

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.requests.append(self.path)
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        pass


def _serve(host: str, handler: Callable) -> tuple[socketserver.BaseServer, str]:
    httpd = http.server.ThreadingHTTPServer((host, 0), handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://{host}:{httpd.server_address[1]}"


@pytest.fixture(scope="module")
def hostile() -> Iterator[tuple[str, type[_Hostile]]]:
    handler = type("H", (_Hostile,), {"requests": [], "gone": threading.Event()})
    httpd, base = _serve("127.0.0.1", handler)
    yield base, handler
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def other_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[str]]]:
    """A file server on 127.0.0.2 (not in the allow-list the tests set) with a real clip and
    HLS segments."""
    root = tmp_path_factory.mktemp("www2")
    make_cut_clip(root / "clip.mp4", [10], 20, size=(160, 120))
    _hls(root)
    seen: list[str] = []
    handler = type("F", (_Files,), {"requests": seen})
    httpd, base = _serve("127.0.0.2", functools.partial(handler, directory=str(root)))
    yield base, seen
    httpd.shutdown()
    httpd.server_close()


def _hls(root: Path) -> None:
    """vod.m3u8 with 3 segments of 1 s; live.m3u8: the same without its end (a live stream)."""
    argv = ["ffmpeg", "-y", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=160x120"]
    argv += ["-t", "3", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "25", "-f", "hls"]
    argv += ["-hls_time", "1", "-hls_playlist_type", "vod", str(root / "vod.m3u8")]
    subprocess.run(argv, check=True, capture_output=True, timeout=120)
    vod = (root / "vod.m3u8").read_text()
    live = [x for x in vod.splitlines() if "ENDLIST" not in x and "PLAYLIST-TYPE" not in x]
    (root / "live.m3u8").write_text("\n".join(live) + "\n")


@pytest.fixture(scope="module")
def streams(
    tmp_path_factory: pytest.TempPathFactory, other_host: tuple[str, list[str]]
) -> Iterator[str]:
    """HLS on 127.0.0.1: vod.m3u8, live.m3u8, and away.m3u8 whose segments are on 127.0.0.2."""
    root = tmp_path_factory.mktemp("hls")
    _hls(root)
    vod = (root / "vod.m3u8").read_text()
    away = re.sub(r"^(vod\d+\.ts)$", rf"{other_host[0]}/\1", vod, flags=re.M)
    (root / "away.m3u8").write_text(away)
    handler = type("S", (_Files,), {"requests": []})
    httpd, base = _serve("127.0.0.1", functools.partial(handler, directory=str(root)))
    yield base
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def _env(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OSINT_VIDEO__QUEUE__SOCKET_TIMEOUT_S", "1")
    monkeypatch.setenv("OSINT_VIDEO__QUEUE__ALLOW_NETWORKS", "127.0.0.1/32")


def _add(cli: Callable, *urls: str) -> tuple[list[dict], str, float]:
    start = time.monotonic()
    rc, out, err = cli("queue", "add", *urls, "--json")
    took = time.monotonic() - start
    assert rc == 1 and "Traceback" not in err
    assert len(err.strip().splitlines()) == len(urls)  # one line per failed URL
    return [json.loads(x) for x in out.splitlines()], err, took


def _failed_items(cli: Callable) -> list[tuple[str, str]]:
    return [(f["id"], f["error"]) for f in json.loads(cli("queue", "list", "--json")[1])]


def test_a_server_dripping_its_headers_is_cut_off_at_the_deadline(
    cli: Callable, hostile: tuple[str, type[_Hostile]], home: Path, monkeypatch
) -> None:
    """One byte every 0.3 s never trips the 1 s socket timeout, and no progress hook runs
    while headers arrive: only a deadline enforced from outside ends this."""
    base, handler = hostile
    monkeypatch.setenv("OSINT_VIDEO__QUEUE__DOWNLOAD_TIMEOUT_S", "2")
    handler.gone.clear()
    [line], _, took = _add(cli, f"{base}/drip")
    assert line["error"] == "download took longer than 2 s" and line["item"] == "u1"
    assert 2 <= took < 2 + 3, took
    print(f"dripping server: queue add returned after {took:.2f} s (deadline 2 s)")
    assert handler.gone.wait(5)  # the download process was killed: its socket closed
    assert _failed_items(cli) == [("u1", "download took longer than 2 s")]
    assert list((home / "tmp").iterdir()) == []  # nothing half-downloaded is left


def test_an_endless_page_stops_at_the_page_cap(
    cli: Callable, hostile: tuple[str, type[_Hostile]], home: Path, monkeypatch
) -> None:
    base, _ = hostile
    monkeypatch.setenv("OSINT_VIDEO__QUEUE__MAX_PAGE_MB", "4")
    [line], _, took = _add(cli, f"{base}/endless.html")
    assert line["error"] == "page larger than 4 MB" and line["item"] == "u1"
    assert took < 15, took
    assert list((home / "tmp").iterdir()) == []


@pytest.mark.parametrize("page", ["endless.html", "bomb.html"])
def test_huge_pages_cost_bounded_memory_with_the_default_caps(
    hostile: tuple[str, type[_Hostile]], tmp_path: Path, page: str
) -> None:
    """The figure for the issue: peak RSS of the download process (its own VmHWM) on an endless
    page and on a gzip bomb, with the shipped defaults (32 MB page cap; 1 GB address space)."""
    cfg = load_config().queue
    assert (cfg.max_page_mb, cfg.max_memory_mb) == (32, 1024)
    run = run_fetch(fetch_request(f"{hostile[0]}/{page}", tmp_path, cfg), 60)
    assert run.answer == {"error": "page larger than 32 MB"}, run
    assert 0 < run.peak_rss_mb < 250, run.peak_rss_mb
    print(f"{page}: {run.seconds:.1f} s, peak RSS {run.peak_rss_mb:.0f} MB")


def test_files_over_the_size_cap_are_failed_items(
    cli: Callable, hostile: tuple[str, type[_Hostile]], home: Path, monkeypatch
) -> None:
    base, _ = hostile
    monkeypatch.setenv("OSINT_VIDEO__QUEUE__MAX_DOWNLOAD_MB", "1")
    lines, _, _ = _add(cli, f"{base}/big.mp4", f"{base}/big-stream.mp4")
    assert [x["error"] for x in lines] == ["file larger than 1 MB"] * 2
    assert list((home / "tmp").iterdir()) == []


SPELLINGS = [
    ("127.0.0.1", "127.0.0.1 is a loopback address"),
    ("0x7f000001", "0x7f000001 resolves to 127.0.0.1, a loopback address"),
    ("2130706433", "2130706433 resolves to 127.0.0.1, a loopback address"),
    ("0177.0.0.1", "0177.0.0.1 resolves to 127.0.0.1, a loopback address"),
    ("127.1", "127.1 resolves to 127.0.0.1, a loopback address"),
    ("[::ffff:127.0.0.1]", "::ffff:127.0.0.1 is a loopback address"),
    ("[::1]", "::1 is a loopback address"),
    # /etc/hosts decides which comes first (::1 on a fresh Debian chroot)
    ("localhost", r"localhost resolves to (127\.0\.0\.1|::1), a loopback address"),
    ("0.0.0.0", "0.0.0.0 is an unspecified address"),
    ("169.254.169.254", "169.254.169.254 is a link-local address"),
    ("10.0.0.1", "10.0.0.1 is a private address"),
]


def test_private_addresses_are_refused_however_spelled(
    cli: Callable, hostile: tuple[str, type[_Hostile]], monkeypatch
) -> None:
    base, handler = hostile
    monkeypatch.setenv("OSINT_VIDEO__QUEUE__ALLOW_NETWORKS", "")  # the shipped default
    port = base.rsplit(":", 1)[1]
    before = len(handler.requests)
    urls = [f"http://{host}:{port}/big.mp4" for host, _ in SPELLINGS]
    lines, _, took = _add(cli, *urls)
    hint = "; URL intake fetches public addresses only; see [queue] allow_networks"
    assert len(lines) == len(SPELLINGS)
    for line, (host, why) in zip(lines, SPELLINGS, strict=True):
        pattern = why if host == "localhost" else re.escape(why)
        assert re.fullmatch(f"refused: {pattern}{re.escape(hint)}", line["error"]), line
    assert len(handler.requests) == before  # not one request reached the server
    assert took < 10


def test_a_redirect_to_a_refused_address_is_refused(
    cli: Callable,
    hostile: tuple[str, type[_Hostile]],
    other_host: tuple[str, list[str]],
    home: Path,
    monkeypatch,
) -> None:
    """127.0.0.1 is allowed, 127.0.0.2 is not: the redirect's hop is checked when the download
    process connects, not only the URL given."""
    base, _ = hostile
    target, seen = other_host
    url = f"{base}/to?u={target}/clip.mp4"
    [line], _, _ = _add(cli, url)
    assert line["error"] == (
        "refused: 127.0.0.2 is a loopback address; "
        "URL intake fetches public addresses only; see [queue] allow_networks"
    )
    assert seen == [] and list((home / "tmp").iterdir()) == []
    monkeypatch.setenv("OSINT_VIDEO__QUEUE__ALLOW_NETWORKS", "127.0.0.1/32,127.0.0.2")
    rc, out, err = cli("queue", "add", url, "--json")
    assert rc == 0 and json.loads(out)["status"] == "queued", err  # allowed: the same redirect
    assert seen and set(seen) == {"/clip.mp4"}


def test_download_refuses_before_starting_anything(tmp_path: Path) -> None:
    cfg = load_config().queue
    start = time.monotonic()
    with pytest.raises(DownloadFailed, match=r"^refused: 127\.0\.0\.2 is a loopback address"):
        download("http://127.0.0.2:9/x.mp4", tmp_path, cfg)
    assert time.monotonic() - start < 0.5  # no download process was started
    with pytest.raises(DownloadFailed, match=r"^cannot connect: no-such-host\.invalid: "):
        download("http://no-such-host.invalid/x.mp4", tmp_path, cfg)


def test_a_bad_allow_list_is_one_config_error(cli: Callable, monkeypatch) -> None:
    monkeypatch.setenv("OSINT_VIDEO__QUEUE__ALLOW_NETWORKS", "10.0.0.0/33")
    rc, _, err = cli("queue", "add", "http://example.org/x.mp4")
    assert rc == 2
    assert err.strip() == (
        "error: config option queue.allow_networks: '10.0.0.0/33' is not a network "
        "(e.g. 10.1.2.0/24)"
    )


def test_hls_is_fetched_by_yt_dlp_itself_and_its_segments_are_checked(
    cli: Callable, streams: str, other_host: tuple[str, list[str]]
) -> None:
    """HLS is downloaded by yt-dlp's own downloader, whose every segment request goes through
    the address checks; a live stream (which yt-dlp gives to ffmpeg, outside the checks) is
    refused, and so are segments on a refused address."""
    _, seen = other_host
    before = len(seen)
    rc, out, err = cli("queue", "add", f"{streams}/vod.m3u8", "--json")
    assert rc == 0 and json.loads(out)["status"] == "queued", err
    lines, _, _ = _add(cli, f"{streams}/live.m3u8", f"{streams}/away.m3u8")
    assert [x["error"] for x in lines] == [
        "not downloaded: a live stream, which only an external program (ffmpeg) could fetch",
        "refused: 127.0.0.2 is a loopback address; "
        "URL intake fetches public addresses only; see [queue] allow_networks",
    ]
    assert len(seen) == before  # no segment was fetched from 127.0.0.2

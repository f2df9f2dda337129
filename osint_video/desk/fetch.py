"""The download process: yt-dlp under limits, run by `intake.download` as a child it can kill.

A hostile server decides how long and how much: one byte every 2 s never trips a socket
timeout, and yt-dlp looks at the clock only between blocks; an endless HTML page is read whole
into memory by the generic extractor. So the download runs in its own process, which the parent
kills at the deadline whatever it is doing, and inside it:

- every response read is counted: a page (read whole into memory) stops at `max_page_bytes`, a
  streamed file at `max_download_bytes` (and at once when the server announces more);
- the kernel caps the process's address space (RLIMIT_AS) and the files it writes
  (RLIMIT_FSIZE, inherited by an ffmpeg yt-dlp may run);
- every name resolution and every socket connection goes through the address policy
  (`addresses.py`), so a redirect to a private address is refused at the connection it makes;
- only request handlers and downloaders that use this process's Python sockets run (no
  curl_cffi, no ffmpeg or rtmpdump fetching on their own).

Protocol: one JSON request on stdin; JSON lines on stdout: `{"progress": 0.42}` while bytes
arrive, then `{"ok": {"media", "info_json", "type", "version"}}` or `{"error": "one line"}`.
Nothing else reaches the terminal: yt-dlp talks to a logger that keeps errors.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Callable
from typing import IO, Any

from ..addresses import AddressPolicy, AddressRefused
from .child import peak_rss_mb

_SAY: IO[str] = sys.stdout
# yt-dlp's own downloaders: their requests go through this process's checked sockets.
NATIVE_DOWNLOADERS = {"HttpFD", "HlsFD", "DashSegmentsFD"}
# Request handlers that connect through Python sockets (curl_cffi, if installed, would not).
PYTHON_HANDLERS = {"Urllib", "Requests", "Websockets"}


def _say(message: dict[str, Any]) -> None:
    _SAY.write(json.dumps(message) + "\n")
    _SAY.flush()


class _Guard:
    """Address checks on every resolution and connection of this process (it runs only yt-dlp)."""

    def __init__(self, policy: AddressPolicy) -> None:
        self.policy = policy
        self.refused: str | None = None  # the first refusal: the reason the download fails

    def _refuse(self, exc: AddressRefused) -> AddressRefused:
        self.refused = self.refused or str(exc)
        return exc

    def install(self) -> None:
        real_getaddrinfo, real_connect = socket.getaddrinfo, socket.socket.connect
        real_connect_ex = socket.socket.connect_ex

        def getaddrinfo(host: Any, port: Any, *args: Any, **kw: Any) -> list:
            infos = real_getaddrinfo(host, port, *args, **kw)
            try:
                self.policy.check_infos(str(host), infos)
            except AddressRefused as exc:
                raise self._refuse(exc) from None
            return infos

        def checked(sock: socket.socket, address: Any) -> Any:
            if sock.family not in (socket.AF_INET, socket.AF_INET6):
                return address
            host, port, *rest = address
            infos = getaddrinfo(host, port, sock.family, socket.SOCK_STREAM)
            try:
                self.policy.check_address(str(host), str(infos[0][4][0]))
            except AddressRefused as exc:
                raise self._refuse(exc) from None
            return (infos[0][4][0], port, *rest)  # connect to the address just checked

        def connect(sock: socket.socket, address: Any) -> None:
            real_connect(sock, checked(sock, address))

        def connect_ex(sock: socket.socket, address: Any) -> int:
            return real_connect_ex(sock, checked(sock, address))

        socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]
        socket.socket.connect = connect  # type: ignore[method-assign,assignment]
        socket.socket.connect_ex = connect_ex  # type: ignore[method-assign,assignment]


def _limit(memory_bytes: int, file_bytes: int) -> None:
    """Kernel limits on this process and its children (ffmpeg): address space, file size."""
    import resource
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the cap fails with EFBIG
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))


def _mb(n: int) -> str:
    return f"{n / (1 << 20):g} MB"


def _capped(read: Callable[..., bytes], page: int, media: int) -> Callable[..., bytes]:
    """A response's `read` that counts: a whole read stops at `page`, streamed ones at `media`."""
    from yt_dlp.utils import DownloadCancelled

    seen = 0

    def capped(amt: int | None = None) -> bytes:
        nonlocal seen
        if amt is not None and amt >= 0:
            data = read(amt)
            seen += len(data)
            if seen > media:
                raise DownloadCancelled(f"file larger than {_mb(media)}")
            return data
        parts = []
        while chunk := read(1 << 20):
            seen += len(chunk)
            if seen > page:
                raise DownloadCancelled(f"page larger than {_mb(page)}")
            parts.append(chunk)
        return b"".join(parts)

    return capped


class _Log:
    """yt-dlp's logger: keep the errors for our message, print nothing."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def debug(self, msg: str) -> None:
        pass

    def info(self, msg: str) -> None:
        pass

    def warning(self, msg: str) -> None:
        pass

    def error(self, msg: str) -> None:
        self.errors.append(msg)


def _options(req: dict[str, Any], hook: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    return {
        "outtmpl": os.path.join(req["dest"], "%(id).80B.%(ext)s"),
        "writeinfojson": True,
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "noplaylist": True,
        "socket_timeout": req["socket_timeout_s"],
        "retries": 0,
        "fragment_retries": 0,
        "extractor_retries": 0,
        "cachedir": False,
        "fixup": "never",  # the bytes as the platform served them: no container rewrites
        "hls_prefer_native": True,  # HLS by yt-dlp itself, not by an ffmpeg we cannot check
        "logger": _Log(),
        "progress_hooks": [hook],
    }


def _hook(media: int) -> Callable[[dict[str, Any]], None]:
    from yt_dlp.utils import DownloadCancelled

    last = -1.0

    def hook(d: dict[str, Any]) -> None:
        nonlocal last
        total = d.get("total_bytes") or d.get("total_bytes_estimate")
        if max(total or 0, d.get("downloaded_bytes") or 0) > media:
            raise DownloadCancelled(f"file larger than {_mb(media)}")
        if total:
            done = min(1.0, (d.get("downloaded_bytes") or 0) / total)
            if done - last >= 0.01 or done == 1.0:
                last = done
                _say({"progress": done})

    return hook


def _native_only(info: dict[str, Any], params: dict[str, Any], name: str) -> None:
    """Refuse a download yt-dlp would hand to ffmpeg or rtmpdump: those programs open their
    own connections, outside this process's address checks, caps and counting."""
    from yt_dlp.downloader import get_suitable_downloader
    from yt_dlp.utils import DownloadCancelled

    fd = get_suitable_downloader(info, params, to_stdout=(name == "-"))
    if fd is None or fd.__name__ not in NATIVE_DOWNLOADERS:
        what = "a live stream" if info.get("is_live") else f"served as {info.get('protocol')}"
        raise DownloadCancelled(
            f"not downloaded: {what}, which only an external program (ffmpeg) could fetch"
        )


def download(req: dict[str, Any], guard: _Guard) -> dict[str, Any]:
    """Run yt-dlp on `req["url"]`; what it wrote, or {"error": reason}."""
    import yt_dlp
    from yt_dlp.utils import DownloadCancelled, DownloadError, YoutubeDLError
    from yt_dlp.version import __version__

    page, media = int(req["max_page_bytes"]), int(req["max_download_bytes"])

    class Capped(yt_dlp.YoutubeDL):
        def urlopen(self, req: Any) -> Any:
            resp = super().urlopen(req)
            resp.read = _capped(resp.read, page, media)
            return resp

        def build_request_director(self, handlers: Any, preferences: Any = None) -> Any:
            ours = [h for h in handlers if h.RH_KEY in PYTHON_HANDLERS]
            return super().build_request_director(ours, preferences)

        def dl(self, name: str, info: dict[str, Any], *args: Any, **kw: Any) -> Any:
            _native_only(info, self.params, name)
            return super().dl(name, info, *args, **kw)

    try:
        with Capped(_options(req, _hook(media))) as ydl:  # type: ignore[arg-type]
            info = ydl.extract_info(req["url"], download=True)
    except DownloadCancelled as exc:
        return {"error": guard.refused or str(exc.msg)}
    except DownloadError as exc:
        return {"error": guard.refused or _reason(exc, req)}
    except YoutubeDLError as exc:  # RequestError for e.g. "http://"
        return {"error": guard.refused or f"malformed URL: {exc}"}
    except MemoryError:
        return {"error": f"download needed more than {_mb(req['memory_bytes'])} of memory"}
    return {"ok": _written(info, __version__)}


def _written(info: Any, version: str) -> dict[str, Any]:
    info = info if isinstance(info, dict) else {}
    got = (info.get("requested_downloads") or [{}])[0]
    return {
        "type": info.get("_type", "video"),
        "media": got.get("filepath") or "",
        "info_json": got.get("infojson_filename") or "",
        "version": version,
    }


def _reason(exc: Exception, req: dict[str, Any]) -> str:
    """yt-dlp's error as one line a desk editor understands."""
    from yt_dlp.networking.exceptions import HTTPError, TransportError
    from yt_dlp.utils import UnsupportedError

    cause = (getattr(exc, "exc_info", None) or (None, None))[1]
    text = str(exc).removeprefix("ERROR: ").splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(cause, HTTPError):
        return f"HTTP error {cause.status}: {cause.reason or 'request refused'}"
    if isinstance(cause, UnsupportedError):
        return "not a video: no video found on that page (unsupported URL)"
    if isinstance(cause, TransportError):
        if "timed out" in str(cause).lower():
            return f"timed out: no answer within {req['socket_timeout_s']:g} s"
        return f"cannot connect: {str(cause).split(': ', 1)[-1][:200]}"
    if "is not a valid URL" in text:
        return "malformed URL"
    if "File too large" in text:  # RLIMIT_FSIZE: a writer that bypassed our counting
        return f"file larger than {_mb(req['max_download_bytes'])}"
    return text[:300]


def main() -> int:
    """Read the request, set the limits and the guard, download, say the outcome."""
    global _SAY
    _SAY = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # anything else printed to stdout goes to stderr, never into the protocol
    req = json.loads(sys.stdin.read())
    _limit(int(req["memory_bytes"]), int(req["max_download_bytes"]) + (16 << 20))
    guard = _Guard(AddressPolicy.from_setting(req["allow_networks"]))
    guard.install()
    answer = download(req, guard)
    _say({**answer, "peak_rss_mb": peak_rss_mb()})
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The HTTP side of `annotate listen`: a small webhook receiver that strangers cannot tie up.

The port may be reachable from a whole network (`listen_host = 0.0.0.0`), so the receiver
trusts nothing before the secret path: method and path are checked from the request line and
headers alone, and a body is read only for `POST <secret path>` with a valid, bounded
`Content-Length` (no chunked bodies; Label Studio's webhook client always sends a length).
Every connection has a per-read timeout and an overall deadline after which its socket is
shut down (a slow-loris client that sends a byte now and then holds a thread for seconds, not
forever), and only so many connections are served at once. Malformed requests get a 4xx and
nothing is printed: no access log, no traceback on stderr.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAX_BODY = 1 << 20  # Label Studio's payloads (task + annotation) are a few KB to ~100 KB
READ_TIMEOUT_S = 5.0  # one read that waits longer than this ends the connection
DEADLINE_S = 15.0  # a whole request (headers and body) must arrive within this
MAX_CONNECTIONS = 32  # served at once; more are closed at once
_DIGITS = re.compile(r"[0-9]{1,18}")


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    @property
    def timeout(self) -> float:  # type: ignore[override]  # StreamRequestHandler reads it
        return self.server.receiver.read_timeout_s

    def handle(self) -> None:
        try:
            super().handle()
        except OSError:
            pass  # the client left, was too slow, or its socket was shut at the deadline

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.close_connection = True  # one request per connection: no leftovers parsed
        rcv = self.server.receiver
        if self.path != rcv.path:
            return self._answer(404)  # before the body: a stranger's bytes are never read
        length = self._length()
        if length is None:
            return self._answer(400)
        if length > rcv.max_body:
            rcv.wake("?")  # the secret path is Label Studio: pull, but keep no such body
            return self._answer(413)
        body = self.rfile.read(length)
        if len(body) != length:
            return None  # the client went away (or the deadline cut it off): nothing happened
        self._answer(200)
        rcv.wake(_action(body))

    def _length(self) -> int | None:
        """The body's length if the framing is one plain, valid Content-Length; else None."""
        if self.headers.get("Transfer-Encoding") is not None:
            return None
        values = self.headers.get_all("Content-Length") or []
        if len(values) != 1 or not _DIGITS.fullmatch(values[0].strip()):
            return None
        return int(values[0])

    def _answer(self, code: int) -> None:
        try:
            self.send_response_only(code)
            self.send_header("Content-Length", "0")
            self.send_header("Connection", "close")
            self.end_headers()
        except OSError:
            pass  # the client is gone; nothing to tell it

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.close_connection = True
        self._answer(405)

    do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = do_GET  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence access logs
        return


def _action(body: bytes) -> str:
    try:
        msg = json.loads(body or b"{}")
    except (ValueError, RecursionError):
        return "?"
    return str(msg.get("action", "?"))[:100] if isinstance(msg, dict) else "?"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 64  # a burst of connections waits to be refused, not to be accepted
    receiver: Receiver

    def __init__(self, address: tuple[str, int], receiver: Receiver) -> None:
        self.receiver = receiver
        self._open: dict[socket.socket, float] = {}
        self._lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._lock:
            full = len(self._open) >= self.receiver.max_connections
            if not full:
                self._open[request] = time.monotonic() + self.receiver.deadline_s
        if full:
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._lock:
            self._open.pop(request, None)
        super().shutdown_request(request)

    def reap(self) -> None:
        """Shut down connections past their deadline (their blocked reads then see EOF)."""
        now = time.monotonic()
        with self._lock:
            late = [sock for sock, end in self._open.items() if end <= now]
        for sock in late:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        self.receiver.errors += 1  # never printed: a stranger must not fill the desk's terminal


class Receiver:
    """Accepts `POST path` from Label Studio and calls `wake(action)`; `start()`, `stop()`.

    Args:
        host, port: where to bind (port 0: any free port).
        path: the only path that is answered 200 (the session's secret).
        wake: called with the payload's `action` (or "?") for each accepted post.
    """

    def __init__(
        self,
        host: str,
        port: int,
        path: str,
        wake: Callable[[str], None],
        *,
        max_body: int = MAX_BODY,
        read_timeout_s: float = READ_TIMEOUT_S,
        deadline_s: float = DEADLINE_S,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.host, self.port, self.path, self.wake = host, port, path, wake
        self.max_body, self.read_timeout_s = max_body, read_timeout_s
        self.deadline_s, self.max_connections = deadline_s, max_connections
        self.errors = 0
        self._http: _Server | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def address(self) -> tuple[str, int]:
        assert self._http is not None
        return self._http.server_address[:2]  # type: ignore[return-value]

    def start(self) -> Receiver:
        """Bind and serve in background threads.

        Raises:
            OSError: the address cannot be bound.
        """
        self._http = _Server((self.host, self.port), self)
        for target in (self._http.serve_forever, self._reaper):
            thread = threading.Thread(target=target, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def _reaper(self) -> None:
        while not self._stop.wait(0.2):
            if self._http is not None:
                self._http.reap()

    def stop(self) -> None:
        self._stop.set()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        for thread in self._threads:
            thread.join(timeout=10)

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

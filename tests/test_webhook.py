"""The webhook receiver of `annotate listen` against hostile clients, with raw sockets
(issue 13, class 7). The HTTP layer needs no Label Studio: a real `Receiver` on 127.0.0.1 with
the secret path, and a `wake` that records; the Listener end to end is in test_annotate.py.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from osint_video.annotate.webhook import Receiver

SECRET = "/webhook/s3cret-path"
DEADLINE_S = 1.5


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[Receiver, list[str]]]:
    woken: list[str] = []
    limits = {"max_body": 4096, "read_timeout_s": 1.0, "deadline_s": DEADLINE_S}
    with Receiver("127.0.0.1", 0, SECRET, woken.append, **limits, max_connections=8) as r:
        yield r, woken


@pytest.fixture
def rcv(
    receiver: tuple[Receiver, list[str]], capfd: pytest.CaptureFixture[str]
) -> Iterator[tuple[Receiver, list[str]]]:
    receiver[1].clear()
    yield receiver
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")  # no access log, no traceback, whatever the clients sent
    assert receiver[0].errors == 0  # and no exception escaped a handler


def _send(rcv: Receiver, raw: bytes, *, wait: float = 5.0) -> tuple[bytes, float]:
    """Send `raw`, then read until the server closes; (what came back, seconds it took)."""
    start = time.monotonic()
    with socket.create_connection(rcv.address, timeout=wait) as sock:
        sock.sendall(raw)
        got = b""
        try:
            while chunk := sock.recv(65536):
                got += chunk
        except ConnectionResetError:
            pass
    return got, time.monotonic() - start


def _status(reply: bytes) -> int:
    """The status code; an unparseable request line is answered HTTP/0.9 style (no status
    line, only the error page)."""
    if reply.startswith(b"HTTP/"):
        return int(reply.split(b" ", 2)[1])
    return 400 if b"Error code: 400" in reply else 0


def _post(path: str, headers: str, body: bytes = b"") -> bytes:
    return f"POST {path} HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode() + body


PAYLOAD = json.dumps({"action": "ANNOTATION_CREATED", "annotation": {"id": 1}}).encode()


def test_a_valid_post_on_the_secret_path_wakes_the_puller(rcv) -> None:
    receiver, woken = rcv
    got, _ = _send(receiver, _post(SECRET, f"Content-Length: {len(PAYLOAD)}\r\n", PAYLOAD))
    assert _status(got) == 200 and woken == ["ANNOTATION_CREATED"]


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (_post("/guess", "Content-Length: 100000000000\r\n"), 404),  # body never read
        (_post("/", "Content-Length: -1\r\n"), 404),
        (b"GET " + SECRET.encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n", 405),
        (_post(SECRET, "Content-Length: -1\r\n", PAYLOAD), 400),
        (_post(SECRET, "Content-Length: 12abc\r\n", PAYLOAD), 400),
        (_post(SECRET, "Content-Length: 0x10\r\n", PAYLOAD), 400),
        (_post(SECRET, "Content-Length: 5\r\nContent-Length: 6\r\n", PAYLOAD), 400),
        (_post(SECRET, "", PAYLOAD), 400),  # a body without a length
        (_post(SECRET, "Transfer-Encoding: chunked\r\n", b"5\r\nhello\r\n0\r\n\r\n"), 400),
        (_post(SECRET, "Content-Length: 99999999999999999999999\r\n"), 400),
        (b"BREW /pot HTCPCP/1.0\r\n\r\n", 400),
        (b"\xff\xfe\x00garbage\r\n\r\n", 400),
    ],
    ids=[
        "wrong-path-huge",
        "wrong-path-negative",
        "get",
        "negative",
        "non-numeric",
        "hex",
        "two-lengths",
        "missing-length",
        "chunked",
        "absurd-length",
        "bad-request-line",
        "binary",
    ],
)
def test_malformed_or_foreign_requests_are_refused_at_once(rcv, raw: bytes, status: int) -> None:
    receiver, woken = rcv
    got, took = _send(receiver, raw)
    assert _status(got) == status and woken == []
    assert took < 1.0  # answered from the headers, not after a timeout


def test_an_oversized_body_on_the_secret_path_is_not_read_but_pulls(rcv) -> None:
    receiver, woken = rcv
    got, took = _send(receiver, _post(SECRET, "Content-Length: 5000000\r\n", b"{" * 1000))
    assert _status(got) == 413 and woken == ["?"] and took < 1.0


def test_slow_and_short_clients_are_cut_off_at_the_deadline(rcv) -> None:
    """Slow-loris: a header byte every 0.5 s (each read in time for the 1 s read timeout), and
    a body shorter than announced. Both are closed by the deadline; neither wakes anything."""
    receiver, woken = rcv
    start = time.monotonic()
    with socket.create_connection(receiver.address, timeout=10) as sock:
        head = _post(SECRET, "X-Slow: " + "a" * 100 + "\r\n")
        closed_after = None
        for byte in head:
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                closed_after = time.monotonic() - start
                break
            time.sleep(0.5)
    assert closed_after is not None and closed_after < DEADLINE_S + 1.5, closed_after
    got, took = _send(receiver, _post(SECRET, "Content-Length: 100\r\n", b'{"action"'))
    assert got == b"" and 0.9 < took < DEADLINE_S + 1.5  # the read timeout or the deadline
    assert woken == []


def test_a_connection_flood_neither_blocks_nor_grows_threads(rcv) -> None:
    receiver, woken = rcv
    before = threading.active_count()
    idle = [socket.create_connection(receiver.address) for _ in range(40)]
    try:
        time.sleep(0.3)
        assert threading.active_count() <= before + 8  # at most max_connections handlers
        time.sleep(DEADLINE_S + 0.5)  # the deadline frees the slots
        got, _ = _send(receiver, _post(SECRET, f"Content-Length: {len(PAYLOAD)}\r\n", PAYLOAD))
        assert _status(got) == 200 and woken == ["ANNOTATION_CREATED"]
    finally:
        for sock in idle:
            sock.close()

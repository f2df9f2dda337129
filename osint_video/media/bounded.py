"""Run the in-process parsers of one file in a child process, bounded in time and memory.

ffprobe and ffmpeg are separate processes with timeouts (`ffmpeg.py`). The parsers that run
inside Python (exifread, Pillow and pillow-heif opening an image, our own box and RIFF readers,
the C2PA reader) cannot be interrupted from a thread, and a crafted file can keep one busy for a
minute or make it allocate gigabytes. So they run in a child process: the child gets an
address-space limit (RLIMIT_AS), the parent keeps a wall-clock deadline and kills the child at
it, and each stage sends its result back as soon as it is done, so a stage that runs out of
time or memory costs only itself and the stages after it, and the caller learns how far the
parse got.

Why a fork server of our own: forking the caller is unsafe (it has threads), and starting a
fresh interpreter per file costs ~0.3 s. One small helper process per caller process imports
the parsers once (in the background, while ffprobe runs) and forks a child per file: about 3 ms
a file. (`multiprocessing`'s fork server would re-import the caller's `__main__` in every child,
75 ms for the CLI.) The helper exits when the caller closes its end of the socket.

Whatever a library prints or warns in the child (exifread's log, Pillow's warnings, text a C
library writes to stderr) comes back as `messages`, never on the user's terminal.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import gc
import json
import logging
import os
import pickle
import resource
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from ..errors import OsintVideoError, ProbeError

log = logging.getLogger(__name__)

# Imported once by the fork server, so a child starts with them loaded; then the warm-up
# functions run once (lazy one-time set-ups that every child would otherwise repeat).
PRELOAD = ("osint_video.media.probe", "c2pa")
WARM_UP = (("osint_video.media.stills", "warm_up"), ("osint_video.media.credentials", "warm_up"))
MAX_MESSAGES = 20  # per stage; the count of the rest is kept
MAX_MESSAGE_CHARS = 300
MAX_REQUEST = 1 << 20
PR_SET_PDEATHSIG = 1  # linux/prctl.h


@dataclass(frozen=True)
class Stage:
    """One parser call: `fn(*args)` in the child; `fn` must be importable (module level)."""

    name: str
    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()


@dataclass(frozen=True)
class LimitHit:
    """A stage that did not finish: `limit` is "time", "memory" or "crashed"."""

    limit: str
    stage: str
    detail: str
    not_run: tuple[str, ...] = ()


@dataclass(frozen=True)
class Outcome:
    """What the stages returned (by stage name), the limits hit, the captured messages, and
    the largest peak RSS a child reported (KB; a child killed at the deadline reports none)."""

    values: dict[str, Any] = field(default_factory=dict)
    hits: tuple[LimitHit, ...] = ()
    messages: dict[str, list[str]] = field(default_factory=dict)
    peak_rss_kb: int = 0


class ParserBug(RuntimeError):
    """A parser raised something no stage expects: a bug to report (the child's traceback is
    attached as a note, so the error log shows where it happened)."""


def warm_up() -> None:
    """Start the fork server now if it is not running (it imports the parsers meanwhile)."""
    _server()


def run_stages(stages: Sequence[Stage], *, time_s: float, memory_mb: int) -> Outcome:
    """Run `stages` in order in a child process; stop at the deadline.

    A stage that crashes the child (a signal: a C library on a crafted file, the memory limit
    hit outside Python) is recorded and the remaining stages run in a new child, within the
    same deadline.

    Args:
        stages: the parser calls, cheapest and most important first.
        time_s: wall-clock seconds for all of them together.
        memory_mb: address space each child may add to what it starts with.

    Returns:
        The values of the stages that finished, and a `LimitHit` for each that did not.

    Raises:
        OsintVideoError: a stage raised one (re-raised here as is).
        ParserBug: a stage raised anything else.
    """
    deadline = time.monotonic() + time_s
    out = _Collect(time_s, memory_mb)
    pending = list(stages)
    while pending:
        pending = _one_child(pending, deadline, out)
    _last.peak_rss_kb = out.peak_rss_kb
    log.debug("parser child peak RSS %d KB", out.peak_rss_kb)
    return Outcome(out.values, tuple(out.hits), out.messages, out.peak_rss_kb)


def last_peak_rss_kb() -> int:
    """Peak RSS (KB) of the child of this thread's last `run_stages` (for tests and benches)."""
    return int(getattr(_last, "peak_rss_kb", 0))


@dataclass
class _Collect:
    time_s: float
    memory_mb: int
    values: dict[str, Any] = field(default_factory=dict)
    messages: dict[str, list[str]] = field(default_factory=dict)
    hits: list[LimitHit] = field(default_factory=list)
    peak_rss_kb: int = 0


def _one_child(pending: list[Stage], deadline: float, out: _Collect) -> list[Stage]:
    """Run `pending` in one child; return the stages still to run in a new one."""
    conn, child = _fork(pending, out)
    try:
        while pending:
            left = deadline - time.monotonic()
            if left <= 0 or not conn.poll(left):
                names = tuple(s.name for s in pending[1:])
                out.hits.append(LimitHit("time", pending[0].name, f"{out.time_s:g} s", names))
                return []
            try:
                reply = conn.recv()
            except (EOFError, OSError):
                out.hits.append(LimitHit("crashed", pending[0].name, child.death()))
                return pending[1:]
            _take(reply, pending.pop(0), out)
        return []
    finally:
        conn.close()
        child.kill()


def _fork(pending: list[Stage], out: _Collect) -> tuple[Connection, _Child]:
    """A child from the fork server, restarting the server once if it has died."""
    cpu_s = int(out.time_s) + 5  # a backstop: the deadline kills the child first
    for attempt in (1, 2):
        server = _server()
        try:
            return server.fork(pending, out.memory_mb, cpu_s)
        except OSError as exc:
            server.stop()  # the next _server() starts a fresh one
            if attempt == 2:
                raise ProbeError(f"cannot start the parsers' helper process: {exc}") from None
    raise AssertionError("unreachable")


def _take(reply: tuple[Any, ...], stage: Stage, out: _Collect) -> None:
    kind, said, rss_kb = reply[0], reply[1], reply[2]
    out.peak_rss_kb = max(out.peak_rss_kb, rss_kb)
    if said:
        out.messages[stage.name] = said
        for line in said:
            log.info("%s: %s", stage.name, line)
    if kind == "done":
        out.values[stage.name] = reply[3]
    elif kind == "memory":
        out.hits.append(LimitHit("memory", stage.name, f"{out.memory_mb} MB"))
    elif kind == "error":
        raise reply[3]
    else:
        bug = ParserBug(f"{stage.name}: {reply[3]}")
        bug.add_note(f"in the probe's child process:\n{reply[4]}")
        raise bug


# --- the fork server, seen from the caller --------------------------------------------------


class _Child:
    """A child of the fork server: killed through a pidfd, so never a recycled pid."""

    def __init__(self, pid: int) -> None:
        self.pid: int | None = None
        self.fd: int | None = None
        try:
            self.fd = os.pidfd_open(pid)
        except AttributeError:  # not Linux
            self.pid = pid
        except OSError as exc:
            if exc.errno != errno.ESRCH:  # no pidfd here (old kernel): the pid then
                self.pid = pid
            # ESRCH: already gone (it exits as soon as its stages are done)

    def kill(self) -> None:
        if self.pid is not None:
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGKILL)
            self.pid = None
        if self.fd is None:
            return
        with contextlib.suppress(OSError):
            signal.pidfd_send_signal(self.fd, signal.SIGKILL)
        os.close(self.fd)
        self.fd = None

    def death(self) -> str:
        """Why the child's end of the pipe closed before its stage was done."""
        return "the parser process ended abruptly (a signal, or memory exhausted outside Python)"


class _Server:
    """The helper process and our end of its socket; one request at a time."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        code = "import sys, json; sys.path[:0] = json.loads(sys.argv[1]); " + (
            "from osint_video.media.bounded import serve; serve(int(sys.argv[2]))"
        )
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                code,
                json.dumps([str(p) for p in sys.path]),
                str(theirs.fileno()),
            ],
            pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C at the terminal is the caller's to handle
        )
        theirs.close()
        self.sock = ours
        self.lock = threading.Lock()
        self.owner = os.getpid()

    def alive(self) -> bool:
        """Running, and ours (a process forked from the caller must start its own)."""
        return self.owner == os.getpid() and self.proc.poll() is None

    def fork(self, stages: list[Stage], memory_mb: int, cpu_s: int) -> tuple[Connection, _Child]:
        """A new child running `stages`; its replies arrive on the returned connection."""
        request = pickle.dumps((stages, memory_mb, cpu_s))
        read, write = os.pipe()
        try:
            with self.lock:
                socket.send_fds(self.sock, [request], [write])
                answer = self.sock.recv(8)
        finally:
            os.close(write)
        if len(answer) != 8:
            os.close(read)
            raise OSError("the parsers' fork server stopped")
        return Connection(read, writable=False), _Child(struct.unpack("<q", answer)[0])

    def close(self) -> None:
        self.sock.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(2)

    def stop(self) -> None:
        """Kill it (it no longer answers as it should)."""
        with contextlib.suppress(OSError):
            self.proc.kill()
        self.close()


_server_lock = threading.Lock()
_last = threading.local()
_current: list[_Server] = []


def _server() -> _Server:
    """The running fork server, started (or restarted after it died) on demand."""
    with _server_lock:
        if _current and _current[0].alive():
            return _current[0]
        if _current:
            old = _current.pop()
            if old.owner == os.getpid():
                old.close()
        _current.append(_Server())
        return _current[0]


# --- the fork server itself -------------------------------------------------------------------


def serve(fd: int) -> None:
    """The helper's loop: import the parsers, then fork one child per request until EOF."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the children
    for name in PRELOAD:
        with contextlib.suppress(ImportError):
            __import__(name)
    for module, function in WARM_UP:
        with contextlib.suppress(Exception):
            getattr(__import__(module, fromlist=[function]), function)()
    gc.freeze()  # the children's collections skip what is loaded: fewer copy-on-write pages
    sock = socket.socket(fileno=fd)
    while True:
        try:
            data, fds, _flags, _addr = socket.recv_fds(sock, MAX_REQUEST, 1)
        except OSError:
            return
        if not data or not fds:
            return
        pid = os.fork()
        if pid == 0:
            sock.close()
            try:
                stages, memory_mb, cpu_s = pickle.loads(data)
                _limit(memory_mb, cpu_s)
                _child(Connection(fds[0], readable=False), stages)
            finally:
                os._exit(0)
        os.close(fds[0])
        sock.send(struct.pack("<q", pid))


def _child(conn: Connection, stages: list[Stage]) -> None:
    """Capture output, run each stage and send its result as soon as it is done."""
    capture = _Capture()
    for stage in stages:
        try:
            value = stage.fn(*stage.args)
        except OsintVideoError as exc:
            conn.send(("error", capture.take(), _rss_kb(), exc))
            return
        except MemoryError:
            conn.send(("memory", capture.take(), _rss_kb()))
            continue
        except BaseException as exc:  # noqa: BLE001 - reported to the parent as a bug
            text = " ".join(f"{type(exc).__name__}: {exc}".split())
            conn.send(("bug", capture.take(), _rss_kb(), text, traceback.format_exc()))
            return
        conn.send(("done", capture.take(), _rss_kb(), value))
    conn.close()


def _rss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _limit(memory_mb: int, cpu_s: int) -> None:
    """Die with the server; RLIMIT_AS: what the child has mapped now (libraries, the server's
    heap) plus `memory_mb`, past which an allocation fails (MemoryError in Python code);
    RLIMIT_CPU as a backstop to the caller's deadline."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    _lower(resource.RLIMIT_CPU, cpu_s)
    _lower(resource.RLIMIT_CORE, 0)  # a parser crashing on a crafted file leaves no core file
    try:
        with open("/proc/self/statm") as f:
            now = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return
    _lower(resource.RLIMIT_AS, now + memory_mb * 1024 * 1024)


def _lower(which: int, want: int) -> None:
    soft, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        want = min(want, hard)
    if soft == resource.RLIM_INFINITY or want < soft:
        resource.setrlimit(which, (want, hard))


class _Capture:
    """Python warnings, log records (WARNING and up) and whatever is written to fds 1 and 2."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.dropped = 0
        self.out = tempfile.TemporaryFile()
        for fd in (1, 2):
            os.dup2(self.out.fileno(), fd)
        warnings.resetwarnings()
        warnings.simplefilter("always")
        warnings.showwarning = self._warning
        logging.root.handlers = [_ToList(self)]
        logging.root.setLevel(logging.WARNING)

    def _warning(self, message: Any, category: type[Warning], *_args: Any, **_kw: Any) -> None:
        self.add(f"{category.__name__}: {message}")

    def add(self, line: str) -> None:
        line = " ".join(line.split())[:MAX_MESSAGE_CHARS]
        if len(self.lines) < MAX_MESSAGES:
            self.lines.append(line)
        else:
            self.dropped += 1

    def take(self) -> list[str]:
        """This stage's messages (and what it printed), then start afresh for the next one."""
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError, AttributeError):
                stream.flush()
        self.out.seek(0)
        printed = self.out.read(64 * 1024).decode("utf-8", "replace")
        self.out.seek(0)
        self.out.truncate()
        for line in printed.splitlines():
            if line.strip():
                self.add(f"printed: {line}")
        lines = self.lines + ([f"... and {self.dropped} more"] if self.dropped else [])
        self.lines, self.dropped = [], 0
        return lines


class _ToList(logging.Handler):
    def __init__(self, capture: _Capture) -> None:
        super().__init__(logging.WARNING)
        self.capture = capture

    def emit(self, record: logging.LogRecord) -> None:
        self.capture.add(f"{record.name}: {record.getMessage()}")

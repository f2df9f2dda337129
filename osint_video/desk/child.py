"""Run the download process (`fetch.py`) with a deadline enforced from outside.

The deadline is the parent's clock, not the download's: at the deadline the child's whole
process group (yt-dlp and any ffmpeg it started) is killed, whatever it is blocked on.

The child's peak memory is its own VmHWM (/proc/PID/status), which it reports with its answer
or the parent reads before killing it. Not `wait4`'s ru_maxrss: Linux carries the parent's
resident size at fork into it, so a large parent would look like a large download.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

Progress = Callable[[str, float], None]
STDOUT_MAX = 1 << 20  # the protocol is a few short lines; more is a broken child
STDERR_KEEP = 4096  # the tail kept to explain a crash
GRACE_S = 2.0  # after its answer, time the child gets to exit before it is killed


@dataclass(frozen=True)
class Fetched:
    """What the download process answered, and what it cost."""

    answer: dict[str, Any]  # {"ok": {...}} or {"error": "..."}; {} when it said nothing
    returncode: int  # negative: killed by that signal
    timed_out: bool  # killed at the deadline before it answered
    seconds: float
    peak_rss_mb: float  # the child's own peak resident memory (0: unknown)
    stderr_tail: str


class _Pipes:
    """The child's stdout (protocol lines) and stderr (a bounded tail), read without blocking."""

    def __init__(self, proc: subprocess.Popen[bytes], progress: Progress | None) -> None:
        self.proc, self.progress = proc, progress
        self.answer: dict[str, Any] = {}
        self.out, self.err = b"", b""
        self.sel = selectors.DefaultSelector()
        assert proc.stdout is not None and proc.stderr is not None
        self.stdout: IO[bytes] = proc.stdout
        self.sel.register(proc.stdout, selectors.EVENT_READ)
        self.sel.register(proc.stderr, selectors.EVENT_READ)

    def pump(self, end: float) -> None:
        """Read until the child closes stdout (it has answered and exited) or `end` passes."""
        while self._is_open(self.stdout):
            left = end - time.monotonic()
            if left <= 0:
                return
            for key, _ in self.sel.select(left):
                self._read(key.fileobj)  # type: ignore[arg-type]

    def drain(self) -> None:
        """What is left in the pipes once every writer is gone, then stop watching them."""
        while self.sel.get_map() and (ready := self.sel.select(0)):
            for key, _ in ready:
                self._read(key.fileobj)  # type: ignore[arg-type]
        self.sel.close()

    def _is_open(self, pipe: IO[bytes]) -> bool:
        return pipe in {k.fileobj for k in self.sel.get_map().values()}

    def _read(self, pipe: IO[bytes]) -> None:
        chunk = os.read(pipe.fileno(), 65536)
        if not chunk:
            self.sel.unregister(pipe)
        elif pipe is self.stdout:
            self.out += chunk
            if len(self.out) > STDOUT_MAX:
                self.answer = {"error": "the download process wrote more than its protocol allows"}
                self.sel.unregister(pipe)
                return
            *lines, self.out = self.out.split(b"\n")
            for line in lines:
                self._line(line)
        else:
            self.err = (self.err + chunk)[-STDERR_KEEP:]

    def _line(self, line: bytes) -> None:
        try:
            msg = json.loads(line)
        except ValueError:
            return
        if not isinstance(msg, dict):
            return
        if "progress" in msg and self.progress is not None:
            self.progress("download", float(msg["progress"]))
        elif "ok" in msg or "error" in msg:
            self.answer = msg


def peak_rss_mb(pid: int | str = "self") -> float:
    """A live process's peak resident memory in MB (VmHWM); 0 when it cannot be read."""
    try:
        status = open(f"/proc/{pid}/status", encoding="ascii", errors="replace").read()
    except OSError:
        return 0.0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _finish(proc: subprocess.Popen[bytes], grace_until: float) -> tuple[int, float]:
    """Wait for the child until `grace_until`, kill its process group, reap it.

    Returns:
        (return code, peak RSS in MB read before a kill; 0 when it exited by itself).
    """
    while time.monotonic() < grace_until:
        pid, status = os.waitpid(proc.pid, os.WNOHANG)
        if pid:
            break
        time.sleep(0.02)
    else:
        pid = 0
    rss = 0.0 if pid else peak_rss_mb(proc.pid)
    try:  # also any ffmpeg left behind; the group exists while the child is unreaped
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    if not pid:
        _pid, status = os.waitpid(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, rss


def run_fetch(
    request: dict[str, Any], deadline_s: float, progress: Progress | None = None
) -> Fetched:
    """Run `python -m osint_video.desk.fetch` on `request`; killed at `deadline_s`.

    Args:
        request: what `fetch.main` reads (url, dest, limits, allowed networks).
        deadline_s: seconds from now after which the child is killed.
        progress: called with ("download", fraction) as the child reports bytes.

    Returns:
        The child's answer and its cost; `timed_out` when the deadline killed it.
    """
    start = time.monotonic()
    end = start + deadline_s
    proc = subprocess.Popen(
        # -P: never import from the current directory; the child runs our installed code
        [sys.executable, "-P", "-m", "osint_video.desk.fetch"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group: killed as a whole
        env={**os.environ, "MALLOC_ARENA_MAX": "2"},  # fewer malloc arenas under RLIMIT_AS
    )
    pipes = _Pipes(proc, progress)
    try:
        assert proc.stdin is not None
        try:
            proc.stdin.write(json.dumps(request).encode())
            proc.stdin.close()
        except BrokenPipeError:
            pass  # it died at once: its stderr says why
        pipes.pump(end)
    finally:
        code, rss = _finish(proc, min(end, time.monotonic() + GRACE_S))
        pipes.drain()
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
    return Fetched(
        answer=pipes.answer,
        returncode=code,
        timed_out=not pipes.answer and time.monotonic() >= end,
        seconds=time.monotonic() - start,
        peak_rss_mb=float(pipes.answer.pop("peak_rss_mb", 0) or rss),
        stderr_tail=pipes.err.decode("utf-8", "replace"),
    )

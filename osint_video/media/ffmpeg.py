"""The only place that runs the ffmpeg and ffprobe binaries (and fpcalc, which ffmpeg feeds).

Commands are argv lists (never a shell), every call has a timeout, and a missing binary becomes
`ToolMissing` with the install line, so no caller has to think about any of that.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import functools
import json
import re
import shutil
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ProbeError, ToolMissing

INSTALL_HINT = "install it with: sudo apt-get install -y ffmpeg (or run: make setup)"
HINTS = {"fpcalc": "install it with: sudo apt-get install -y libchromaprint-tools (or: make setup)"}


def require(tool: str) -> str:
    """Absolute path of `tool` on PATH.

    Raises:
        ToolMissing: the binary is not installed.
    """
    found = shutil.which(tool)
    if not found:
        hint = INSTALL_HINT if tool in ("ffmpeg", "ffprobe") else HINTS.get(tool, f"install {tool}")
        raise ToolMissing(f"{tool} not found on PATH; {hint}")
    return found


def run(
    argv: list[str], *, timeout: float, check: bool = True
) -> subprocess.CompletedProcess[bytes]:
    """Run ffmpeg/ffprobe with a timeout; stderr is kept for error messages.

    Raises:
        ToolMissing: the binary is missing.
        ProbeError: it timed out, or exited non-zero while `check` is set.
    """
    argv = [require(argv[0]), *argv[1:]]
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise ProbeError(f"{Path(argv[0]).name} timed out after {timeout:.0f} s") from None
    if check and proc.returncode != 0:
        raise ProbeError(f"{Path(argv[0]).name} failed: {last_error_line(proc.stderr)}")
    return proc


def last_error_line(stderr: bytes) -> str:
    """The most telling line of ffmpeg's stderr (the last non-empty one)."""
    lines = [ln.strip() for ln in stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    return lines[-1] if lines else "no error output"


# Recent ffprobe answers by file identity: triage asks about the same evidence file up to three
# times (probe, then the strip's container check and stream map), ~0.1 s each.
_PROBED: collections.OrderedDict[tuple[Any, ...], dict[str, Any]] = collections.OrderedDict()
_PROBED_MAX = 8
_probed_lock = threading.Lock()


def _identity(path: Path) -> tuple[Any, ...] | None:
    """The file as it is now (a changed or replaced file is another key); None if unreadable."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (str(path.resolve()), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def ffprobe_json(
    path: str | Path, *, timeout: float, extra: list[str] | None = None
) -> dict[str, Any]:
    """`ffprobe -show_format -show_streams` (plus `extra`) as a dict.

    A plain call (no `extra`) is answered from a recent call on the same unchanged file, any
    `extra` included (its answer holds the format and streams too). Each caller gets a copy.

    Raises:
        ProbeError: ffprobe cannot parse the file at all.
    """
    ident = _identity(Path(path))
    if ident is not None and not extra:
        with _probed_lock:
            hit = next((v for k, v in _PROBED.items() if k[:-1] == ident), None)
        if hit is not None:
            return copy.deepcopy(hit)
    info = _ffprobe(Path(path), timeout, extra)
    if ident is not None:
        with _probed_lock:
            _PROBED[(*ident, tuple(extra or ()))] = info
            while len(_PROBED) > _PROBED_MAX:
                _PROBED.popitem(last=False)
    return copy.deepcopy(info)


def _ffprobe(path: Path, timeout: float, extra: list[str] | None) -> dict[str, Any]:
    argv = [
        "ffprobe",
        "-v",
        "error",
        "-of",
        "json",
        "-show_format",
        "-show_streams",
        *(extra or []),
        "-i",
        f"file:{path}",
    ]
    proc = run(argv, timeout=timeout)
    try:
        return json.loads(proc.stdout.decode("utf-8", "replace"))
    except json.JSONDecodeError as exc:
        raise ProbeError(f"ffprobe returned unreadable output: {exc}") from None


@functools.cache
def ffmpeg_version() -> str:
    """`ffmpeg -version` first line's version token, for custody records."""
    proc = run(["ffmpeg", "-hide_banner", "-version"], timeout=20, check=False)
    m = re.search(r"ffmpeg version (\S+)", proc.stdout.decode("utf-8", "replace"))
    return m.group(1) if m else "unknown"


@dataclass(frozen=True)
class Piped:
    """What `pipe_through` ran: the consumer's output and each side's error, if any."""

    output: bytes
    producer_error: str | None
    consumer_error: str | None
    timed_out: bool


def pipe_through(
    producer: list[str],
    consumer: list[str],
    tap: Callable[[bytes], None],
    *,
    timeout: float,
    chunk: int = 1 << 16,
) -> Piped:
    """Run `producer | consumer` (two of our tools, e.g. ffmpeg decoding into fpcalc) with
    `tap` seeing every chunk on its way: one decode feeds both a tool and our own analysis,
    and nothing is held whole (a six-hour track streams through in bounded memory).

    Both are killed at `timeout` seconds; a consumer that stops reading ends the producer.
    An error is the last line of a tool's stderr when it exited non-zero (`timed_out` says
    whether they were killed). A `tap` that raises kills both, and the exception propagates.

    Raises:
        ToolMissing: either binary is missing.
    """
    first = [require(producer[0]), *producer[1:]]
    second = [require(consumer[0]), *consumer[1:]]
    pipe = subprocess.PIPE
    src = subprocess.Popen(first, stdin=subprocess.DEVNULL, stdout=pipe, stderr=pipe)
    dst = subprocess.Popen(second, stdin=pipe, stdout=pipe, stderr=pipe)
    killed = threading.Event()

    def kill() -> None:
        killed.set()
        for proc in (src, dst):
            with contextlib.suppress(OSError):
                proc.kill()

    outputs: dict[str, bytes] = {}
    readers = [
        threading.Thread(target=_drain, args=(stream, outputs, key), daemon=True)
        for stream, key in ((src.stderr, "src_err"), (dst.stdout, "out"), (dst.stderr, "dst_err"))
    ]
    for r in readers:
        r.start()
    timer = threading.Timer(timeout, kill)
    timer.start()
    try:
        _feed(src, dst, tap, chunk)
    except BaseException:
        kill()
        raise
    finally:
        timer.cancel()
        src.wait()
        dst.wait()
        for r in readers:
            r.join()
    return Piped(
        outputs.get("out", b""),
        _failure(src.returncode, outputs.get("src_err", b"")),
        _failure(dst.returncode, outputs.get("dst_err", b"")),
        killed.is_set(),
    )


def _feed(
    src: subprocess.Popen[bytes],
    dst: subprocess.Popen[bytes],
    tap: Callable[[bytes], None],
    chunk: int,
) -> None:
    assert src.stdout is not None and dst.stdin is not None
    try:
        while data := src.stdout.read(chunk):
            tap(data)
            dst.stdin.write(data)
    except BrokenPipeError:  # the consumer stopped reading: the producer is not needed
        with contextlib.suppress(OSError):
            src.kill()
    finally:
        with contextlib.suppress(OSError):
            dst.stdin.close()


def _drain(stream: Any, into: dict[str, bytes], key: str) -> None:
    into[key] = stream.read()


def _failure(code: int | None, stderr: bytes) -> str | None:
    return None if code == 0 else last_error_line(stderr)

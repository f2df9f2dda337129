"""The only place that runs the ffmpeg and ffprobe binaries (and fpcalc, which ffmpeg feeds),
and that builds their commands.

Commands are argv lists (never a shell), every call has a timeout, and a missing binary becomes
`ToolMissing` with the install line, so no caller has to think about any of that.

ffmpeg command lines are built with ffmpeg-python (its graph of inputs, filters and outputs,
`.compile()` for the argv; never its `.run()`, which has no timeout): the builders below are
what callers use, and `run` runs what they return. ffprobe's stays a plain argv: ffmpeg-python
has no builder for it (its `probe()` runs ffprobe itself, without a timeout).
"""

from __future__ import annotations

import collections
import contextlib
import copy
import json
import shutil
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ProbeError, ToolMissing

INSTALL_HINT = "install it with: sudo apt-get install -y ffmpeg (or run: make setup)"
# Every ffmpeg command starts so: never read the terminal, errors only, overwrite the output
# (callers write to a fresh temporary name or a path they own).
FFMPEG = ("ffmpeg", "-nostdin", "-v", "error", "-y")
Option = str | int | float
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


def ffprobe_argv(path: Path, extra: Sequence[str] | None = None) -> list[str]:
    """`ffprobe -show_format -show_streams` (plus `extra`) as JSON, on `path` as a plain file
    (`file:`: a name that looks like a URL or protocol is never opened as one)."""
    return [
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


def _ffprobe(path: Path, timeout: float, extra: list[str] | None) -> dict[str, Any]:
    proc = run(ffprobe_argv(path, extra), timeout=timeout)
    try:
        return json.loads(proc.stdout.decode("utf-8", "replace"))
    except json.JSONDecodeError as exc:
        raise ProbeError(f"ffprobe returned unreadable output: {exc}") from None


# --- ffmpeg command lines (ffmpeg-python) ---------------------------------------------------


def _ffmpeg_python() -> Any:
    import ffmpeg as ffmpeg_python  # 0.05 s: only when a command is built

    return ffmpeg_python


def command(output: Any) -> list[str]:
    """The argv of an ffmpeg-python output (`FFMPEG` options first)."""
    argv: list[str] = output.compile(cmd=list(FFMPEG))
    return argv


def remux_argv(src: Path, dst: Path, *, muxer: str, video_filters: Sequence[str] = ()) -> list[str]:
    """Stream copy of `src`'s video and audio into `dst` (as `muxer`), without metadata:
    no container tags, no chapters, no data or subtitle tracks, bit-exact muxing.

    Args:
        src: the file to copy (opened as a plain file, `file:`).
        dst: where to write (a plain file path).
        muxer: the output format (`-f`).
        video_filters: one bitstream filter per video stream, in order ("" for none).

    Returns:
        The ffmpeg argv.
    """
    lib = _ffmpeg_python()
    source = lib.input(f"file:{src}")
    options: dict[str, Option] = {
        "c": "copy",
        "map_metadata": -1,
        "map_chapters": -1,
        "fflags": "+bitexact",
        "flags:v": "+bitexact",
        "flags:a": "+bitexact",
    }
    options.update({f"bsf:v:{i}": bsf for i, bsf in enumerate(video_filters) if bsf})
    out = lib.output(source["v"], source["a?"], f"file:{dst}", format=muxer, **options)
    return command(out)


def reencode_argv(
    src: Path, dst: Path, *, video_filter: str, options: Mapping[str, Option]
) -> list[str]:
    """`src` re-encoded into `dst` through the simple filter chain `video_filter` (`-vf`), with
    ffmpeg's default stream selection (its best video and audio stream) and output `options`
    (`{"c:v": "libx264", ...}`)."""
    source = _ffmpeg_python().input(str(src))
    return command(source.output(str(dst), vf=video_filter, **options))


def lavfi(graph: str) -> Any:
    """A generated stream: a lavfi source graph (`testsrc2=size=640x360:rate=25`), as an input
    whose ffmpeg-python filters (`.filter(name, **options)`, `.concat(...)`) build the rest."""
    return _ffmpeg_python().input(graph, format="lavfi")


def concat(streams: Sequence[Any]) -> Any:
    """The video streams one after the other (the concat filter)."""
    return _ffmpeg_python().concat(*streams, n=len(streams), v=1, a=0)


def encode_argv(stream: Any, dst: Path, options: Mapping[str, Option]) -> list[str]:
    """The ffmpeg argv that encodes the ffmpeg-python `stream` into `dst` with `options`.

    Global metadata is given as `metadata:g:<n>` keys (one option may not repeat in a
    mapping; ffmpeg reads `-metadata:g:0 k=v` as `-metadata k=v`)."""
    return command(stream.output(str(dst), **options))


# --- piping one tool into another ------------------------------------------------------


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

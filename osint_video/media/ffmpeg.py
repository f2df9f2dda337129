"""The only place that runs the ffmpeg and ffprobe binaries.

Commands are argv lists (never a shell), every call has a timeout, and a missing binary becomes
`ToolMissing` with the install line, so no caller has to think about any of that.
"""

from __future__ import annotations

import collections
import copy
import functools
import json
import re
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

from ..errors import ProbeError, ToolMissing

INSTALL_HINT = "install it with: sudo apt-get install -y ffmpeg (or run: make setup)"


def require(tool: str) -> str:
    """Absolute path of `tool` on PATH.

    Raises:
        ToolMissing: the binary is not installed.
    """
    found = shutil.which(tool)
    if not found:
        hint = INSTALL_HINT if tool in ("ffmpeg", "ffprobe") else f"install {tool}"
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

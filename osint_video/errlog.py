"""One line per failed input; the traceback of an unexpected failure kept in a log.

Every batch (`triage`, `queue add`, the local pool, a worker) turns a file's failure into one
line and goes on with the next file. A failure the tool knows (`OsintVideoError`) is its own
message; an operating-system error says what could not be read; anything else is a bug: the
user sees its type and first line, and WORKSPACE/logs/errors.log keeps the traceback for a bug
report. Writing that line must not fail in turn: names and messages may carry bytes that are
not UTF-8 (`lossless.readable`), and a log that cannot be written is said, not raised.
"""

from __future__ import annotations

import traceback
from datetime import UTC, datetime
from pathlib import Path

from .errors import OsintVideoError
from .lossless import readable


def one_line(home: Path, subject: str, exc: BaseException) -> str:
    """The message for `subject` (a file, a clip) that failed with `exc`; never raises."""
    try:
        if isinstance(exc, OsintVideoError):
            return _flat(str(exc))
        if isinstance(exc, OSError):
            return f"cannot read: {_flat(exc.strerror or str(exc))}"
        where = log_internal_error(home, subject, exc)
        return f"internal error ({type(exc).__name__}: {_flat(str(exc))}); details in {where}"
    except Exception as again:  # noqa: BLE001 - the message itself failed: say that much
        return (
            f"internal error ({type(exc).__name__}; describing it failed: {type(again).__name__})"
        )


def log_internal_error(home: Path, subject: str, exc: BaseException) -> str:
    """Append `exc`'s traceback to WORKSPACE/logs/errors.log; returns where it went."""
    log = home / "logs" / "errors.log"
    text = "".join(traceback.format_exception(exc))
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a", encoding="utf-8", errors="backslashreplace") as fh:
            now = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
            fh.write(f"--- {now} {readable(subject)}\n{readable(text)}\n")
    except OSError as err:
        return f"no log ({log} cannot be written: {err.strerror or err})"
    return str(log)


def _flat(message: str) -> str:
    """A message on one line: readable, first line only (the log has the rest)."""
    lines = readable(message).strip().splitlines()
    return lines[0] if lines else ""

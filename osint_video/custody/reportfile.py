"""Reading a report someone handed us: bounded, strict, and typed before anything uses it.

A published report.json comes from outside, and whoever hands it on may have crafted it to stall
or crash the checker (`"seq": 1000000000`, 100,000 nested brackets, `NaN`). So the work is
bounded by the file's own size: a size cap checked before reading, the nesting depth measured
on the raw bytes before parsing (vectorised, linear), no loop or allocation sized by a number
the file states. JSON is parsed strictly: UTF-8 only, no byte order mark, no NaN or Infinity,
no number too large for a double, no duplicate key (two parsers could read two different
reports from one file). Every field the checks read is type-checked first. Anything else is
one `MalformedReport` (exit code 2), never a traceback.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
import re
import stat
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import MalformedReport

# Our reports nest at most 8 levels (raw tags of a phone file); C2PA and Label Studio results add
# a few. 100 leaves room and keeps every recursive reader far from Python's ~1000 frames.
MAX_DEPTH = 100
SIG_MAX_BYTES = 1024  # a signature file is one base64 line of 64 bytes (89 characters)
KEY_MAX_BYTES = 64 * 1024
# How far past the number of events in a report a seq may go: a log cut by more than this many
# events is not a log this report holds (and bounds every search by seq).
SEQ_SLACK = 64
_HEX64 = re.compile(r"[0-9a-f]{64}")
_FINGERPRINT = re.compile(r"sha256:[0-9a-f]{64}")


def read_bounded(path: Path, limit: int, what: str = "report") -> bytes:
    """The bytes of `path`, refused before reading when larger than `limit`.

    Opened without blocking and refused unless it is a regular file: a FIFO would hold the
    checker until someone writes to it, /dev/zero would never end.

    Raises:
        MalformedReport: unreadable, not a regular file, or over the limit.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise MalformedReport(f"cannot read {path}: {exc.strerror or exc}") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
        os.close(fd)
        if not stat.S_ISREG(st.st_mode):
            raise MalformedReport(f"{path} is not a regular file")
        raise MalformedReport(
            f"{path}: {st.st_size:,} bytes is over the {limit:,}-byte limit for a {what}"
        )
    with os.fdopen(fd, "rb") as fh:
        try:
            data = fh.read(limit + 1)  # a file that grows while read is cut here
        except OSError as exc:
            raise MalformedReport(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise MalformedReport(f"{path}: more than the {limit:,}-byte limit for a {what}")
    return data


def nesting_depth(data: bytes) -> int:
    """The deepest nesting of arrays and objects in JSON bytes, brackets inside strings ignored.

    Linear in the size (a few numpy passes): quotes preceded by an odd run of backslashes are
    escaped; between the unescaped ones is string. An unterminated string runs to the end.
    """
    import numpy as np

    a = np.frombuffer(data, np.uint8)
    quotes = np.flatnonzero(a == 0x22)
    if quotes.size:
        quotes = quotes[~_escaped(a, quotes)]
    marks = np.zeros(a.size, np.uint8)
    marks[quotes] = 1
    outside = np.bitwise_xor.accumulate(marks) == 0
    opens = ((a == 0x5B) | (a == 0x7B)) & outside
    closes = ((a == 0x5D) | (a == 0x7D)) & outside
    steps = opens.view(np.int8) - closes.view(np.int8)
    if not steps.size:
        return 0
    return int(np.cumsum(steps, dtype=np.int32).max(initial=0))


def _escaped(a: Any, quotes: Any) -> Any:
    """For each quote position, whether an odd run of backslashes comes right before it."""
    import numpy as np

    out = np.zeros(quotes.size, bool)
    after_bs = (quotes > 0) & (a[np.maximum(quotes - 1, 0)] == 0x5C)
    if not after_bs.any():
        return out
    last_plain = np.arange(a.size, dtype=np.int32)
    last_plain[a == 0x5C] = -1
    np.maximum.accumulate(last_plain, out=last_plain)  # last non-backslash at or before k
    q = quotes[after_bs]
    out[after_bs] = ((q - 1 - last_plain[q - 1]) % 2) == 1
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} does not fit a double")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"duplicate key {short(key)!r}")
            seen.add(key)
    return obj


def parse_strict(data: bytes, name: str) -> Any:
    """Strict JSON from bytes (see the module docstring for what is refused).

    Raises:
        MalformedReport: naming the first thing wrong, in one line.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        raise MalformedReport(f"{name} starts with a byte order mark: not a report we wrote")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedReport(f"{name} is not UTF-8 (byte {exc.start})") from None
    if not text.strip():
        raise MalformedReport(f"{name} is empty")
    depth = nesting_depth(data)
    if depth > MAX_DEPTH:
        raise MalformedReport(f"{name} nests {depth} levels deep (at most {MAX_DEPTH})")
    try:
        return json.loads(
            text,
            parse_constant=_no_constant,
            parse_float=_finite,
            object_pairs_hook=_unique_keys,
        )
    except RecursionError:
        raise MalformedReport(f"{name} nests too deep to read") from None
    except ValueError as exc:
        why = str(exc)
        if "integer string conversion" in why:
            why = f"a number has more than {sys.get_int_max_str_digits():,} digits"
        raise MalformedReport(f"{name} is not strict JSON: {short(why, 160)}") from None


def short(text: str, limit: int = 80) -> str:
    """A value from a report, cut for a message (a field can be megabytes long)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def read_report(path: Path, max_bytes: int) -> dict[str, Any]:
    """A report file, bounded and strictly parsed, with every field the checks use typed.

    Raises:
        MalformedReport: too big, not strict JSON, or not shaped like a report.
    """
    data = parse_strict(read_bounded(path, max_bytes), str(path))
    if not isinstance(data, dict):
        raise MalformedReport(f"{path} is not a report (not a JSON object)")
    problem = shape_problem(data)
    if problem:
        raise MalformedReport(f"{path} is not a well-formed report: {problem}")
    return data


def shape_problem(report: Mapping[str, Any]) -> str | None:
    """The first field the checks rely on that is missing or of the wrong type (None: fine)."""
    problem = _signature_shape(report.get("signature"))
    if problem:
        return problem
    if report.get("report_type") == "case":
        return _case_shape(report)
    if "report_type" in report and report["report_type"] is not None:
        return f"report_type {_show(report['report_type'])} is not 'case' or absent"
    clip = report.get("clip")
    if not isinstance(clip, dict):
        return "no clip object"
    if not _is_sha(clip.get("sha256")):
        return "clip.sha256 is not 64 hex digits"
    custody = report.get("custody")
    if not isinstance(custody, list):
        return "custody is not a list"
    for i, entry in enumerate(custody):
        problem = _event_shape(entry, len(custody))
        if problem:
            return f"custody[{i}]: {problem}"
    return _head_shape(report.get("custody_head"), len(custody), "custody_head")


def _case_shape(report: Mapping[str, Any]) -> str | None:
    clips = report.get("clips")
    if not isinstance(clips, list):
        return "clips is not a list"
    for i, clip in enumerate(clips):
        if not isinstance(clip, dict):
            return f"clips[{i}] is not an object"
        if not _is_sha(clip.get("sha256")):
            return f"clips[{i}].sha256 is not 64 hex digits"
        problem = _head_shape(clip.get("custody_head"), None, f"clips[{i}].custody_head")
        if problem:
            return problem
    return None


EVENT_TYPES = {"at": str, "actor": str, "action": str, "details": dict}


def _event_shape(entry: Any, count: int) -> str | None:
    if not isinstance(entry, dict):
        return "not an object"
    problem = _seq_problem(entry.get("seq"), count)
    if problem:
        return problem
    for key, kind in EVENT_TYPES.items():
        if not isinstance(entry.get(key), kind):
            return f"{key} is not {'an object' if kind is dict else 'a string'}"
    for key in ("prev_hash", "hash"):
        value = entry.get(key)
        if value is not None and not _is_sha(value):
            return f"{key} is not null or 64 hex digits"
    return None


def _seq_problem(seq: Any, count: int | None) -> str | None:
    if not isinstance(seq, int) or isinstance(seq, bool):
        return f"seq {_show(seq)} is not an integer"
    if seq < 1:
        return f"seq {seq} is not positive"
    if count is not None and seq > count + SEQ_SLACK:
        return (
            f"seq {short(str(seq), 24)} is beyond anything a log of {count} event(s) holds "
            f"(at most {count + SEQ_SLACK})"
        )
    return None


def _head_shape(head: Any, count: int | None, where: str) -> str | None:
    """`custody_head` {seq, hash, at}: absent in reports written before it was recorded."""
    if head is None:
        return None
    if not isinstance(head, dict):
        return f"{where} is not an object"
    problem = _seq_problem(head.get("seq"), count)
    if problem:
        return f"{where}: {problem}"
    if not _is_sha(head.get("hash")):
        return f"{where}.hash is not 64 hex digits"
    if not isinstance(head.get("at"), str):
        return f"{where}.at is not a string"
    return None


def _signature_shape(block: Any) -> str | None:
    if block is None:
        return None
    if not isinstance(block, dict):
        return "signature is not an object"
    if block.get("algorithm") != "Ed25519":
        return f"signature.algorithm {_show(block.get('algorithm'))} is not Ed25519"
    if not isinstance(block.get("key_fingerprint"), str) or not _FINGERPRINT.fullmatch(
        block["key_fingerprint"]
    ):
        return "signature.key_fingerprint is not sha256:<64 hex digits>"
    public = block.get("public_key")
    if not isinstance(public, str):
        return "signature.public_key is not a string"
    try:
        raw = base64.b64decode(public, validate=True)
    except (ValueError, binascii.Error):
        return "signature.public_key is not base64"
    if len(raw) != 32:
        return f"signature.public_key holds {len(raw)} bytes, not an Ed25519 key (32)"
    if "signed_file" in block and not isinstance(block["signed_file"], str):
        return "signature.signed_file is not a string"
    return None


def read_signature(path: Path) -> bytes | None:
    """The 64 raw bytes of a detached signature file (None: there is no such file).

    Raises:
        MalformedReport: too big, not one base64 line, or not 64 bytes once decoded.
    """
    if not path.exists():
        return None
    data = read_bounded(path, SIG_MAX_BYTES, "signature file")
    try:
        raw = base64.b64decode(data.strip(), validate=True)
    except (ValueError, binascii.Error):
        raise MalformedReport(f"the signature file {path.name} is not base64") from None
    if len(raw) != 64:
        raise MalformedReport(
            f"the signature file {path.name} holds {len(raw)} bytes, not an Ed25519 signature (64)"
        )
    return raw


def _is_sha(value: Any) -> bool:
    return isinstance(value, str) and _HEX64.fullmatch(value) is not None


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(short(value, 40))
    if isinstance(value, bool | int | float) or value is None:
        return short(json.dumps(value), 24)
    return f"(a JSON {'object' if isinstance(value, dict) else 'array'})"

"""Names and user text kept losslessly: readable text everywhere, the exact bytes beside it.

File names on POSIX are bytes, and so are command-line arguments. Python hands them over as
str with every byte that is not valid UTF-8 turned into a lone surrogate (U+DC80-U+DCFF,
"surrogateescape"), and such a str cannot be written as UTF-8: not to the case store, a report,
a log or a terminal. Names from zip archives of Russian and Ukrainian channels are exactly
that: cp1251 bytes (`printf 'a_\\xcf\\xf0\\xe8.mp4'` is "a_При.mp4").

The convention, wherever a name or a user's text is kept or shown:

- the text itself is *readable*: valid UTF-8 in which each byte that is not part of valid UTF-8
  is written as the four characters `\\xNN` (Python's `backslashreplace`):
  `a_\\xcf\\xf0\\xe8.mp4`;
- when, and only when, the original was not valid UTF-8, the record also holds the exact
  original bytes, base64 (RFC 4648, standard alphabet), in an `original_bytes` object keyed by
  the field's name: `{"filename": "YV/P8OgubXA0"}`. A field that is not in `original_bytes` is
  exactly its text, so a name that really contains a backslash is never taken for an escape.

`restore` gives the original back as Python's own str form (the surrogates), which opens the
same file again (`os.fsencode` of it is the original bytes).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any


def is_exact(text: str) -> bool:
    """True when `text` is valid Unicode that UTF-8 can write as it is (nothing to escape)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def to_bytes(text: str) -> bytes:
    """The bytes `text` stands for: UTF-8, each escaped byte (surrogateescape) as itself.

    A surrogate outside the escape range (a lone `\\ud800` from hostile JSON) has no byte form;
    it becomes its three-byte encoding ("surrogatepass") and so reads as `\\xed\\xa0\\x80`.
    """
    if is_exact(text):
        return text.encode("utf-8")
    return _mixed_bytes(text)


def readable(text: str) -> str:
    """`text` as valid UTF-8, each byte that is not valid UTF-8 written as `\\xNN`."""
    if is_exact(text):
        return text
    raw = _mixed_bytes(text)
    return raw.decode("utf-8", "backslashreplace")


def _mixed_bytes(text: str) -> bytes:
    """Escaped bytes (U+DC80-U+DCFF) as themselves, other lone surrogates as 3 bytes each."""
    out = bytearray()
    for ch in text:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:
            out.append(code - 0xDC00)
        else:
            out += ch.encode("utf-8", "surrogatepass")
    return bytes(out)


def original_b64(text: str) -> str | None:
    """Base64 of the original bytes, or None when `text` is exactly its readable form."""
    if is_exact(text):
        return None
    return base64.b64encode(_mixed_bytes(text)).decode("ascii")


def restore(text: str, b64: str | None) -> str:
    """The original as Python's str form (surrogateescape) from its readable text and bytes.

    A missing or unreadable `b64` leaves the readable text (it is then the original).
    """
    if not b64:
        return text
    try:
        raw = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        return text
    return raw.decode("utf-8", "surrogateescape")


def split(fields: Mapping[str, str | None]) -> tuple[dict[str, str | None], dict[str, str]]:
    """Readable values of `fields`, and {field: base64} of those that were not valid UTF-8."""
    shown: dict[str, str | None] = {}
    originals: dict[str, str] = {}
    for key, value in fields.items():
        if value is None:
            shown[key] = None
            continue
        shown[key] = readable(value)
        b64 = original_b64(value)
        if b64 is not None:
            originals[key] = b64
    return shown, originals


def keep_originals(details: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON-like record fit for UTF-8: top-level strings readable with their bytes kept in
    `original_bytes`; strings deeper down readable (a safety net: no caller nests names)."""
    out: dict[str, Any] = {}
    originals: dict[str, str] = dict(details.get("original_bytes") or {})
    for key, value in details.items():
        if key == "original_bytes":
            continue
        if isinstance(value, str):
            out[key] = readable(value)
            b64 = original_b64(value)
            if b64 is not None:
                originals[key] = b64
        else:
            out[key] = readable_deep(value)
    if originals:
        out["original_bytes"] = originals
    return out


def readable_deep(value: Any) -> Any:
    """Every string (keys too) in a JSON-like value made readable; other values unchanged."""
    if isinstance(value, str):
        return readable(value)
    if isinstance(value, Mapping):
        return {
            (readable(k) if isinstance(k, str) else k): readable_deep(v) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [readable_deep(v) for v in value]
    return value

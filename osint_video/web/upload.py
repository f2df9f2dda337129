"""Uploads streamed to the workspace: a multipart body parsed as it arrives, each file written
straight into a fresh folder under `WORKSPACE/tmp/` (never /tmp, never held in memory).

Limits are applied while bytes arrive: a file over `[web] max_upload_mb` stops the upload at
that byte. The CSRF token must be the first part of the form (browsers send parts in document
order, and ours puts it first), so no byte of a file is written for a forged request. Anything
that goes wrong (too large, cut off mid-way, malformed, client gone) removes the whole folder:
nothing half-written is left.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import unicodedata
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from ..errors import InputError

MAX_FIELDS = 20
MAX_FIELD_BYTES = 64 * 1024
MAX_FILES = 50


class UploadRefused(InputError):
    """The upload is refused as a whole (its reason is one line for the page)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Upload:
    """What arrived: the form's fields and the files, in a folder the caller removes."""

    folder: Path
    fields: dict[str, str] = field(default_factory=dict)
    files: list[tuple[str, Path]] = field(default_factory=list)  # (name as sent, where)
    empty: list[str] = field(default_factory=list)


def safe_name(sent: str, index: int) -> str:
    """A file name for the upload folder from what the browser sent: its last path
    component, without control characters; never empty, never `.` or `..`."""
    name = re.split(r"[\\/]", sent)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip()
    if name in ("", ".", ".."):
        name = f"upload-{index}"
    return name[:200]


class _Parts:
    """Parser callbacks: headers, fields in memory (small), files to disk (bounded)."""

    def __init__(self, up: Upload, max_bytes: int, check_csrf: Callable[[str], bool]) -> None:
        self.up, self.max_bytes, self.check_csrf = up, max_bytes, check_csrf
        self.csrf_ok = False
        self.ended = False
        self._hname = self._hvalue = b""
        self._disposition = b""
        self._name: str = ""
        self._file: IO[bytes] | None = None
        self._path: Path | None = None
        self._sent = ""
        self._size = 0
        self._data = bytearray()
        self._skip = False

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self.begin,
            "on_part_data": self.data,
            "on_part_end": self.end,
            "on_header_field": lambda d, s, e: setattr(self, "_hname", self._hname + d[s:e]),
            "on_header_value": lambda d, s, e: setattr(self, "_hvalue", self._hvalue + d[s:e]),
            "on_header_end": self.header_end,
            "on_headers_finished": self.headers_finished,
            "on_end": lambda: setattr(self, "ended", True),
        }

    def begin(self) -> None:
        self._disposition, self._data, self._size = b"", bytearray(), 0
        self._file, self._path, self._skip = None, None, False

    def header_end(self) -> None:
        if self._hname.lower() == b"content-disposition":
            self._disposition = self._hvalue
        self._hname = self._hvalue = b""

    def headers_finished(self) -> None:
        _kind, opts = parse_options_header(self._disposition)
        self._name = opts.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" not in opts:
            if len(self.up.fields) >= MAX_FIELDS:
                raise UploadRefused("too many form fields")
            return
        if not self.csrf_ok:
            raise UploadRefused("the form's security token is missing or wrong: reload", 403)
        self._sent = opts[b"filename"].decode("utf-8", "replace")
        if not self._sent:  # an empty file input sends a part with no file name
            self._skip = True
            return
        if len(self.up.files) >= MAX_FILES:
            raise UploadRefused(f"too many files at once (at most {MAX_FILES})", 413)
        sub = self.up.folder / str(len(self.up.files))
        sub.mkdir()
        self._path = sub / safe_name(self._sent, len(self.up.files))
        self._file = open(self._path, "xb")  # noqa: SIM115 - closed in end() or by abort

    def data(self, d: bytes, s: int, e: int) -> None:
        if self._file is not None:
            self._size += e - s
            if self._size > self.max_bytes:
                mb = self.max_bytes / (1 << 20)
                raise UploadRefused(f"{self._sent}: larger than the limit of {mb:g} MB", 413)
            self._file.write(d[s:e])
        elif not self._skip:
            self._data += d[s:e]
            if len(self._data) > MAX_FIELD_BYTES:
                raise UploadRefused(f"form field {self._name!r} is too long")

    def end(self) -> None:
        if self._file is not None and self._path is not None:
            self._file.close()
            self._file = None
            if self._size == 0:
                self.up.empty.append(self._sent)
                shutil.rmtree(self._path.parent)
            else:
                self.up.files.append((self._sent, self._path))
        elif not self._skip:
            value = self._data.decode("utf-8", "replace")
            if self._name == "csrf" and not self.up.fields and not self.up.files:
                self.csrf_ok = self.check_csrf(value)
            self.up.fields[self._name] = value
        self._sent = ""

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


async def receive(
    content_type: str,
    stream: AsyncIterator[bytes],
    tmp_root: Path,
    max_bytes: int,
    check_csrf: Callable[[str], bool],
) -> Upload:
    """Parse a multipart upload into a new folder under `tmp_root`.

    Raises:
        UploadRefused: forged (403), too large (413), cut off, or malformed (400); the folder
            is gone. A client that disconnects gets the same clean-up (and no answer).
    """
    kind, params = parse_options_header(content_type)
    if kind != b"multipart/form-data" or b"boundary" not in params:
        raise UploadRefused("expected a multipart/form-data upload")
    tmp_root.mkdir(parents=True, exist_ok=True)
    up = Upload(Path(tempfile.mkdtemp(prefix="upload-", dir=tmp_root)))
    parts = _Parts(up, max_bytes, check_csrf)
    try:
        parser = MultipartParser(params[b"boundary"], parts.callbacks())  # type: ignore[arg-type]
        async for chunk in stream:
            parser.write(chunk)
        parser.finalize()
        if not parts.ended:
            raise UploadRefused("the upload was cut off before its end: nothing was kept")
        if not parts.csrf_ok:
            raise UploadRefused("the form's security token is missing or wrong: reload", 403)
        return up
    except FormParserError:
        parts.close()
        shutil.rmtree(up.folder, ignore_errors=True)
        raise UploadRefused("malformed upload: nothing was kept") from None
    except BaseException:
        parts.close()
        shutil.rmtree(up.folder, ignore_errors=True)
        raise

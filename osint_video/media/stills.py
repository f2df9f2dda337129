"""What a still image says about itself: its header (Pillow) and its EXIF (exifread).

Both run in the probe's child process (`bounded.py`), and each is also bounded by
construction: Pillow only opens the header (`Image.open` is lazy, no pixel is decoded), and
exifread reads through a file wrapper that allows `MAX_EXIF_READS` reads and `MAX_EXIF_BYTES`
bytes: a real EXIF block takes a few hundred reads, a crafted directory of 65,535 entries asked
for 65 million (68 s and 514 MB before this cap). What exifread warns about while reading
(a corrupted IFD, a value past the end of the file) is kept: damaged EXIF is a finding.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, cast

import exifread
import pillow_heif
from PIL import Image

from ..errors import InputError
from .containers import read_jpeg_xmp

MAX_EXIF_READS = 100_000
MAX_EXIF_BYTES = 16 << 20
MAX_WARNINGS = 20
XMP_KEYS = ("xmp", "XML:com.adobe.xmp")


@dataclass(frozen=True)
class ImageHeader:
    """Pixel size and format from the header; text chunks and the XMP packet, if any."""

    size: tuple[int, int] | None = None
    format: str | None = None
    text: dict[str, str] = field(default_factory=dict)
    xmp: str | None = None
    problem: str | None = None  # why Pillow could not open it


@dataclass(frozen=True)
class ExifRead:
    """The EXIF tags as exifread prints them, and what was wrong with the EXIF block.

    `damage`: exifread's warnings and the error it stopped on, if any; `cut_short`: the work
    cap that stopped the read (the tags are then not kept: exifread returns nothing partial).
    """

    tags: dict[str, str] = field(default_factory=dict)
    damage: tuple[str, ...] = ()
    cut_short: str | None = None


class _OverBudget(Exception):
    """The EXIF read asked for more reads or bytes than any real EXIF block needs."""


@functools.cache
def _heif_registered() -> bool:
    pillow_heif.register_heif_opener()
    return True


def warm_up() -> None:
    """Set up the probe's fork server (`bounded.py`), never the caller's process: load every
    Pillow plugin and the HEIF opener now (Pillow loads them on the first open, ~10 ms) so the
    children do not each pay for it, and lift Pillow's decompression-bomb limit there, so that
    the header of any picture gives its true size (nothing is decoded in the probe; the
    desk's `max_pixels` is applied before any decode)."""
    _heif_registered()
    Image.init()
    Image.MAX_IMAGE_PIXELS = None


def read_image_header(path: Path) -> ImageHeader:
    """Open the image lazily for its size, format, text chunks and XMP; decode no pixel.

    In the probe's child Pillow's decompression-bomb limit is lifted (`warm_up`), so a huge
    picture's size is known; elsewhere the limit stands and such a header is a `problem`.
    """
    _heif_registered()
    try:
        with Image.open(path) as img:
            size, fmt, info = img.size, img.format, dict(img.info)
    except OSError as exc:
        if not path.is_file():
            raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
        return ImageHeader(problem=_one_line(exc))
    except Exception as exc:  # noqa: BLE001 - Pillow's plugins raise anything on crafted headers
        return ImageHeader(problem=_one_line(exc))
    text = {str(k): v for k, v in info.items() if isinstance(v, str) and k not in XMP_KEYS}
    return ImageHeader(size, fmt, text, _xmp(path, fmt, info))


def _xmp(path: Path, fmt: str | None, info: dict[Any, Any]) -> str | None:
    value = info.get("xmp") or info.get("XML:com.adobe.xmp")
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, str):
        return value
    if fmt == "JPEG":
        with open(path, "rb") as f:
            return read_jpeg_xmp(f)
    return None


def read_exif(path: Path) -> ExifRead:
    """The EXIF tags (thumbnails left out), within the read budget, with exifread's warnings.

    Raises:
        InputError: the file cannot be opened.
    """
    warned = _Warnings()  # the records still reach the root logger: bounded.py logs them
    logger = logging.getLogger("exifread")
    logger.addHandler(warned)
    try:
        with open(path, "rb") as f:
            tags = exifread.process_file(
                cast(BinaryIO, _Budget(f)), details=False, extract_thumbnail=False
            )
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    except _OverBudget as exc:
        return ExifRead(damage=warned.lines(), cut_short=str(exc))
    except Exception as exc:  # noqa: BLE001 - exifread raises bare errors on damaged EXIF
        return ExifRead(damage=(*warned.lines(), f"exifread stopped: {_one_line(exc)}"))
    finally:
        logger.removeHandler(warned)
    kept = {k: str(v) for k, v in tags.items() if not isinstance(v, bytes) and "Thumbnail" not in k}
    return ExifRead(kept, warned.lines())


class _Budget:
    """A read-only file for exifread that stops it past `MAX_EXIF_READS`/`MAX_EXIF_BYTES`."""

    def __init__(self, f: BinaryIO) -> None:
        self.f, self.reads, self.bytes = f, 0, 0

    def read(self, n: int = -1) -> bytes:
        self.reads += 1
        if self.reads > MAX_EXIF_READS:
            raise _OverBudget(f"more than {MAX_EXIF_READS} reads (a real EXIF block needs ~1000)")
        if n is None or n < 0 or self.bytes + n > MAX_EXIF_BYTES:
            n = MAX_EXIF_BYTES - self.bytes + 1
        data = self.f.read(n)
        self.bytes += len(data)
        if self.bytes > MAX_EXIF_BYTES:
            raise _OverBudget(f"more than {MAX_EXIF_BYTES >> 20} MB read")
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.f.seek(offset, whence)

    def tell(self) -> int:
        return self.f.tell()


class _Warnings(logging.Handler):
    """exifread's WARNING records, except its 'this file has no EXIF' notice (not damage)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen: list[str] = []
        self.more = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.funcName == "process_file":  # ExifNotFound: "PNG file does not have exif data."
            return
        if len(self.seen) < MAX_WARNINGS:
            self.seen.append(_one_line(record.getMessage()))
        else:
            self.more += 1

    def lines(self) -> tuple[str, ...]:
        return (*self.seen, *([f"... and {self.more} more warnings"] if self.more else []))


def _one_line(exc: BaseException | str) -> str:
    text = str(exc) if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())[:300]

"""A fast lossless PNG writer for full-resolution keyframes.

Why not PIL: on grainy 1080p frames PIL's encoder (libpng-style filtering + zlib level 1) costs
about 0.19 s per frame, more than decoding the frame. Here every row gets the PNG "Up" filter
(one numpy subtraction) and the image data is deflated by ISA-L (`isal`, several times faster
than zlib at the same ratio on such frames): about 0.03 s per 1080p frame, files the same size.
Any PNG reader decodes the result to exactly the input pixels (tested against Pillow).
"""

from __future__ import annotations

import zlib

import numpy as np

try:  # optional speed-up; plain zlib gives the same PNG bytes' meaning, only slower
    from isal import isal_zlib as _deflate
except ImportError:  # pragma: no cover - isal is a dependency; this keeps a broken install working
    _deflate = zlib  # type: ignore[assignment,misc]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOUR_TYPE = {1: 0, 3: 2, 4: 6}  # channels -> PNG colour type (grey, RGB, RGBA)
FILTER_UP = 2


def encode_png(pixels: np.ndarray, level: int = 1) -> bytes:
    """PNG bytes of an 8-bit grey (h, w), RGB (h, w, 3) or RGBA (h, w, 4) array.

    Args:
        pixels: uint8 array, rows top to bottom.
        level: deflate level (0-3 for ISA-L; higher is smaller and slower).

    Returns:
        a complete PNG file.

    Raises:
        ValueError: not a uint8 array of a supported shape.
    """
    if pixels.dtype != np.uint8 or pixels.ndim not in (2, 3):
        raise ValueError(f"need a uint8 (h, w[, c]) array, got {pixels.dtype} {pixels.shape}")
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    if channels not in _COLOUR_TYPE or 0 in pixels.shape[:2]:
        raise ValueError(f"unsupported image shape {pixels.shape}")
    h, w = pixels.shape[:2]
    rows = np.ascontiguousarray(pixels).reshape(h, w * channels)
    raw = np.empty((h, w * channels + 1), np.uint8)
    raw[:, 0] = FILTER_UP
    raw[0, 0] = 0  # the first row has nothing above it: no filter
    raw[0, 1:] = rows[0]
    np.subtract(rows[1:], rows[:-1], out=raw[1:, 1:])  # wraps modulo 256, as PNG specifies
    colour = _COLOUR_TYPE[channels]
    header = w.to_bytes(4, "big") + h.to_bytes(4, "big") + bytes([8, colour, 0, 0, 0])
    data = _deflate.compress(raw.tobytes(), min(max(level, 0), 3))
    return PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(data, zlib.crc32(kind))
    return len(data).to_bytes(4, "big") + kind + data + crc.to_bytes(4, "big")

"""Still images as pixels: one loader for every format we accept, upright by EXIF orientation."""

from __future__ import annotations

import functools
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import ExtractionError


@functools.cache
def _register_heif() -> None:
    try:
        import pillow_heif
    except ImportError:  # pragma: no cover - declared dependency
        return
    pillow_heif.register_heif_opener()


def load_upright(path: Path) -> Image.Image:
    """Decode a still (JPEG, PNG, TIFF, WebP, HEIC, GIF first frame) and apply EXIF orientation.

    Raises:
        ExtractionError: the pixels cannot be decoded.
    """
    _register_heif()
    try:
        with Image.open(path) as img:
            img.seek(0)
            upright = ImageOps.exif_transpose(img)
            return (upright if upright is not None else img).convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ExtractionError(f"cannot decode image pixels: {exc}") from None

"""Still images as pixels: one loader for every format we accept, upright by EXIF orientation.

Decoding is where a small file becomes a large allocation (a 140 KB PNG of 144 megapixels took
1.85 GB), so every decode here first checks the size the header declares against the desk's
`[probe] max_pixels` cap and refuses, with one line, a picture above it.
"""

from __future__ import annotations

import functools
import warnings
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


@functools.cache
def quiet_pillow() -> None:
    """Pillow's warnings (a damaged tag, a large picture) are not shown to the user: the probe
    recorded them as evidence when it opened the file, and `max_pixels` replaces Pillow's
    size warning. Installed once, the first time a still is decoded."""
    warnings.filterwarnings("ignore", module=r"PIL(\..*)?$")


def require_pixels_within(
    width: int | None, height: int | None, max_pixels: int | None, *, still: bool = False
) -> None:
    """Refuse to decode a picture larger than `max_pixels` (None: no cap of our own).

    Args:
        width: the declared width (None: unknown).
        height: the declared height.
        max_pixels: the cap.
        still: a still whose size the probe could not read is refused too (its header did
            not open within the probe's limits; decoding it here would be unbounded).

    Raises:
        ExtractionError: width x height is above the cap (or unknown, for a still).
    """
    if not width or not height:
        if still:
            raise ExtractionError("the probe could not read the image header: not decoded")
        return
    if max_pixels is None or width * height <= max_pixels:
        return
    raise ExtractionError(
        f"the picture is {width}x{height} ({width * height / 1e6:.0f} megapixels), over the "
        f"probe.max_pixels cap of {max_pixels / 1e6:g} megapixels: not decoded"
    )


def load_upright(path: Path, max_pixels: int | None = None) -> Image.Image:
    """Decode a still (JPEG, PNG, TIFF, WebP, HEIC, GIF first frame) and apply EXIF orientation.

    Args:
        path: the still.
        max_pixels: the largest width x height decoded (None: only Pillow's own limit).

    Raises:
        ExtractionError: the pixels cannot be decoded, or there are more than `max_pixels`.
    """
    _register_heif()
    quiet_pillow()
    try:
        with Image.open(path) as img:
            require_pixels_within(img.width, img.height, max_pixels)
            img.seek(0)
            upright = ImageOps.exif_transpose(img)
            return (upright if upright is not None else img).convert("RGB")
    except Image.DecompressionBombError as exc:
        raise ExtractionError(f"not decoded: {exc}") from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ExtractionError(f"cannot decode image pixels: {exc}") from None

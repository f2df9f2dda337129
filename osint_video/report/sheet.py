"""Keyframe thumbnails and the contact sheet: every keyframe as a labelled tile on one image.

Both read the small `thumbs/<name>` file the keyframe step wrote beside each keyframe when it
is there (the same `thumbnail` call made it), so a report does not decode full-resolution PNGs.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from ..errors import ReportError

THUMB_QUALITY = 80


def thumbnail_uri(workspace: Path, rel_path: str, width: int) -> str | None:
    """A JPEG data: URI of a downscaled keyframe, or None when the file is missing or unreadable
    (the report must still render: a missing derived file is itself worth seeing)."""
    root = workspace.resolve()
    path = (root / rel_path).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        return None
    try:
        img = thumbnail(path, width)
        buf = io.BytesIO()
        img.convert("RGB").save(buf, "JPEG", quality=THUMB_QUALITY)
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def thumbnail(path: Path, width: int) -> Image.Image:
    """The keyframe shrunk to `width`: the triage step already wrote it as `thumbs/<name>` next
    to the keyframe, made by this same `thumbnail` call (identical pixels); reading that small
    file instead of the full PNG saves decoding a full-resolution PNG per keyframe. Narrower
    pictures (the matches' side-by-side pairs) are shrunk from that file too: they are only
    shown, and decoding a 1080p PNG costs ~10 ms each."""
    cached = path.parent / "thumbs" / path.name
    if cached.is_file():
        with Image.open(cached) as small:
            if small.width >= width:
                small.load()
                out = small.copy() if small.mode == "RGB" else small.convert("RGB")
                if small.width > width:
                    out.thumbnail((width, width * 4), Image.Resampling.LANCZOS)
                return out
    with Image.open(path) as img:
        img.thumbnail((width, width * 4), Image.Resampling.LANCZOS)
        return img.copy() if img.mode == "RGB" else img.convert("RGB")


def _label_font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _load_tile(path: Path, width: int) -> Image.Image:
    try:
        return thumbnail(path, width).convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ReportError(f"cannot read keyframe {path}: {exc}") from exc


def make_contact_sheet(
    images: Sequence[tuple[Path, str]], out: Path, columns: int, thumb_width: int
) -> Path:
    """One image with every keyframe as a tile, each labelled (typically with its timecode).

    Args:
        images: (keyframe image path, label text) in display order.
        out: where to write it: JPEG for a .jpg/.jpeg name, else PNG; written to a temporary
            name first, then renamed, so a crash never leaves half a sheet.
        columns: tiles per row.
        thumb_width: tile width in pixels (height follows the aspect ratio).

    Returns:
        `out`.

    Raises:
        ReportError: no images, an unreadable image, or the sheet could not be written.
        ValueError: columns < 1 or thumb_width < 16.
    """
    if columns < 1 or thumb_width < 16:
        raise ValueError(f"bad contact sheet geometry: {columns} columns of {thumb_width} px")
    if not images:
        raise ReportError("no keyframes to put on a contact sheet")
    tiles = [(_load_tile(Path(p), thumb_width), label) for p, label in images]
    font_px = max(12, thumb_width // 16)
    pad, label_h = 8, font_px + 10
    cell_h = max(t.height for t, _ in tiles) + label_h
    rows = -(-len(tiles) // columns)
    sheet = Image.new(
        "RGB", (pad + columns * (thumb_width + pad), pad + rows * (cell_h + pad)), (32, 32, 32)
    )
    draw, font = ImageDraw.Draw(sheet), _label_font(font_px)
    for i, (tile, label) in enumerate(tiles):
        x = pad + (i % columns) * (thumb_width + pad)
        y = pad + (i // columns) * (cell_h + pad)
        sheet.paste(tile, (x + (thumb_width - tile.width) // 2, y))
        draw.text((x + 2, y + cell_h - label_h + 4), label, fill=(240, 240, 240), font=font)
    return _save_atomically(sheet, out)


def _save_atomically(img: Image.Image, out: Path) -> Path:
    tmp = out.with_name(f".{out.name}.partial")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.suffix.lower() in (".jpg", ".jpeg"):
            img.save(tmp, "JPEG", quality=88)
        else:
            img.save(tmp, "PNG")
        tmp.replace(out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ReportError(f"cannot write contact sheet {out}: {exc}") from exc
    return out

"""Versions of the tools that touch evidence, recorded in custody events."""

from __future__ import annotations

import functools
import importlib.metadata
import platform

__version__ = "0.1.0"

_PACKAGES = (
    "osint-video",
    "av",
    "opencv-python-headless",
    "numpy",
    "pillow",
    "imagehash",
    "exifread",
    "ffmpeg-python",
    "sqlalchemy",
    "pillow-heif",
)


@functools.cache
def package_versions() -> dict[str, str]:
    """Installed versions of the Python packages that read or write evidence."""
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out

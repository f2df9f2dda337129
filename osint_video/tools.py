"""What actually ran: the versions a custody event names, tool by tool.

A custody event says which tools touched the evidence in that step, so a lawyer (or a later
analyst re-running the step) can tell exactly what produced an output. Each step names the
tools it uses and gets only those: a report step does not claim ffmpeg, a strip does not
claim tesseract. Versions are asked of the tools themselves, not of our dependency list: the
ffmpeg and ffprobe binaries on PATH (they may differ from each other, and PyAV carries its own
libav), tesseract with a fingerprint of each language model it loaded (a `tesseract-ocr-rus`
upgrade changes what is read), the C2PA native SDK inside c2pa-python.

Each answer is computed once per process (a binary is asked once) and only when asked, so a
step that needs two Python packages never imports OpenCV or starts ffmpeg.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import platform
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path

UNKNOWN = "unknown"
MISSING = "missing"


def _dist(name: str) -> Callable[[], str]:
    def version() -> str:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return MISSING

    return version


def _binary(tool: str, pattern: str, flag: str = "-version") -> Callable[[], str]:
    def version() -> str:
        path = shutil.which(tool)
        if path is None:
            return MISSING
        try:
            out = subprocess.run(
                [path, flag], capture_output=True, timeout=20, stdin=subprocess.DEVNULL
            ).stdout.decode("utf-8", "replace")
        except (OSError, subprocess.TimeoutExpired):
            return UNKNOWN
        m = re.search(pattern, out)
        return m.group(1) if m else UNKNOWN

    return version


def _pyav() -> str:
    """PyAV and the libav it was built with (it decodes frames, not the ffmpeg binary)."""
    try:
        import av
    except ImportError:
        return MISSING
    libs = getattr(av, "library_versions", {}) or {}
    codec = libs.get("libavcodec")
    lib = ".".join(str(p) for p in codec) if codec else UNKNOWN
    return f"{av.__version__} (libavcodec {lib})"


def _opencv() -> str:
    try:
        import cv2
    except ImportError:
        return MISSING
    return str(cv2.__version__)


def _c2pa() -> str:
    """c2pa-python and the native C2PA SDK inside it (the SDK validates the manifests)."""
    package = _dist("c2pa-python")()
    if package == MISSING:
        return MISSING
    try:
        import c2pa

        return f"{package} (sdk {c2pa.sdk_version()})"
    except Exception:  # noqa: BLE001 - a broken native library still has a package version
        return package


def _tesseract() -> str:
    """tesseract's own version line (e.g. "5.3.0")."""
    return _binary("tesseract", r"tesseract\s+v?(\S+)", "--version")()


def tessdata_fingerprints(languages: Iterable[str]) -> str:
    """Each language model as `lang:<first 12 hex of its SHA-256>`, in the given order.

    Why a hash: the version of a Debian language pack is not visible to tesseract, and a new
    model reads the same frame differently; the file's digest names it exactly.
    """
    folder = _tessdata_dir()
    parts = []
    for lang in languages:
        model = folder / f"{lang}.traineddata" if folder else None
        if model is None or not model.is_file():
            parts.append(f"{lang}:{MISSING}")
            continue
        parts.append(f"{lang}:{_sha256_prefix(model)}")
    return " ".join(parts)


@functools.cache
def _sha256_prefix(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()[:12]


@functools.cache
def _tessdata_dir() -> Path | None:
    """The folder `tesseract --list-langs` reads its models from."""
    path = shutil.which("tesseract")
    if path is None:
        return None
    try:
        out = subprocess.run(
            [path, "--list-langs"], capture_output=True, timeout=20, stdin=subprocess.DEVNULL
        ).stdout.decode("utf-8", "replace")
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r'"([^"]+)"', out)
    return Path(m.group(1)) if m else None


TOOLS: dict[str, Callable[[], str]] = {
    "osint-video": _dist("osint-video"),
    "python": platform.python_version,
    "ffmpeg": _binary("ffmpeg", r"ffmpeg version (\S+)"),
    "ffprobe": _binary("ffprobe", r"ffprobe version (\S+)"),
    "ffmpeg-python": _dist("ffmpeg-python"),
    "pyav": _pyav,
    "opencv": _opencv,
    "numpy": _dist("numpy"),
    "scipy": _dist("scipy"),
    "pillow": _dist("pillow"),
    "pillow-heif": _dist("pillow-heif"),
    "imagehash": _dist("imagehash"),
    "exifread": _dist("exifread"),
    "c2pa-python": _c2pa,
    "tesseract": _tesseract,
    "fpcalc": _binary("fpcalc", r"fpcalc version (\S+)"),
    "weasyprint": _dist("weasyprint"),
    "jinja2": _dist("jinja2"),
    "sqlalchemy": _dist("sqlalchemy"),
    "cryptography": _dist("cryptography"),
    "yt-dlp": _dist("yt-dlp"),
}
BASE = ("osint-video", "python")  # every event: our own code ran


@functools.cache
def version_of(name: str) -> str:
    """The version of one tool in `TOOLS` ("missing" when it is not installed).

    Raises:
        KeyError: a tool this module does not know (a programming error, caught by tests).
    """
    return TOOLS[name]()


def tool_versions(names: Iterable[str] = ()) -> dict[str, str]:
    """{tool: version} for our own code plus `names`, in that order.

    Args:
        names: keys of `TOOLS` the step used.
    """
    return {name: version_of(name) for name in (*BASE, *names)}

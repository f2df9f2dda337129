"""On-screen text of keyframes with tesseract (through pytesseract).

Measured on 1280x720 frames (see ../shared/ECOSYSTEM.md and `osint-video` tests):
- tesseract is shown one black-on-white picture. The darkest of R, G, B per pixel keeps white
  or grey overlay text bright while any saturated colour turns dark; thresholding it ("bright")
  leaves the light text as ink on a blank page. On white, black-outlined phrases over the colour
  bars of H.264 test clips this read 15 of 15 frames; unthresholded ("minrgb") 11 of 12; luma
  ("gray", what tesseract does by itself) 3 of 12, with misreads at confidence 90+.
- `--psm 11` (sparse text) suits overlays and signs scattered over a picture.
- Burned-in words score 92-96; "words" found in texture up to 78 on real footage, so the
  default filter is 80. Single characters count only on a line that holds a 2+ character word.
- `OMP_THREAD_LIMIT=1`: tesseract's OpenMP threads make it slower on 2 cores, so each frame gets
  one single-threaded tesseract process and frames run side by side (`read_many`).
"""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from ..config import OcrConfig
from ..errors import ConfigError, OcrError
from .language import guess_language
from .words import Line, PageText, Word, keep_words, merge_passes


def _import_pytesseract() -> Any:
    """pytesseract, without the pandas it imports whenever pandas is installed.

    label-studio-sdk installs pandas (with pyarrow); pytesseract imports it only to offer
    DataFrame output, which we never ask for. That import cost every process that reads text
    (every triage) about 75 MB resident and 0.24 s. A `None` in `sys.modules` makes that one
    `import pandas` fail as if pandas were absent; pandas stays importable afterwards.
    """
    import importlib
    import sys

    hide = "pandas" not in sys.modules
    if hide:
        sys.modules["pandas"] = None  # type: ignore[assignment]
    try:
        return importlib.import_module("pytesseract")
    finally:
        if hide:
            del sys.modules["pandas"]


pytesseract = _import_pytesseract()

PREPROCESS = ("bright", "minrgb", "gray")
INSTALL = "install it with: sudo apt-get install -y {pkg} (or run: make setup)"


def debian_package(lang: str) -> str:
    """The Debian package holding a tesseract language pack (`chi_sim` -> tesseract-ocr-chi-sim)."""
    return "tesseract-ocr-" + lang.lower().replace("_", "-")


def check_tesseract(cfg: OcrConfig) -> str:
    """Make sure tesseract and every configured language pack are installed.

    Returns:
        The tesseract version, e.g. "5.3.0".

    Raises:
        OcrError: the binary or a language pack is missing (naming the Debian package).
        ConfigError: `ocr.preprocess` or `ocr.languages` is not usable.
    """
    unknown = [p for p in cfg.preprocess if p not in PREPROCESS]
    if unknown or not cfg.preprocess:
        allowed = ", ".join(PREPROCESS)
        raise ConfigError(
            f"config option ocr.preprocess: {unknown or 'nothing'} is not one of {allowed}"
        )
    wanted = [lang for lang in cfg.languages.split("+") if lang]
    if not wanted:
        raise ConfigError("config option ocr.languages: no language given")
    cmd = pytesseract.pytesseract.tesseract_cmd
    binary = shutil.which(cmd)
    if binary is None:
        raise OcrError(f"{cmd} not found on PATH; {INSTALL.format(pkg='tesseract-ocr')}")
    installed = set(_installed_languages(binary))
    for lang in wanted:
        if lang not in installed:
            raise OcrError(
                f"tesseract language pack {lang!r} is missing; "
                + INSTALL.format(pkg=debian_package(lang))
            )
    return _version(binary)


@functools.lru_cache(maxsize=8)
def _installed_languages(binary: str) -> tuple[str, ...]:
    """Packs installed for this tesseract binary (asked once per process: it is a subprocess)."""
    try:
        return tuple(pytesseract.get_languages(config=""))
    except (pytesseract.TesseractNotFoundError, pytesseract.TesseractError, OSError) as exc:
        raise OcrError(f"tesseract cannot list its language packs: {exc}") from None


@functools.lru_cache(maxsize=8)
def _version(binary: str) -> str:
    try:
        return str(pytesseract.get_tesseract_version())
    except (pytesseract.TesseractNotFoundError, OSError) as exc:
        raise OcrError(f"tesseract cannot report its version: {exc}") from None


def model_version(cfg: OcrConfig, version: str) -> str:
    """What made a prediction, for Label Studio's model_version (and the custody record).

    e.g. "tesseract-5.3.0 rus+ukr+eng psm11 bright180" (passes joined with "+").
    """
    how = "+".join(f"bright{cfg.bright_threshold}" if p == "bright" else p for p in cfg.preprocess)
    return f"tesseract-{version} {cfg.languages} psm{cfg.psm} {how}"


def _picture(image: Image.Image, how: str, cfg: OcrConfig) -> Image.Image:
    """The grey picture one pass shows tesseract (see the module docstring for why "bright")."""
    if how == "gray":
        return ImageOps.grayscale(image)
    darkest = np.asarray(image.convert("RGB")).min(axis=2)
    if how == "minrgb":
        return Image.fromarray(darkest)
    return Image.fromarray(np.where(darkest > cfg.bright_threshold, 0, 255).astype(np.uint8))


def image_data(picture: Any, cfg: OcrConfig, psm: int, name: str) -> dict[str, list[Any]]:
    """tesseract's words with their boxes and confidences (`image_to_data`) for one picture.

    Raises:
        OcrError: tesseract is missing, failed, or timed out (`cfg.timeout_s`).
    """
    os.environ["OMP_THREAD_LIMIT"] = "1"  # measured: faster on 2 cores; read by the child
    try:
        return pytesseract.image_to_data(
            picture,
            lang=cfg.languages,
            config=f"--psm {psm}",
            output_type=pytesseract.Output.DICT,
            timeout=cfg.timeout_s,
        )
    except pytesseract.TesseractNotFoundError:
        raise OcrError(f"tesseract not found; {INSTALL.format(pkg='tesseract-ocr')}") from None
    except (pytesseract.TesseractError, RuntimeError) as exc:  # RuntimeError: timeout
        raise OcrError(f"tesseract failed on {name}: {exc}") from None


def _lines(data: dict[str, list[Any]]) -> list[Line]:
    """Words grouped by tesseract's (block, paragraph, line), in reading order."""
    lines: dict[tuple[int, int, int], Line] = {}
    for i, raw in enumerate(data["text"]):
        text = str(raw).strip()
        conf = float(data["conf"][i])
        if not text or conf < 0:
            continue
        key = (int(data["block_num"][i]), int(data["par_num"][i]), int(data["line_num"][i]))
        box = (int(data[k][i]) for k in ("left", "top", "width", "height"))
        lines.setdefault(key, []).append(Word(text, conf, *box))
    return list(lines.values())


def read_text(image_path: Path, cfg: OcrConfig, *, version: str | None = None) -> PageText:
    """Read the on-screen text of one image (a keyframe PNG).

    Sets `OMP_THREAD_LIMIT=1` in this process's environment: pytesseract hands `os.environ` to
    the tesseract child, and one thread per frame is faster on 2 cores (measured).

    Args:
        image_path: the image; it is only read.
        cfg: the [ocr] configuration (languages, psm, confidence filter, preprocessing).
        version: tesseract's version when the caller already checked (skips the check).

    Returns:
        The kept words with pixel boxes, the text line by line, its language and a score.

    Raises:
        OcrError: tesseract or a language pack is missing, the image is unreadable, or
            tesseract failed or timed out.
    """
    version = version or check_tesseract(cfg)
    try:
        with Image.open(image_path) as img:
            img.load()
            image = img.convert("RGB")
    except OSError as exc:
        raise OcrError(f"cannot read image {image_path}: {exc}") from None
    passes = []
    for how in cfg.preprocess:
        data = image_data(_picture(image, how, cfg), cfg, cfg.psm, Path(image_path).name)
        passes.append(keep_words(_lines(data), cfg.min_confidence))
    return _page(merge_passes(passes), image.size, model_version(cfg, version))


def _page(lines: list[Line], size: tuple[int, int], version: str) -> PageText:
    words = tuple(w for line in lines for w in line)
    text = "\n".join(" ".join(w.text for w in line) for line in lines)
    score = sum(w.conf for w in words) / len(words) / 100.0 if words else 0.0
    return PageText(
        words=words,
        text=text,
        language=guess_language(text) if words else None,
        width=size[0],
        height=size[1],
        model_version=version,
        score=min(1.0, score),
    )


def read_many(
    paths: Sequence[Path], cfg: OcrConfig, progress: Callable[[float], None] | None = None
) -> list[PageText]:
    """Read many images side by side, one single-threaded tesseract process per worker.

    Threads are enough to drive the tesseract processes (the work happens in the child; the
    Python side only decodes the PNG and waits), so nothing has to be pickled or forked.

    Args:
        paths: images to read.
        cfg: [ocr] configuration; `workers` (0 = one per CPU core) sets the parallelism.
        progress: called with the fraction done (0..1) after each image.

    Returns:
        One `PageText` per path, in the order given.

    Raises:
        OcrError: as `read_text`; the first failure stops the batch.
    """
    version = check_tesseract(cfg)
    workers = cfg.workers if cfg.workers > 0 else (os.cpu_count() or 1)
    out: list[PageText] = []
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(paths) or 1))) as pool:
        for page in pool.map(lambda p: read_text(p, cfg, version=version), paths):
            out.append(page)
            if progress:
                progress(len(out) / len(paths))
    return out

"""Perceptual hashes of keyframes: a self-describing value type and a batched, exact computation.

Why not call imagehash directly: it resizes and converts every image twice (once per algorithm)
and runs a scipy DCT per image. Here each image is converted to grey once, both thumbnails come
from that grey image through the very same PIL calls imagehash makes (so the pixels are equal),
and the pHash DCT runs as two matrix products over a whole batch.

The results are bit-identical to `imagehash.phash` / `imagehash.dhash` (hash_size 8), which
matters because hashes are stored in the archive and compared across years: one resize path and
one DCT for the whole archive, never mixed. A matrix DCT and scipy's FFT-based DCT differ by
about 1e-10; that can only change a bit when a coefficient sits within that of the median (flat
or mirror-symmetric frames, where several coefficients are mathematically equal). Those rare
frames are detected and re-decided with scipy's own DCT, exactly as imagehash computes them.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

HASH_SIZE = 8
PHASH_SIZE = HASH_SIZE * 4  # imagehash's highfreq_factor = 4: a 32x32 grey thumbnail
ALGORITHMS = ("phash", "dhash")
BATCH_SIZE = 256
MAX_THREADS = 4
THREAD_MIN_PIXELS = 640 * 360  # below this a thread hand-off costs more than the resize
TEXTURE_SIZE = 64
# A coefficient closer than this (relative to the block's scale) to the median is a near tie.
_TIE_RELATIVE = 1e-9
_HASH_RE = re.compile(r"^([a-z][a-z0-9_]*):([1-9][0-9]*):([0-9a-f]+)$")


@dataclass(frozen=True)
class FrameHash:
    """One perceptual hash that says which algorithm and size made it.

    `str()` gives `phash:64:ba8c84536bd3c366` (hex digits in imagehash's bit order: row-major,
    first bit most significant), `FrameHash.parse` reads it back. Equality is exact; closeness
    is asked for by name (`similar`) with an explicit threshold, never through `==`.
    """

    algorithm: str
    bits: int
    value: int

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", self.algorithm):
            raise ValueError(f"hash algorithm must be a lowercase name, got {self.algorithm!r}")
        if self.bits <= 0 or self.bits % 4:
            raise ValueError(f"hash size must be a positive multiple of 4 bits, got {self.bits}")
        if not 0 <= self.value < (1 << self.bits):
            raise ValueError(f"hash value does not fit in {self.bits} bits")

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.bits}:{self.hex}"

    @property
    def hex(self) -> str:
        """The bare hex digits, as `str(imagehash_hash)` prints them."""
        return format(self.value, f"0{self.bits // 4}x")

    @classmethod
    def parse(cls, text: str) -> FrameHash:
        """Read `algorithm:bits:hex` back.

        Raises:
            ValueError: the text is not in that form or the hex has the wrong length.
        """
        m = _HASH_RE.match(text.strip())
        if not m:
            raise ValueError(f"not a hash string (expected algorithm:bits:hex): {text!r}")
        algorithm, bits, digits = m.group(1), int(m.group(2)), m.group(3)
        if len(digits) * 4 != bits:
            raise ValueError(f"{text!r}: {len(digits)} hex digits do not make {bits} bits")
        return cls(algorithm, bits, int(digits, 16))

    def _check_comparable(self, other: FrameHash) -> None:
        if (self.algorithm, self.bits) != (other.algorithm, other.bits):
            raise ValueError(
                f"cannot compare {self.algorithm}:{self.bits} with {other.algorithm}:{other.bits}"
            )

    def __sub__(self, other: Any) -> int:
        """Hamming distance in bits.

        Raises:
            ValueError: the hashes come from different algorithms or sizes (meaningless distance).
        """
        if not isinstance(other, FrameHash):
            return NotImplemented
        self._check_comparable(other)
        return (self.value ^ other.value).bit_count()

    def similar(self, other: FrameHash, max_distance: int) -> bool:
        """True when the two hashes differ by at most `max_distance` bits.

        Raises:
            ValueError: different algorithms or sizes, or a negative threshold.
        """
        if max_distance < 0:
            raise ValueError(f"max_distance must be >= 0, got {max_distance}")
        return self - other <= max_distance


def _bits_to_int(bits: np.ndarray) -> int:
    """Row-major boolean block to an int, first bit most significant (imagehash's hex order)."""
    return int.from_bytes(np.packbits(bits.reshape(-1)).tobytes(), "big")


def _dct_matrix(n: int, rows: int) -> np.ndarray:
    """First `rows` rows of the unnormalised DCT-II matrix, scipy.fftpack's type 2 convention:
    y[k] = 2 * sum_n x[n] * cos(pi * k * (2n + 1) / (2N))."""
    k = np.arange(rows)[:, None]
    i = np.arange(n)[None, :]
    return 2.0 * np.cos(np.pi * k * (2 * i + 1) / (2 * n))


_DCT = _dct_matrix(PHASH_SIZE, HASH_SIZE)


def _phash_reference_bits(pixels: np.ndarray) -> np.ndarray:
    """imagehash's own arithmetic (scipy.fftpack DCT), for the rare near-tie frames."""
    import scipy.fftpack  # imagehash depends on scipy; only near ties need it

    dct = scipy.fftpack.dct(scipy.fftpack.dct(pixels, axis=0), axis=1)
    low = dct[:HASH_SIZE, :HASH_SIZE]
    return low > np.median(low)


def phash_bits(batch: np.ndarray) -> np.ndarray:
    """pHash bits of a batch of 32x32 grey thumbnails, shape (n, 32, 32) -> (n, 8, 8) bool.

    Only the 8x8 low-frequency corner is needed, so the 2-D DCT is D @ X @ D.T with D the first
    8 rows of the DCT matrix: 16 k multiply-adds per image instead of a full transform.
    """
    x = batch.astype(np.float64)
    low = np.matmul(np.matmul(_DCT, x), _DCT.T)
    flat = low.reshape(len(x), -1)
    med = np.median(flat, axis=1, keepdims=True)
    bits = flat > med
    scale = np.maximum(np.abs(flat).max(axis=1, keepdims=True), 1.0)
    near_tie = (np.abs(flat - med) <= _TIE_RELATIVE * scale).any(axis=1)
    for i in np.flatnonzero(near_tie):
        bits[i] = _phash_reference_bits(batch[i]).reshape(-1)
    return bits.reshape(len(x), HASH_SIZE, HASH_SIZE)


def dhash_bits(batch: np.ndarray) -> np.ndarray:
    """dHash bits of a batch of 8-row x 9-column grey thumbnails: is each pixel brighter than
    its left neighbour. (n, 8, 9) -> (n, 8, 8) bool."""
    return batch[:, :, 1:] > batch[:, :, :-1]


def _thumbnails(image: Image.Image, algorithms: Sequence[str]) -> dict[str, np.ndarray]:
    """The grey thumbnails imagehash would hash, made from one grey conversion."""
    grey = image.convert("L")
    out = {}
    if "phash" in algorithms:
        out["phash"] = np.asarray(grey.resize((PHASH_SIZE, PHASH_SIZE), Image.Resampling.LANCZOS))
    if "dhash" in algorithms:
        out["dhash"] = np.asarray(grey.resize((HASH_SIZE + 1, HASH_SIZE), Image.Resampling.LANCZOS))
    return out


_BITS_FN = {"phash": phash_bits, "dhash": dhash_bits}


def _make_thumbnails(
    images: Sequence[Image.Image], algorithms: Sequence[str]
) -> list[dict[str, np.ndarray]]:
    """Thumbnails for a batch; big frames in a few threads (PIL releases the GIL while
    resizing), small ones inline, where a thread hand-off would cost more than the resize."""
    make = functools.partial(_thumbnails, algorithms=algorithms)
    big = sum(1 for img in images if img.width * img.height >= THREAD_MIN_PIXELS)
    workers = min(big, os.cpu_count() or 1, MAX_THREADS)
    if workers < 2:
        return [make(img) for img in images]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(make, images))


def compute_hashes(
    images: Sequence[Image.Image], algorithms: Sequence[str] = ALGORITHMS
) -> list[dict[str, FrameHash]]:
    """Perceptual hashes of each image, bit-identical to imagehash (hash_size 8).

    Images are processed in batches of `BATCH_SIZE`: one grey conversion and the imagehash
    thumbnails per image, then each algorithm's bits for the whole batch at once in numpy.

    Args:
        images: PIL images in any mode (converted to grey as imagehash does).
        algorithms: names among `ALGORITHMS`.

    Returns:
        One dict per image, algorithm name -> FrameHash, in input order.

    Raises:
        ValueError: an unknown algorithm name.
    """
    unknown = [a for a in algorithms if a not in _BITS_FN]
    if unknown:
        raise ValueError(f"unknown hash algorithm(s) {unknown}; known: {', '.join(ALGORITHMS)}")
    size = HASH_SIZE * HASH_SIZE
    results: list[dict[str, FrameHash]] = []
    for start in range(0, len(images), BATCH_SIZE):
        thumbs = _make_thumbnails(images[start : start + BATCH_SIZE], algorithms)
        bits = {a: _BITS_FN[a](np.stack([t[a] for t in thumbs])) for a in algorithms}
        for j in range(len(thumbs)):
            results.append({a: FrameHash(a, size, _bits_to_int(bits[a][j])) for a in algorithms})
    return results


def texture_std(image: Image.Image) -> float:
    """Standard deviation of grey levels on a small box-filtered copy.

    Why: on a flat, black or pure-noise frame the pHash bits are decided by rounding noise, so
    two unrelated black frames may "match" and one black frame may match nothing. Box-averaging
    first removes grain, so sensor noise alone also scores low. Callers compare the result with
    `hashing.min_texture_std` to mark such frames uninformative.
    """
    grey = image.convert("L")
    factor = max(1, -(-max(grey.size) // TEXTURE_SIZE))
    small = grey.reduce(factor) if factor > 1 else grey
    return float(np.asarray(small, dtype=np.float64).std())

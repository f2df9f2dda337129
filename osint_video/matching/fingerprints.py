"""Match fingerprints of sampled frames: pHashes of several views of each frame.

Why several views (measured on real re-uploads, PERFORMANCE.md):
* black borders are removed per frame (letterbox/pillarbox move the full-frame pHash ~18 bits;
  compilations mix bordered and full-frame segments, so it cannot be done once per video);
* the mirrored frame is hashed too (a flip moves pHash ~30 bits; a common evasion trick);
* centre crops: the archive keeps the full frame and its central 80 %, a query also asks with
  its central 90 %, so a 10 % crop (plus watermark) meets its original within a few bits;
* flat frames (grey std below ~8: black, sky, title backgrounds) hash to noise or to one
  constant (0x8000000000000000): they are marked uninformative and never matched.

Hashes are `hashing.hashes.compute_hashes` pHashes (bit-identical to imagehash, PIL LANCZOS to
32x32 grey), one resize path for the whole archive.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..hashing.hashes import HASH_SIZE, compute_hashes, texture_std
from .sampler import Sample

# A row/column is border when nearly all its pixels are this dark.
BLACK_LEVEL = 24
BORDER_FILL = 0.98
# Views, in the order of `FrameFingerprint.hashes`. STORED views go into the archive index.
VIEWS = ("full", "full_mirror", "center80", "center90", "center90_mirror")
STORED_VIEWS = ("full", "center80")
BATCH = 64  # samples fingerprinted at once (bounds memory on long footage)
QUERY_VIEWS = ("full", "full_mirror", "center90", "center90_mirror")
# What makes every view's hash: `FrameHash`'s algorithm:bits, stored with each fingerprint row.
ALGORITHM = "phash"
HASH = f"{ALGORITHM}:{HASH_SIZE * HASH_SIZE}"


@dataclass(frozen=True)
class FrameFingerprint:
    """One sampled frame: time, texture (grey std after border removal) and one pHash per view."""

    time_s: float
    texture: float
    informative: bool
    hashes: tuple[int, ...]

    def view(self, name: str) -> int:
        return self.hashes[VIEWS.index(name)]


def trim_borders(grey: np.ndarray) -> np.ndarray:
    """The frame without black bars on any side (letterbox, pillarbox, windowbox).

    A bar is a run of rows (or columns) from an edge in which at least 98 % of the pixels are
    darker than `BLACK_LEVEL`; a burned-in caption inside a bar keeps that row. A frame that is
    black everywhere comes back unchanged (and is then rejected for lack of texture).
    """
    dark = grey < BLACK_LEVEL
    rows = np.flatnonzero(dark.mean(axis=1) < BORDER_FILL)
    cols = np.flatnonzero(dark.mean(axis=0) < BORDER_FILL)
    if rows.size == 0 or cols.size == 0:
        return grey
    return grey[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def center(grey: np.ndarray, fraction: float) -> np.ndarray:
    """The central `fraction` of the frame in each dimension."""
    h, w = grey.shape
    dy, dx = round(h * (1 - fraction) / 2), round(w * (1 - fraction) / 2)
    return grey[dy : h - dy or h, dx : w - dx or w]


def _views(grey: np.ndarray) -> list[np.ndarray]:
    c90 = center(grey, 0.9)
    return [grey, grey[:, ::-1], center(grey, 0.8), c90, c90[:, ::-1]]


def _fingerprint_batch(samples: Sequence[Sample], min_texture_std: float) -> list[FrameFingerprint]:
    images: list[Image.Image] = []
    textures: list[float] = []
    for s in samples:
        grey = trim_borders(s.grey)
        img = Image.fromarray(np.ascontiguousarray(grey))
        textures.append(texture_std(img))
        images.extend(Image.fromarray(np.ascontiguousarray(v)) for v in _views(grey))
    hashes = [h[ALGORITHM].value for h in compute_hashes(images, (ALGORITHM,))]
    n = len(VIEWS)
    return [
        FrameFingerprint(
            s.time_s,
            round(tex, 3),
            tex >= min_texture_std,
            tuple(hashes[i * n : (i + 1) * n]),
        )
        for i, (s, tex) in enumerate(zip(samples, textures, strict=True))
    ]


# Two pictures whose stored views are all within this many bits of each other may stand in for
# the samples between them where the keyframe pass decodes nothing (a GOP whose keyframes look
# alike): far inside the match radius, so a re-upload sampled frame by frame still agrees.
ALIKE_BITS = 4


def alike(a: np.ndarray, b: np.ndarray) -> bool:
    """Do two sampled pictures (grey, as `SampleTap.convert` makes them) fingerprint alike?"""
    fa, fb = _fingerprint_batch([Sample(0.0, a), Sample(0.0, b)], 0.0)
    return all(bin(fa.view(v) ^ fb.view(v)).count("1") <= ALIKE_BITS for v in STORED_VIEWS)


def fingerprint(samples: Iterable[Sample], min_texture_std: float) -> list[FrameFingerprint]:
    """Fingerprints of sampled frames, in order (uninformative ones included, marked).

    Samples are consumed in batches of `BATCH` so that long footage is never held at once.

    Args:
        samples: from `sampler.iter_samples` (any iterable).
        min_texture_std: frames below this grey std after border removal are uninformative.

    Returns:
        One `FrameFingerprint` per sample.
    """
    out: list[FrameFingerprint] = []
    batch: list[Sample] = []
    for s in samples:
        batch.append(s)
        if len(batch) == BATCH:
            out.extend(_fingerprint_batch(batch, min_texture_std))
            batch = []
    if batch:
        out.extend(_fingerprint_batch(batch, min_texture_std))
    return out

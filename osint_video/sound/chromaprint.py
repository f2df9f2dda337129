"""Chromaprint's raw fingerprint, as `fpcalc -raw` (Debian libchromaprint-tools) makes it.

Why the tool and not a binding: it is the maintained reference build, packaged by Debian, and
it reads raw PCM on its standard input, so our one decode (ffmpeg) feeds it and our own
analysis in the same pass (`media.ffmpeg.pipe_through`). pyacoustid would only wrap the same
library (or this very tool) and is not a dependency.

The raw fingerprint is one 32-bit sub-fingerprint every 4096/3 samples at 11,025 Hz
(0.1238 s); each is computed from 20 overlapping 4096-sample frames, so it covers 2.72 s of
sound starting at its own time (sub-fingerprint k starts at k x 0.1238 s). Under ~3 s of
sound gives none.
"""

from __future__ import annotations

import json

import numpy as np

RATE = 11025  # Chromaprint resamples everything to this rate
HOP = 4096 / 3  # samples between sub-fingerprints (algorithm 2: frame 4096, overlap 2/3)
ITEM_S = HOP / RATE
SPAN = 19 * HOP + 4096  # samples one sub-fingerprint is computed from
SPAN_S = SPAN / RATE
ALGORITHM = "chromaprint:2"


def fpcalc_argv() -> list[str]:
    """fpcalc reading raw 11,025 Hz mono s16le from its standard input, whole (`-length 0`)."""
    return [
        "fpcalc",
        "-format",
        "s16le",
        "-rate",
        str(RATE),
        "-channels",
        "1",
        "-algorithm",
        "2",
        "-raw",
        "-length",
        "0",
        "-json",
        "-",
    ]


def parse_raw(output: bytes) -> np.ndarray | None:
    """fpcalc's JSON answer -> the sub-fingerprints (uint32); None when it gave none.

    fpcalc reading a pipe exits non-zero at its end ("Error decoding audio frame (End of
    file)") after printing the fingerprint, so the answer, not the exit code, decides.
    """
    try:
        values = json.loads(output.decode("utf-8", "replace"))["fingerprint"]
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(values, list) or not values:
        return None
    try:
        return np.array(values, dtype=np.int64).astype(np.uint32)
    except (TypeError, ValueError, OverflowError):
        return None

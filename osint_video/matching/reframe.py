"""Is one picture the other one reframed? The check behind a sound-only match.

Reposts for short-video platforms crop 16:9 footage to its centre 9:16; news broadcasts show
it picture-in-picture; reaction videos shrink it into a corner. Picture hashes do not survive
that (the frame they hash is another frame), the sound does. So where the sound matches and
the hashes do not, a few aligned pictures are decoded from both clips and each is searched for
inside the other, at the scales a reframe uses (normalised cross-correlation, OpenCV's
`matchTemplate`): a crop is the other picture at the same height, an inset is it at 25-60 %.
Measured on generated footage (tests/sound_media.py): a 9:16 centre crop correlates at
0.86-0.88, a picture-in-picture at 40 % at 0.88, the very picture at 1.0, unrelated pictures
at 0.15-0.20.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SCALES = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.45, 0.4, 0.35, 0.3, 0.25)
SAME = 0.75  # correlation from which one picture is taken to contain the other
MIN_SIDE = 16  # a template smaller than this (pixels) says nothing


def containment(big: np.ndarray, small: np.ndarray) -> float:
    """Best correlation of `small` (scaled to fractions of `big`'s height) anywhere in `big`."""
    import cv2

    best = -1.0
    h, w = big.shape
    for s in SCALES:
        th = round(h * s)
        tw = round(small.shape[1] * th / max(1, small.shape[0]))
        if th < MIN_SIDE or tw < MIN_SIDE or tw > w or th > h:
            continue
        tpl = cv2.resize(small, (tw, th), interpolation=cv2.INTER_AREA)
        if float(tpl.std()) < 4.0:  # a flat template correlates with anything
            continue
        res = cv2.matchTemplate(big, tpl, cv2.TM_CCOEFF_NORMED)
        best = max(best, float(res.max()))
    return best


def reframed(ours: Sequence[np.ndarray | None], theirs: Sequence[np.ndarray | None]) -> bool:
    """Do most aligned picture pairs contain one another (either way round)?"""
    scores = [
        max(containment(a, b), containment(b, a))
        for a, b in zip(ours, theirs, strict=False)
        if a is not None and b is not None
    ]
    if not scores:
        return False
    return float(np.median(scores)) >= SAME

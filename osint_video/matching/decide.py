"""Clip-level decision: frames that agree at one steady time offset, not single collisions.

A frame-level hit (query frame i within the radius of another clip's frame at time t) votes for
the offset t - t_i. Copies of the same footage (trimmed, re-timed, inside a compilation) put
many hits at one offset (within the tolerance); a black frame, a logo or a title card matching
some unrelated clip puts one or two hits at arbitrary offsets. Votes count distinct frames on
both sides (a static query shot matching one frame of another clip is one vote, not twenty) and
are weighted by distance and by the query frame's texture.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from ..config import MatchingConfig


@dataclass(frozen=True)
class Pair:
    """Query frame `i` at `this_t` matched another clip's frame at `other_t` at `distance`."""

    i: int
    this_t: float
    other_t: float
    distance: int
    weight: float
    mirrored: bool = False  # found through a left-right flipped view of the query frame


@dataclass(frozen=True)
class Cluster:
    """Pairs sharing one offset: a time range of this clip that is a time range of the other."""

    pairs: tuple[Pair, ...]
    votes: float

    @property
    def agreeing(self) -> int:
        """Distinct frames on the SMALLER side: a static shot matching one frame counts 1."""
        return min(len({p.i for p in self.pairs}), len({round(p.other_t, 3) for p in self.pairs}))

    def as_range(self) -> dict[str, float]:
        this = [p.this_t for p in self.pairs]
        other = [p.other_t for p in self.pairs]
        return {
            "this_start_s": round(min(this), 3),
            "this_end_s": round(max(this), 3),
            "other_start_s": round(min(other), 3),
            "other_end_s": round(max(other), 3),
        }


@dataclass(frozen=True)
class ClipVote:
    """The decision for one other clip.

    `score` is agreement relative to the SHORTER clip (a short clip inside a compilation
    scores high); `coverage` is the share of the LONGER clip's informative frames that agree
    (near 1 only when the two clips are the same footage end to end: the duplicate test).
    `mirrored`: most agreeing frames match best as mirror images, so one clip is the other
    flipped left to right (a common trick against matching; text in the picture reads
    backwards in the flipped one).
    """

    other_clip_id: int
    clusters: tuple[Cluster, ...]
    score: float
    coverage: float
    frames: int
    distances: tuple[int, ...]
    matched: bool
    mirrored: bool = False


def _window_votes(pairs: list[Pair]) -> float:
    best: dict[int, float] = {}
    for p in pairs:
        best[p.i] = max(best.get(p.i, 0.0), p.weight)
    distinct_other = len({round(p.other_t, 3) for p in pairs})
    return min(sum(best.values()), float(distinct_other))


def _best_cluster(pairs: list[Pair], tol: float) -> Cluster | None:
    """The offset window (width 2*tol) with the most votes."""
    bins: dict[int, list[Pair]] = defaultdict(list)
    for p in pairs:
        bins[int(np.floor((p.other_t - p.this_t) / tol))].append(p)
    best: Cluster | None = None
    for b in bins:
        window = bins[b] + bins.get(b + 1, [])
        votes = _window_votes(window)
        if best is None or votes > best.votes:
            best = Cluster(tuple(window), votes)
    return best


def clusters(pairs: list[Pair], cfg: MatchingConfig) -> list[Cluster]:
    """Up to `max_ranges` offset clusters, strongest first; a query frame joins one cluster."""
    out: list[Cluster] = []
    remaining = pairs
    while remaining and len(out) < cfg.max_ranges:
        best = _best_cluster(remaining, cfg.offset_tolerance_s)
        if best is None or best.agreeing < cfg.min_frames:
            break
        out.append(best)
        used = {p.i for p in best.pairs}
        remaining = [p for p in remaining if p.i not in used]
    return out


def decide(
    other_clip_id: int, pairs: list[Pair], this_frames: int, other_frames: int, cfg: MatchingConfig
) -> ClipVote:
    """Score one other clip: agreeing frames (weighted) / informative frames of the shorter clip.

    Args:
        other_clip_id: the indexed clip.
        pairs: every frame-level hit against it (best distance per frame pair).
        this_frames: informative sampled frames of the query clip.
        other_frames: informative sampled frames of the other clip.
        cfg: thresholds.

    Returns:
        The vote; `matched` when enough distinct frames agree and the score reaches `min_score`.
    """
    found = clusters(pairs, cfg)
    votes = sum(c.votes for c in found)
    frames: dict[int, tuple[int, bool]] = {}  # query frame -> best (distance, mirrored)
    for c in found:
        for p in c.pairs:
            frames[p.i] = min(frames.get(p.i, (64, True)), (p.distance, p.mirrored))
    flipped = sum(m for _d, m in frames.values())
    score = round(min(1.0, votes / max(1, min(this_frames, other_frames))), 4)
    coverage = round(min(1.0, len(frames) / max(1, this_frames, other_frames)), 4)
    matched = len(frames) >= cfg.min_frames and score >= cfg.min_score
    return ClipVote(
        other_clip_id,
        tuple(found),
        score,
        coverage,
        len(frames),
        tuple(sorted(d for d, _m in frames.values())),
        matched,
        mirrored=2 * flipped > len(frames),
    )

"""Sound matching: exact lookups vote for an offset, alignment over the whole stretch decides.

1. **Lookup.** Each informative sub-fingerprint of the query (and its neighbours within
   `probe_bits` bits) is looked up exactly in the sound index (`SoundView.lookup`).
2. **Offset voting.** A hit says "query item k is item j of that track": it votes for the
   lag j - k. Copies of the same sound put many distinct query items at one lag (give or
   take one: an excerpt cut between two sub-fingerprints); chance collisions scatter.
   A (clip, track, lag) with at least `min_hits` votes is a candidate.
3. **Bit-error verification.** The two whole fingerprints are aligned at the candidate's lag
   (and its neighbours) and compared item by item where both are informative. Stretches whose
   local bit error (2 s windows) stays low are the matching ranges (quiet stretches inside,
   where nothing can be compared, do not end them); a range counts when its bit error is at
   most `max_bit_error` over at least `min_seconds` of informative sound.
   Unrelated sound differs in 24 % of bits at the very best (espeak-ng voices against each
   other, 3 s windows), a re-encode in 3 %.

Ranges come out in both clips' time (a 10 s excerpt of a 60 s clip: its 0-10 s ~ 20-30 s
there), several per clip when the query is a compilation or holds the sound twice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..config import SoundConfig
from ..sound.chromaprint import ITEM_S, SPAN_S
from ..sound.fingerprint import TrackPrint
from .sound_segments import SoundView

WINDOW = 16  # items (2 s) over which the local bit error is smoothed
MAX_CANDIDATES = 40  # (clip, track, lag) candidates verified per query track
MAX_RANGES = 5  # ranges reported per matched clip, as the picture's ([matching] max_ranges)
_POP = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


@dataclass(frozen=True)
class SoundRange:
    """A stretch of this clip's sound that is a stretch of the other's (seconds)."""

    this_start_s: float
    this_end_s: float
    other_start_s: float
    other_end_s: float
    bit_error: float
    items: int  # informative sub-fingerprints compared
    this_track: int = 0
    other_track: int = 0

    def as_range(self) -> dict[str, float | int]:
        return {
            "this_start_s": round(max(0.0, self.this_start_s), 3),
            "this_end_s": round(max(0.0, self.this_end_s), 3),
            "other_start_s": round(max(0.0, self.other_start_s), 3),
            "other_end_s": round(max(0.0, self.other_end_s), 3),
            "bit_error": round(self.bit_error, 4),
            "this_track": self.this_track,
            "other_track": self.other_track,
        }


@dataclass(frozen=True)
class SoundVote:
    """The sound's decision for one other clip: its ranges, a score and the bit error.

    `score`: informative sub-fingerprints inside the ranges / informative sub-fingerprints
    of the shorter clip (as the picture's score: a short clip inside a compilation scores
    high). `bit_error`: over all ranges, weighted by their items.
    """

    other_clip_id: int
    ranges: tuple[SoundRange, ...]
    score: float
    bit_error: float
    items: int


def bit_errors(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Share of differing bits (0-1) between two equal-length uint32 arrays, per item."""
    x = np.ascontiguousarray(np.asarray(a, np.uint32) ^ np.asarray(b, np.uint32))
    return _POP[x.view(np.uint8)].reshape(-1, 4).sum(axis=1) / 32.0


@dataclass(frozen=True)
class Aligned:
    """Two tracks side by side at one lag: this item k meets that item k + lag."""

    lag: int
    first: int  # first item of this track that has a partner
    errors: np.ndarray  # per paired item
    valid: np.ndarray  # both informative


def align(a: TrackPrint, b: TrackPrint, lag: int) -> Aligned:
    first = max(0, -lag)
    last = min(len(a), len(b) - lag)
    if last <= first:
        return Aligned(lag, first, np.zeros(0), np.zeros(0, bool))
    ka = slice(first, last)
    kb = slice(first + lag, last + lag)
    return Aligned(lag, first, bit_errors(a.values[ka], b.values[kb]), a.mask[ka] & b.mask[kb])


def mean_error(al: Aligned) -> tuple[float, int]:
    """Bit error over the paired items that are informative on both sides, and their count."""
    n = int(np.count_nonzero(al.valid))
    return (float(al.errors[al.valid].mean()) if n else 1.0), n


def segments(al: Aligned, cfg: SoundConfig) -> list[tuple[int, int, float, int]]:
    """Matching stretches of an alignment: (first, last item of this track, bit error,
    informative items compared), each passing `max_bit_error` and `min_seconds`."""
    if not len(al.errors):
        return []
    v = al.valid.astype(np.float64)
    kernel = np.ones(WINDOW)
    weight = np.convolve(v, kernel, mode="same")
    local = np.convolve(al.errors * v, kernel, mode="same") / np.maximum(weight, 1.0)
    grow = (cfg.max_bit_error + cfg.differs_bit_error) / 2
    good = al.valid & (local <= grow)
    bad = al.valid & ~good
    out = []
    start = last_good = -1
    for k in range(len(al.errors) + 1):
        ends = k == len(al.errors) or bad[k]  # quiet stretches in between do not end a range
        if start >= 0 and ends:
            out.append(_segment(al, start, last_good, cfg))
            start = -1
        if k < len(al.errors) and good[k]:
            start = k if start < 0 else start
            last_good = k
    return [s for s in out if s is not None]


def _segment(
    al: Aligned, start: int, end: int, cfg: SoundConfig
) -> tuple[int, int, float, int] | None:
    sel = al.valid[start : end + 1]
    n = int(np.count_nonzero(sel))
    if n * ITEM_S < cfg.min_seconds:
        return None
    err = float(al.errors[start : end + 1][sel].mean())
    if err > cfg.max_bit_error:
        return None
    return al.first + start, al.first + end, err, n


def candidates(
    index: SoundView, query: TrackPrint, cfg: SoundConfig, exclude: int | None
) -> list[tuple[int, int, int, int]]:
    """(votes, clip, track, lag) for the strongest offsets of one query track."""
    pos = np.flatnonzero(query.mask)
    if not pos.size or not len(index):
        return []
    hits = index.lookup(query.values[pos], cfg.probe_bits, cfg.max_bucket)
    items = pos[hits.query]
    keep = hits.clip != (exclude if exclude is not None else -1)
    items, clips, tracks = items[keep], hits.clip[keep], hits.track[keep]
    lags = hits.item[keep].astype(np.int64) - items
    voters: dict[tuple[int, int, int], set[int]] = defaultdict(set)
    for k, c, t, lag in zip(
        items.tolist(), clips.tolist(), tracks.tolist(), lags.tolist(), strict=False
    ):
        voters[(c, t, lag)].add(k)
    found = []
    for (c, t, lag), ks in voters.items():
        near = ks | voters.get((c, t, lag - 1), set()) | voters.get((c, t, lag + 1), set())
        if len(near) >= cfg.min_hits:
            found.append((len(near), c, t, lag))
    found.sort(reverse=True)
    return found[:MAX_CANDIDATES]


def verify(query: TrackPrint, other: TrackPrint, lag: int, cfg: SoundConfig) -> list[SoundRange]:
    """The matching ranges of two tracks around `lag` (the best of lag - 1, lag, lag + 1)."""
    best = min((align(query, other, g) for g in (lag - 1, lag, lag + 1)), key=mean_error)
    out = []
    for k0, k1, err, n in segments(best, cfg):
        this0 = query.start_s + k0 * ITEM_S
        other0 = other.start_s + (k0 + best.lag) * ITEM_S
        length = (k1 - k0) * ITEM_S + SPAN_S
        out.append(
            SoundRange(
                this0, this0 + length, other0, other0 + length, err, n, query.track, other.track
            )  # fmt: skip
        )
    return out


def search_sound(
    index: SoundView, prints: Sequence[TrackPrint], cfg: SoundConfig, exclude: int | None
) -> list[SoundVote]:
    """Every indexed clip whose sound this clip's sound contains or is contained in."""
    ranges: dict[int, list[SoundRange]] = defaultdict(list)
    for query in prints:
        for _votes, clip, track, lag in candidates(index, query, cfg, exclude):
            other = index.track(clip, track)
            if other is None:
                continue
            for r in verify(query, other, lag, cfg):
                if not any(_overlaps(r, old) for old in ranges[clip]):
                    ranges[clip].append(r)
    mine = sum(int(np.count_nonzero(p.mask)) for p in prints)
    votes = [_vote(c, rs, mine, index.informative_of(c)) for c, rs in ranges.items() if rs]
    return sorted(votes, key=lambda v: -v.score)


def _overlaps(a: SoundRange, b: SoundRange) -> bool:
    """Half of the shorter range of this clip overlaps the other (the same stretch twice)."""
    inter = min(a.this_end_s, b.this_end_s) - max(a.this_start_s, b.this_start_s)
    shorter = min(a.this_end_s - a.this_start_s, b.this_end_s - b.this_start_s)
    return inter > 0.5 * shorter


def _vote(clip: int, rs: list[SoundRange], mine: int, theirs: int) -> SoundVote:
    rs = sorted(rs, key=lambda r: r.this_start_s)[:MAX_RANGES]
    items = sum(r.items for r in rs)
    err = sum(r.bit_error * r.items for r in rs) / max(1, items)
    score = round(min(1.0, items / max(1, min(mine, theirs) if theirs else mine)), 4)
    return SoundVote(clip, tuple(rs), score, round(err, 4), items)

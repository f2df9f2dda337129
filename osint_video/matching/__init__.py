"""Near-duplicate matching of footage across the whole archive ("Seen before").

sampler (frames at ~4 fps) -> fingerprints (pHash views per frame) -> index (persistent,
exact Hamming search) -> decide (steady time offset) -> match (store, custody, report entries).
"""

from __future__ import annotations

from .match import MatchSummary, match_and_index, match_clip, match_file

__all__ = ["MatchSummary", "match_and_index", "match_clip", "match_file"]

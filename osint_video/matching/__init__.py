"""Near-duplicate matching of footage across the whole archive ("Seen before").

sampler (frames at ~4 fps) -> fingerprints (pHash views per frame) -> index (persistent,
exact Hamming search) -> decide (steady time offset) -> match (store, custody, report entries).

By sound (issue 17): sound_index (the same segments, log and catch-up as the picture's
index; sound_segments: sub-fingerprints for exact lookup, whole tracks for alignment) ->
sound_match (offset voting, bit-error verification) -> senses (one match, two senses: modality,
ranges of each, where they disagree; reframe for sound-only matches) -> sound_archive (store,
custody, index); both (the `match` command by picture and sound).
"""

from __future__ import annotations

from .match import MatchSummary, match_and_index, match_clip, match_file

__all__ = ["MatchSummary", "match_and_index", "match_clip", "match_file"]

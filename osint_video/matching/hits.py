"""Frame-level hits of the archive index's sources (segments, the tail), and what one search
covers (`View`).

A hit says which query row found which stored entry: the entry's clip, its time, the distance,
and its label (the index-log position of the add that made it), by which `index.LiveIndex`
tells entries that still count from those a later change replaced or removed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .search import Hits, scan
from .segments import Content, Segment


@dataclass(frozen=True)
class FrameHits:
    """Frame-level hits: query row, the stored entry's clip, time and label, the distance."""

    query: np.ndarray
    clip: np.ndarray
    time: np.ndarray
    label: np.ndarray
    distance: np.ndarray

    def __add__(self, other: FrameHits) -> FrameHits:
        return FrameHits(
            *(np.concatenate([a, b]) for a, b in zip(self.parts(), other.parts(), strict=True))
        )

    def parts(self) -> tuple[np.ndarray, ...]:
        return (self.query, self.clip, self.time, self.label, self.distance)

    def take(self, keep: np.ndarray) -> FrameHits:
        return FrameHits(*(a[keep] for a in self.parts()))


def no_hits() -> FrameHits:
    z = np.empty(0, np.int64)
    return FrameHits(z, z, np.empty(0, np.float32), z, z)


def _frame_hits(content: Content, hits: Hits) -> FrameHits:
    """Entry positions -> clip, time and label (the log position of the entry's add)."""
    clips = np.asarray(content.entries.clips)[hits.stored].astype(np.int64)
    labels = np.array([content.labels.get(int(c), (-1, 0))[0] for c in clips], np.int64)
    times = np.asarray(content.entries.times)[hits.stored]
    return FrameHits(hits.query, clips, times, labels, hits.distance)


def search_content(content: Content, queries: np.ndarray, radius: int) -> FrameHits:
    """Scan (the tail and what a catch-up just read)."""
    if not len(content.entries) or not len(queries):
        return no_hits()
    return _frame_hits(content, scan(content.entries.hashes, queries, radius))


def search_segment(seg: Segment, queries: np.ndarray, radius: int) -> FrameHits:
    if not len(seg) or not len(queries):
        return no_hits()
    return _frame_hits(seg.content, seg.search(queries, radius))


@dataclass(frozen=True)
class View:
    """What one search covers: the segments and the tail as of log position `position`."""

    segments: tuple[Segment, ...]
    tail: Content
    position: int

    def search(self, queries: np.ndarray, radius: int) -> FrameHits:
        """Every frame-level hit in every shard (dead entries included: `LiveIndex.alive`)."""
        hits = search_content(self.tail, queries, radius)
        for seg in self.segments:
            hits = hits + search_segment(seg, queries, radius)
        return hits

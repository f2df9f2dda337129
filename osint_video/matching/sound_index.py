"""The sound index: every indexed clip's sound fingerprints, in WORKSPACE/index/sound/.

It is the archive index's design (`index.py`) for the sound's entries, with the same
machinery and guarantees: the case store's `sound_fingerprints` rows are the source of truth,
and each change to a clip's rows writes a row of the index log (`sense` = `sound`) in the
same transaction (`sound_archive.record_sound`, `index.remove_clip`). On disk: immutable,
checksummed, memory-mapped segments (`sound_segments.py`: every track's sub-fingerprints,
the informative ones sorted for exact lookup), verified once (`verified.json`), named by their
own manifest; in memory, the tail a process has read from the log past the manifest. One warm
index per process (`open_sound_index`) catches up from the log on every use: nothing is
reloaded, re-hashed or recounted per clip, and the tail is written out as a new small segment
past `[matching] segment_hashes` entries; `osint-video index compact` and the automatic
compaction merge sound segments as they merge the picture's. A missing, damaged or
inconsistent sound index is rebuilt from the store and said so.

Why the sound needs its own entries: a query looks each of its informative sub-fingerprints
up exactly, and its neighbours within `[sound] probe_bits` bits (`SoundView.lookup`), then
aligns whole tracks at the offsets the lookups vote for (`SoundView.track`).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import cast

import numpy as np
from sqlalchemy import select

from ..sound.chromaprint import ALGORITHM
from ..sound.fingerprint import TrackPrint
from ..store.schema import SOUND, SoundFingerprintRow
from ..workspace import Workspace
from .build import Kind, rebuild_files
from .index import LiveIndex, Notify, live_index, warm
from .manifest import IN_CHUNK
from .segments import Content
from .sound_segments import (
    TABLE,
    Hits,
    SoundEntries,
    SoundSegment,
    SoundView,
    dead_clips,
    flips,
    in_memory,
    informative_counts,
    join,
    load_sound_segment,
    sound_entries,
    write_sound_segment,
)

__all__ = [
    "SOUND_KIND",
    "TABLE",
    "Hits",
    "LiveSoundIndex",
    "SoundView",
    "build",
    "flips",
    "open_sound_index",
    "print_of",
    "rebuild",
    "row_of",
    "sound_dir",
    "warm_senses",
]


def sound_dir(ws: Workspace) -> Path:
    return SOUND_KIND.root(ws)


def print_of(row: SoundFingerprintRow) -> TrackPrint:
    """A stored row as the fingerprint it holds."""
    values = np.frombuffer(row.values, dtype="<u4").astype(np.uint32)
    mask = np.unpackbits(np.frombuffer(row.mask, np.uint8), count=len(values)).astype(bool)
    return TrackPrint(row.track, row.start_s, values, mask)


def row_of(clip_id: int, p: TrackPrint, item_s: float, span_s: float) -> SoundFingerprintRow:
    """A track's fingerprint as the case store keeps it."""
    return SoundFingerprintRow(
        clip_id=clip_id,
        track=p.track,
        algorithm=ALGORITHM,
        start_s=p.start_s,
        item_s=item_s,
        span_s=span_s,
        items=len(p),
        informative=int(np.count_nonzero(p.mask)),
        values=p.values.astype("<u4").tobytes(),
        mask=np.packbits(p.mask.astype(np.uint8)).tobytes(),
    )


def read_sound(ws: Workspace, clips: Sequence[int] | None) -> tuple[SoundEntries, dict[int, int]]:
    """The stored tracks of `clips` (None: all) made the way this index reads, by clip and
    track, and each clip's informative count."""
    query = select(SoundFingerprintRow).where(SoundFingerprintRow.algorithm == ALGORITHM)
    chunks: list[list[int] | None] = [None]
    if clips is not None:
        ids = sorted(set(clips))
        chunks = [ids[i : i + IN_CHUNK] for i in range(0, len(ids), IN_CHUNK)]
    stored: list[tuple[int, TrackPrint]] = []
    with ws.cases.session() as ses:
        for chunk in chunks:
            q = query if chunk is None else query.where(SoundFingerprintRow.clip_id.in_(chunk))
            q = q.order_by(SoundFingerprintRow.clip_id, SoundFingerprintRow.track)
            stored += [(r.clip_id, print_of(r)) for r in ses.scalars(q)]
    entries = sound_entries(stored)
    return entries, informative_counts(entries)


SOUND_KIND = Kind(
    SOUND, ALGORITHM, "sound index", "sound", 1, read_sound, write_sound_segment,
    load_sound_segment, join, sharded=False,
)  # fmt: skip


class LiveSoundIndex(LiveIndex):
    """The sound index as one process keeps it open (`LiveIndex`'s bookkeeping), searched
    through a `SoundView`. Per segment it keeps the clips whose entries there no longer count,
    updated by each catch-up for the clips it changed (not recounted per search)."""

    KIND = SOUND_KIND

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self._dead: dict[str, set[int]] = {}
        self._tail_seg: SoundSegment | None = None

    def catch_up(self, ws: Workspace) -> Content:
        with self._lock:
            chunk = super().catch_up(ws)
            changed = set(chunk.labels) | set(chunk.tombstones)
            live = self._s.live
            for seg in self._s.segments:
                if (dead := self._dead.get(seg.name)) is None:
                    continue  # counted when it is first viewed
                for c in changed:
                    label = seg.content.labels.get(c)
                    if label is not None and live.get(c, (-2, 0))[0] != label[0]:
                        dead.add(c)
            return chunk

    def _install(self, *args: object) -> None:
        super()._install(*args)  # type: ignore[arg-type]
        self._dead.clear()

    def view(self) -> SoundView:  # type: ignore[override]
        """What a search covers now (the live labels copied: a later catch-up does not
        change a search under way)."""
        with self._lock:
            s = self._s
            if self._tail_seg is None or self._tail_seg.content is not s.tail:
                self._tail_seg = in_memory("tail", s.tail_start, s.position, s.tail)
            segments = cast(tuple[SoundSegment, ...], s.segments)
            sources = (*segments, self._tail_seg)
            for g in segments:
                if g.name not in self._dead:  # a segment new to this process: counted once
                    self._dead[g.name] = dead_clips(g, s.live)
            deads = [self._dead[g.name] for g in segments]
            deads.append(dead_clips(self._tail_seg, s.live))
            pairs = zip(sources, deads, strict=True)
            keys = sum(g.content.labels[c][1] for g, d in pairs for c in d)
            arrays = tuple(np.array(sorted(d), np.int64) for d in deads)
            return SoundView(sources, dict(s.live), arrays, keys)


def open_sound_index(ws: Workspace, notify: Notify | None = None) -> LiveSoundIndex:
    """The process's warm sound index of the workspace, caught up with the store (the first
    call maps its segments; later ones read only the log past its position). Missing, damaged
    or inconsistent files are rebuilt from the store (`notify` says so)."""
    idx = live_index(ws, LiveSoundIndex)
    idx.refresh(ws, notify)
    return idx


def warm_senses(ws: Workspace) -> threading.Thread | None:
    """`index.warm`, with the sound index opened in the same thread when matching by sound."""
    return warm(ws, open_sound_index if ws.config.sound.enabled else None)


def rebuild(ws: Workspace) -> LiveSoundIndex:
    """The whole sound index again from the case store (`osint-video index rebuild`)."""
    rebuild_files(ws, kind=SOUND_KIND)
    return open_sound_index(ws)


def build(root: Path, stored: Sequence[tuple[int, TrackPrint]]) -> SoundView:
    """A searchable index of (clip id, track fingerprint) pairs, in memory (tests, benches;
    `root` is not written)."""
    del root
    entries = sound_entries(stored)
    labels = {c: (0, n) for c, n in informative_counts(entries).items()}
    source = in_memory("memory", 0, 0, Content(entries, labels))
    return SoundView((source,), dict(labels), (np.empty(0, np.int64),))

"""The sound index's entries, its segments' files, and its search (`SoundView.lookup`).

Entries (`SoundEntries`): every sub-fingerprint of every indexed track, informative or not
(`values` uint32, `mask` bool), and per track a row of `table` (clip, track, start, where its
items begin in `values`, how many). A segment (`segments.write_folder`, the picture's format
and checks: `segment.json`, checksums, `verified.json`, labels, tombstones) holds them as
`values.npy`, `mask.npy`, `table.npy`, and for the exact lookup the informative values sorted
(`keys.npy`) with the item each came from (`order.npy`): binary search, no scan.

A search (`SoundView`) covers the segments and the in-memory tail; entries of a clip whose
latest change is not the one that made them (replaced, removed) do not count, and neither do
they count towards `max_bucket` (the number of stored copies of a value above which it is not
looked up), so results are those of an index holding the live entries only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..sound.fingerprint import TrackPrint
from .segments import (
    Content,
    SegmentDamaged,
    checksums,
    open_folder,
    read_labels,
    save_arrays,
    write_folder,
)

TABLE = np.dtype(
    [("clip", np.int32), ("track", np.int16), ("start", np.float64), ("at", np.int64),
     ("length", np.int64)]
)  # fmt: skip


@dataclass(frozen=True)
class SoundEntries:
    """Tracks' sub-fingerprints end to end (`values`, `mask`) and where each track lies."""

    values: np.ndarray
    mask: np.ndarray
    table: np.ndarray

    def __len__(self) -> int:
        return len(self.values)

    @property
    def clips(self) -> np.ndarray:
        """The clip of each item."""
        return np.repeat(np.asarray(self.table["clip"]), np.asarray(self.table["length"]))

    def of_clips(self, clips: np.ndarray, keep: bool = True) -> SoundEntries:
        """The tracks of `clips` (`keep`), or of every other clip."""
        sel = np.isin(self.table["clip"], clips, invert=not keep)
        rows = np.repeat(sel, self.table["length"])
        table = np.array(self.table[sel], TABLE)
        table["at"] = np.cumsum(table["length"]) - table["length"]
        return SoundEntries(np.asarray(self.values)[rows], np.asarray(self.mask)[rows], table)


def join(parts: list[SoundEntries]) -> SoundEntries:
    """Entries one after the other (the tracks' `at` moved along)."""
    tables, at = [], 0
    for p in parts:
        t = np.array(p.table, TABLE)
        t["at"] += at
        tables.append(t)
        at += len(p)
    return SoundEntries(
        np.concatenate([np.empty(0, np.uint32), *(np.asarray(p.values) for p in parts)]),
        np.concatenate([np.empty(0, bool), *(np.asarray(p.mask) for p in parts)]),
        np.concatenate([np.empty(0, TABLE), *tables]),
    )


def sound_entries(stored: Sequence[tuple[int, TrackPrint]]) -> SoundEntries:
    """The entries of (clip id, track fingerprint) pairs, in their order."""
    table = np.empty(len(stored), TABLE)
    at = 0
    for i, (clip, p) in enumerate(stored):
        table[i] = (clip, p.track, p.start_s, at, len(p))
        at += len(p)
    values = [np.asarray(p.values, np.uint32) for _c, p in stored]
    mask = [np.asarray(p.mask, bool) for _c, p in stored]
    return SoundEntries(
        np.concatenate([np.empty(0, np.uint32), *values]),
        np.concatenate([np.empty(0, bool), *mask]),
        table,
    )


def informative_counts(e: SoundEntries) -> dict[int, int]:
    """Informative sub-fingerprints per clip (what a label counts)."""
    mask = np.asarray(e.mask)
    ends = np.asarray(e.table["at"]) + np.asarray(e.table["length"])
    total = np.concatenate([[0], np.cumsum(mask, dtype=np.int64)])
    per_track = total[ends] - total[np.asarray(e.table["at"])]
    out: dict[int, int] = {}
    for c, n in zip(e.table["clip"].tolist(), per_track.tolist(), strict=True):
        out[c] = out.get(c, 0) + int(n)
    return out


def lookup_table(e: SoundEntries) -> tuple[np.ndarray, np.ndarray]:
    """The informative values sorted, and the item each one is."""
    rows = np.flatnonzero(np.asarray(e.mask))
    keys = np.asarray(e.values)[rows]
    order = np.argsort(keys, kind="stable")
    return keys[order], rows[order].astype(np.uint32)  # (a segment holds < 2**32 items)


@dataclass
class SoundSegment:
    """A loaded sound segment (or the tail): its content and its lookup table."""

    name: str
    shard: int
    start: int
    end: int
    content: Content[SoundEntries]
    keys: np.ndarray
    order: np.ndarray
    at: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.at = np.ascontiguousarray(self.content.entries.table["at"])

    def __len__(self) -> int:
        return len(self.content.entries)

    def where(self, items: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Clip, track, and position in its track of each item."""
        table = self.content.entries.table
        t = np.searchsorted(self.at, items, side="right") - 1
        return (
            table["clip"][t].astype(np.int64),
            table["track"][t].astype(np.int64),
            items - self.at[t],
        )

    def tracks(self, clip: int) -> list[TrackPrint]:
        """The clip's tracks here (views of the segment's arrays, not copies)."""
        e = self.content.entries
        out = []
        for row in e.table[e.table["clip"] == clip]:
            sl = slice(int(row["at"]), int(row["at"]) + int(row["length"]))
            out.append(TrackPrint(int(row["track"]), float(row["start"]), e.values[sl], e.mask[sl]))
        return out

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "start": self.start, "end": self.end, "count": len(self)}


def in_memory(name: str, start: int, end: int, content: Content[SoundEntries]) -> SoundSegment:
    return SoundSegment(name, 0, start, end, content, *lookup_table(content.entries))


# -- files ----------------------------------------------------------------------------------------


def write_sound_segment(root: Path, shard: int, start: int, end: int, content: Content) -> str:
    """Write a sound segment folder (atomically, as the picture's); returns its name."""
    return write_folder(root, shard, start, end, content, _write_files)


def _write_files(folder: Path, content: Content) -> dict[str, str]:
    e = content.entries
    keys, order = lookup_table(e)
    arrays = {
        "values": np.asarray(e.values, np.uint32),
        "mask": np.asarray(e.mask, bool),
        "table": np.asarray(e.table, TABLE),
        "keys": keys,
        "order": order,
    }
    return checksums(folder, save_arrays(folder, arrays, content))


def load_sound_segment(root: Path, name: str, meta_sha256: str) -> SoundSegment:
    """Map a sound segment's files, checked as the picture's (`segments.load_segment`).

    Raises:
        SegmentDamaged: a file is missing, unreadable, or not what its checksum says.
    """
    return open_folder(root, name, meta_sha256, False, _map)


def _map(folder: Path, name: str, meta: dict[str, Any]) -> SoundSegment:
    def load(key: str) -> np.ndarray:
        return np.load(folder / f"{key}.npy", mmap_mode="r")

    values, mask, keys, order = load("values"), load("mask"), load("keys"), load("order")
    table = np.load(folder / "table.npy")
    n = int(meta["count"])
    ends = table["at"] + table["length"]
    if (
        not len(values) == len(mask) == n
        or table.dtype != TABLE
        or int(table["length"].sum()) != n
        or (len(table) and int(ends.max()) > n)
        or not len(keys) == len(order) <= n
    ):
        raise SegmentDamaged(f"segment {name}: arrays disagree with segment.json")
    content = Content(SoundEntries(values, mask, table), *read_labels(folder))
    return SoundSegment(
        name, int(meta["shard"]), int(meta["start"]), int(meta["end"]), content, keys, order
    )


# -- searching ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hits:
    """Lookup hits: the query position, and the clip, track and item it met."""

    query: np.ndarray
    clip: np.ndarray
    track: np.ndarray
    item: np.ndarray


def flips(bits: int) -> np.ndarray:
    """0 and every 32-bit mask with 1..`bits` bits set (bits <= 2: 1, 33 or 529 masks)."""
    out = [0]
    one = [1 << i for i in range(32)]
    if bits >= 1:
        out += one
    if bits >= 2:
        out += [a | b for i, a in enumerate(one) for b in one[i + 1 :]]
    return np.array(out, dtype=np.uint32)


def _spread(lo: np.ndarray, count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(probe, position) of every position in the ranges [lo, lo + count)."""
    total = int(count.sum())
    probe = np.repeat(np.arange(len(count)), count)
    starts = np.repeat(lo - np.concatenate([[0], np.cumsum(count)[:-1]]), count)
    return probe, starts + np.arange(total)


@dataclass(frozen=True)
class SoundView:
    """What one sound search covers: sources (segments, the tail), each clip's live label
    (log position of its add, informative count), and per source the clips whose entries
    there no longer count (`dead`, sorted; `dead_keys`: their informative entries)."""

    sources: tuple[SoundSegment, ...]
    live: dict[int, tuple[int, int]]
    dead: tuple[np.ndarray, ...]
    dead_keys: int = 0

    def __len__(self) -> int:
        """Live informative sub-fingerprints."""
        return sum(n for _p, n in self.live.values())

    def lookup(self, values: np.ndarray, probe_bits: int, max_bucket: int) -> Hits:
        """Every live entry equal to a query value, or to it with up to `probe_bits` bits
        flipped (0, 1 or 2); values stored (live) more than `max_bucket` times are skipped."""
        values = np.asarray(values, dtype=np.uint32)
        masks = flips(probe_bits)
        probes = (values[:, None] ^ masks[None, :]).ravel()
        owner = np.repeat(np.arange(len(values)), len(masks))
        by_value = np.argsort(probes)  # sorted probes: 2.5x faster binary searches (5 M keys)
        probes, owner = probes[by_value], owner[by_value]
        spans = [
            (np.searchsorted(s.keys, probes, "left"), np.searchsorted(s.keys, probes, "right"))
            for s in self.sources
        ]
        total = sum((hi - lo for lo, hi in spans), np.zeros(len(probes), np.int64))
        # exact live counts are needed only where dead entries could bring one under the cap
        look = (total > 0) & (total - self.dead_keys <= max_bucket)
        found = [
            self._expand(s, lo, np.where(look, hi - lo, 0), dead)
            for s, (lo, hi), dead in zip(self.sources, spans, self.dead, strict=True)
        ]
        probe, clip, track, item = (np.concatenate([f[i] for f in found]) for i in range(4))
        live = np.bincount(probe, minlength=len(probes))
        keep = live[probe] <= max_bucket
        return Hits(owner[probe[keep]], clip[keep], track[keep], item[keep])

    @staticmethod
    def _expand(
        s: SoundSegment, lo: np.ndarray, count: np.ndarray, dead: np.ndarray
    ) -> tuple[np.ndarray, ...]:
        probe, pos = _spread(lo, count)
        clip, track, item = s.where(np.asarray(s.order[pos], np.int64))
        if len(dead):
            alive = ~np.isin(clip, dead)
            probe, clip, track, item = probe[alive], clip[alive], track[alive], item[alive]
        return probe, clip, track, item

    def _source(self, clip: int) -> SoundSegment | None:
        """The source holding the clip's live entries."""
        label = self.live.get(clip)
        if label is None:
            return None
        for s in self.sources:
            if s.content.labels.get(clip, (None, 0))[0] == label[0]:
                return s
        return None

    def track(self, clip: int, track: int) -> TrackPrint | None:
        """A stored track's whole fingerprint (None: not indexed)."""
        return next((t for t in self.tracks_of(clip) if t.track == track), None)

    def tracks_of(self, clip: int) -> list[TrackPrint]:
        s = self._source(clip)
        return s.tracks(clip) if s is not None else []

    def informative_of(self, clip: int) -> int:
        """Informative sub-fingerprints indexed for a clip."""
        return self.live.get(clip, (0, 0))[1]


def dead_clips(seg: SoundSegment, live: dict[int, tuple[int, int]]) -> set[int]:
    """The clips whose entries in `seg` no longer count (a later change replaced them)."""
    return {c for c, (p, _n) in seg.content.labels.items() if live.get(c, (-2, 0))[0] != p}

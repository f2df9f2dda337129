"""The sound index: every indexed clip's sound fingerprints, in WORKSPACE/index/sound/.

Two tables, both derived from the case store's `sound_fingerprints` rows (the source of truth):

- **lookup**: one entry per informative sub-fingerprint (`keys.npy` uint32, sorted, with
  `clips.npy` int32, `tracks.npy` int16, `items.npy` int32: where it sits in its track).
  A query looks each of its own sub-fingerprints up exactly, and its neighbours within
  `[sound] probe_bits` bits (`lookup`): binary search, no scan.
- **tracks**: every track's whole fingerprint, informative or not (`values.npy`, `mask.npy`,
  and `table.npy`: clip, track, start, offset, length), to align two tracks at the offset the
  lookups vote for and count the bits that differ over the whole stretch (`track`).

`manifest.json` holds the format, a SHA-256 of the arrays and what the store holds (rows, clip
count, sum and maximum of clip ids): on open, any difference (a crash between the store's
commit and the files, a deleted clip, a damaged file) rebuilds the index from the store and
says so. Writes go to temporary files renamed into place, manifest last.

How this joins the archive index's segments (issue 16): the same entries (key, clip, time)
become one more kind of segment beside the picture's (`sound` segments: sorted keys instead
of the multi-index tables, plus the track table), appended per clip and compacted with the
rest, catching up from the same index log. Until then this index, like the picture's on
main, is rewritten whole when a clip is added (a few MB for 10,000 clips of 60 s).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import func, select

from ..sound.chromaprint import ALGORITHM
from ..sound.fingerprint import TrackPrint
from ..store.schema import SoundFingerprintRow
from ..workspace import Workspace

FORMAT_VERSION = 1
ARRAYS = ("keys", "clips", "tracks", "items", "values", "mask", "table")
TABLE = np.dtype(
    [("clip", np.int32), ("track", np.int16), ("start", np.float64), ("at", np.int64),
     ("length", np.int64)]
)  # fmt: skip
Notify = Callable[[str], None]


class SoundIndexInconsistent(Exception):
    """The on-disk sound index does not agree with its manifest or with the case store."""


@dataclass(frozen=True)
class Hits:
    """Lookup hits: query position, and the entry (index into `keys`) it met."""

    query: np.ndarray
    entry: np.ndarray


@dataclass
class SoundIndex:
    root: Path
    keys: np.ndarray
    clips: np.ndarray
    tracks: np.ndarray
    items: np.ndarray
    values: np.ndarray
    mask: np.ndarray
    table: np.ndarray

    def __len__(self) -> int:
        return len(self.keys)

    def arrays(self) -> tuple[np.ndarray, ...]:
        return tuple(getattr(self, name) for name in ARRAYS)

    def lookup(self, values: np.ndarray, probe_bits: int, max_bucket: int) -> Hits:
        """Every stored entry equal to a query value, or to it with up to `probe_bits` bits
        flipped (0, 1 or 2); values stored more than `max_bucket` times are skipped."""
        values = np.asarray(values, dtype=np.uint32)
        masks = flips(probe_bits)
        probes = (values[:, None] ^ masks[None, :]).ravel()
        owner = np.repeat(np.arange(len(values)), len(masks))
        lo = np.searchsorted(self.keys, probes, side="left")
        hi = np.searchsorted(self.keys, probes, side="right")
        count = hi - lo
        keep = (count > 0) & (count <= max_bucket)
        lo, count, owner = lo[keep], count[keep], owner[keep]
        if not len(count):
            return Hits(np.empty(0, np.int64), np.empty(0, np.int64))
        total = int(count.sum())
        starts = np.repeat(lo - np.concatenate([[0], np.cumsum(count)[:-1]]), count)
        return Hits(np.repeat(owner, count), starts + np.arange(total))

    def track(self, clip: int, track: int) -> TrackPrint | None:
        """A stored track's whole fingerprint (None: not indexed)."""
        at = np.flatnonzero((self.table["clip"] == clip) & (self.table["track"] == track))
        return _slice(self, self.table[at[0]]) if at.size else None

    def tracks_of(self, clip: int) -> list[TrackPrint]:
        rows = self.table[self.table["clip"] == clip]
        found = (self.track(clip, int(r["track"])) for r in rows)
        return [t for t in found if t is not None]

    def informative_of(self, clip: int) -> int:
        """Informative sub-fingerprints indexed for a clip."""
        return int(np.count_nonzero(self.clips == clip))


def _slice(idx: SoundIndex, row: np.void) -> TrackPrint:
    """The track a row of the table describes (views of the index's arrays, not copies)."""
    sl = slice(int(row["at"]), int(row["at"]) + int(row["length"]))
    return TrackPrint(int(row["track"]), float(row["start"]), idx.values[sl], idx.mask[sl])


def flips(bits: int) -> np.ndarray:
    """0 and every 32-bit mask with 1..`bits` bits set (bits <= 2: 1, 33 or 529 masks)."""
    out = [0]
    one = [1 << i for i in range(32)]
    if bits >= 1:
        out += one
    if bits >= 2:
        out += [a | b for i, a in enumerate(one) for b in one[i + 1 :]]
    return np.array(out, dtype=np.uint32)


def sound_dir(ws: Workspace) -> Path:
    return ws.home / "index" / "sound"


def _empty(root: Path) -> SoundIndex:
    return SoundIndex(
        root,
        np.empty(0, np.uint32),
        np.empty(0, np.int32),
        np.empty(0, np.int16),
        np.empty(0, np.int32),
        np.empty(0, np.uint32),
        np.empty(0, bool),
        np.empty(0, TABLE),
    )


def build(root: Path, stored: Sequence[tuple[int, TrackPrint]]) -> SoundIndex:
    """The index of (clip id, track fingerprint) pairs, in their order."""
    if not stored:
        return _empty(root)
    table = np.empty(len(stored), TABLE)
    at = 0
    for i, (clip, p) in enumerate(stored):
        table[i] = (clip, p.track, p.start_s, at, len(p))
        at += len(p)
    values = np.concatenate([p.values for _c, p in stored]).astype(np.uint32)
    mask = np.concatenate([p.mask for _c, p in stored]).astype(bool)
    positions = np.concatenate([np.arange(len(p), dtype=np.int32) for _c, p in stored])
    clips = np.repeat(table["clip"], table["length"])
    tracks = np.repeat(table["track"], table["length"])
    keys = values[mask]
    order = np.argsort(keys, kind="stable")
    return SoundIndex(
        root,
        keys[order],
        clips[mask][order].astype(np.int32),
        tracks[mask][order].astype(np.int16),
        positions[mask][order],
        values,
        mask,
        table,
    )


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


def stored_prints(ws: Workspace) -> list[tuple[int, TrackPrint]]:
    """Every stored track made the way this index reads, by clip and track."""
    query = (
        select(SoundFingerprintRow)
        .where(SoundFingerprintRow.algorithm == ALGORITHM)
        .order_by(SoundFingerprintRow.clip_id, SoundFingerprintRow.track)
    )
    with ws.cases.session() as ses:
        return [(r.clip_id, print_of(r)) for r in ses.scalars(query)]


def _store_summary(ws: Workspace) -> dict[str, int]:
    with ws.cases.session() as ses:
        rows = ses.scalar(
            select(func.count())
            .select_from(SoundFingerprintRow)
            .where(SoundFingerprintRow.algorithm == ALGORITHM)
        )
        ids = ses.scalars(
            select(SoundFingerprintRow.clip_id)
            .where(SoundFingerprintRow.algorithm == ALGORITHM)
            .distinct()
        ).all()
    return {
        "tracks": int(rows or 0),
        "clips": len(ids),
        "clip_id_sum": int(sum(ids)),
        "last_clip_id": max(ids, default=0),
    }


def _summary(idx: SoundIndex) -> dict[str, int]:
    ids = np.unique(idx.table["clip"])
    return {
        "tracks": len(idx.table),
        "clips": int(ids.size),
        "clip_id_sum": int(ids.astype(np.int64).sum()),
        "last_clip_id": int(ids.max()) if ids.size else 0,
    }


def _checksum(arrays: Sequence[np.ndarray]) -> str:
    h = hashlib.sha256()
    for arr in arrays:
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def save(idx: SoundIndex) -> None:
    root = idx.root
    root.mkdir(parents=True, exist_ok=True)
    (root / "manifest.json").unlink(missing_ok=True)  # a crash from here on is detected
    for name, arr in zip(ARRAYS, idx.arrays(), strict=True):
        tmp = root / f".{name}.tmp.npy"
        np.save(tmp, arr)
        os.replace(tmp, root / f"{name}.npy")
    manifest = {
        "format": FORMAT_VERSION,
        "algorithm": ALGORITHM,
        "entries": len(idx),
        "sha256": _checksum(idx.arrays()),
        **_summary(idx),
    }
    tmp = root / ".manifest.tmp"
    tmp.write_text(json.dumps(manifest, indent=1))
    os.replace(tmp, root / "manifest.json")


def _load(root: Path, expected: dict[str, int]) -> SoundIndex:
    try:
        manifest = json.loads((root / "manifest.json").read_text())
        arrays = [np.load(root / f"{n}.npy") for n in ARRAYS]
    except (OSError, ValueError) as exc:
        raise SoundIndexInconsistent(f"unreadable ({exc.__class__.__name__})") from None
    if manifest.get("format") != FORMAT_VERSION or manifest.get("algorithm") != ALGORITHM:
        raise SoundIndexInconsistent(
            f"format {manifest.get('format')}, {manifest.get('algorithm')}"
        )
    if _checksum(arrays) != manifest.get("sha256"):
        raise SoundIndexInconsistent("checksum mismatch (damaged file)")
    idx = SoundIndex(root, *arrays)
    if _summary(idx) != expected:
        raise SoundIndexInconsistent(f"index holds {_summary(idx)}, the case store {expected}")
    return idx


def rebuild(ws: Workspace) -> SoundIndex:
    """The whole sound index again from the case store (`osint-video index rebuild`)."""
    idx = build(sound_dir(ws), stored_prints(ws))
    save(idx)
    return idx


def open_sound_index(ws: Workspace, notify: Notify | None = None) -> SoundIndex:
    """Open the sound index, rebuilding it from the case store if missing or inconsistent."""
    root = sound_dir(ws)
    expected = _store_summary(ws)
    if not (root / "manifest.json").exists() and not (root / "keys.npy").exists():
        return rebuild(ws)
    try:
        return _load(root, expected)
    except SoundIndexInconsistent as exc:
        if notify:
            notify(f"sound index at {root} is inconsistent ({exc}): rebuilt from the case store")
        return rebuild(ws)


def replace_clip(idx: SoundIndex, clip_id: int, prints: Sequence[TrackPrint]) -> SoundIndex:
    """The index with `clip_id`'s tracks replaced by `prints`, saved."""
    kept = [(int(r["clip"]), _slice(idx, r)) for r in idx.table[idx.table["clip"] != clip_id]]
    new = build(idx.root, [*kept, *((clip_id, p) for p in prints)])
    save(new)
    return new

"""The archive index: every indexed clip's stored fingerprints, on disk in WORKSPACE/index/.

Why a file index next to the case store: Hamming search needs the hashes as one flat array
(SQL cannot do it fast). The case store's `match_fingerprints` table stays the source of truth;
the arrays are a derived copy with a manifest (count, SHA-256 of the arrays, the kind of hash
(`phash:64`), clip count, sum and maximum of clip ids). On open the manifest is checked against
the files and against the store: any difference (a crash between the two writes, a deleted
clip, a damaged file) rebuilds the index from the store and says so.

Layout: `hashes.npy` (uint64), `clips.npy` (int32 clip id), `times.npy` (float32 seconds), one
row per stored view of each informative sampled frame, and `manifest.json`. Writes go to
temporary files renamed into place, manifest last.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
from sqlalchemy import BigInteger, delete, func, select, type_coerce

from ..store.schema import FingerprintRow
from ..workspace import Workspace
from .fingerprints import HASH, STORED_VIEWS, FrameFingerprint
from .search import Hits, MultiIndex, scan

FORMAT_VERSION = 1
# Below this many hashes a linear numpy scan beats building the multi-index tables.
MIH_MIN_SIZE = 200_000
Notify = Callable[[str], None]
# The fingerprint rows this index is built from: informative frames hashed the way it expects.
_INDEXED = (FingerprintRow.informative, FingerprintRow.hash == HASH)
_STORED = np.dtype(
    [("clip", np.int32), ("time", np.float32), ("full", np.int64), ("c80", np.int64)]
)


class IndexInconsistent(Exception):
    """The on-disk index does not agree with its manifest or with the case store."""


@dataclass
class ArchiveIndex:
    """Hashes with their clip and time, searchable within a Hamming radius (exact)."""

    root: Path
    hashes: np.ndarray
    clips: np.ndarray
    times: np.ndarray
    _mih: MultiIndex | None = field(default=None, repr=False)
    _counts: np.ndarray | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.hashes)

    def search(self, queries: np.ndarray, radius: int) -> Hits:
        """Every (query, entry) pair within `radius` bits; no miss inside the radius."""
        if len(self.hashes) < MIH_MIN_SIZE:
            return scan(self.hashes, np.asarray(queries, np.uint64), radius)
        if self._mih is None or self._mih.size != len(self.hashes):
            self._mih = MultiIndex(self.hashes)
        return self._mih.search(np.asarray(queries, np.uint64), radius)

    def frames_per_clip(self, clip_id: int) -> int:
        """Informative frames indexed for a clip (one bincount over the index, then cached)."""
        if self._counts is None:
            self._counts = np.bincount(self.clips) if len(self.clips) else np.zeros(1, np.int64)
        n = int(self._counts[clip_id]) if 0 <= clip_id < len(self._counts) else 0
        return n // len(STORED_VIEWS)


def index_dir(ws: Workspace) -> Path:
    return ws.home / "index"


def entries(
    clips: npt.ArrayLike, times: npt.ArrayLike, full: np.ndarray, center80: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Stored frames (clip id, time, full-frame and central-80 % hashes as uint64) -> the
    hashes, clips and times arrays: two entries per frame, full first."""
    hashes = np.empty(len(full) * 2, np.uint64)
    hashes[0::2], hashes[1::2] = full, center80
    return (
        hashes,
        np.repeat(np.asarray(clips, np.int32), 2),
        np.repeat(np.asarray(times, np.float32), 2),
    )


def fingerprint_entries(clip_id: int, fps: Sequence[FrameFingerprint]) -> tuple[np.ndarray, ...]:
    kept = [f for f in fps if f.informative]
    return entries(
        [clip_id] * len(kept),
        [f.time_s for f in kept],
        np.array([f.view("full") for f in kept], np.uint64),
        np.array([f.view("center80") for f in kept], np.uint64),
    )


def _checksum(hashes: np.ndarray, clips: np.ndarray, times: np.ndarray) -> str:
    h = hashlib.sha256()
    for arr in (hashes, clips, times):
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def _summary(clips: np.ndarray) -> dict[str, int]:
    ids = np.unique(clips)
    return {
        "clips": int(ids.size),
        "clip_id_sum": int(ids.astype(np.int64).sum()),
        "last_clip_id": int(ids.max()) if ids.size else 0,
    }


def _store_summary(ws: Workspace) -> dict[str, int]:
    with ws.cases.session() as ses:
        count = ses.scalar(select(func.count()).select_from(FingerprintRow).where(*_INDEXED))
        ids = ses.scalars(select(FingerprintRow.clip_id).where(*_INDEXED).distinct()).all()
    return {
        "count": int(count or 0) * len(STORED_VIEWS),
        "clips": len(ids),
        "clip_id_sum": int(sum(ids)),
        "last_clip_id": max(ids, default=0),
    }


def _save(root: Path, hashes: np.ndarray, clips: np.ndarray, times: np.ndarray) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "manifest.json").unlink(missing_ok=True)  # a crash from here on is detected
    for name, arr in (("hashes", hashes), ("clips", clips), ("times", times)):
        tmp = root / f".{name}.tmp.npy"
        np.save(tmp, arr)
        os.replace(tmp, root / f"{name}.npy")
    manifest = {
        "format": FORMAT_VERSION,
        "count": len(hashes),
        "sha256": _checksum(hashes, clips, times),
        "hash": HASH,
        **_summary(clips),
    }
    tmp = root / ".manifest.tmp"
    tmp.write_text(json.dumps(manifest, indent=1))
    os.replace(tmp, root / "manifest.json")


def _load(root: Path, expected: dict[str, int]) -> ArchiveIndex:
    try:
        manifest = json.loads((root / "manifest.json").read_text())
        arrays = [np.load(root / f"{n}.npy") for n in ("hashes", "clips", "times")]
    except (OSError, ValueError) as exc:
        raise IndexInconsistent(f"unreadable ({exc.__class__.__name__})") from None
    hashes, clips, times = arrays
    if manifest.get("format") != FORMAT_VERSION:
        raise IndexInconsistent(f"format {manifest.get('format')} (expected {FORMAT_VERSION})")
    if manifest.get("hash", HASH) != HASH:  # indexes made before it was written were phash:64
        raise IndexInconsistent(f"it holds {manifest['hash']} hashes, matching makes {HASH}")
    if not len(hashes) == len(clips) == len(times) == manifest.get("count"):
        raise IndexInconsistent("array lengths disagree with the manifest")
    if _checksum(hashes, clips, times) != manifest.get("sha256"):
        raise IndexInconsistent("checksum mismatch (damaged file)")
    actual = {"count": len(hashes), **_summary(clips)}
    if actual != expected:
        raise IndexInconsistent(f"index holds {actual}, the case store {expected}")
    return ArchiveIndex(root, hashes.astype(np.uint64), clips.astype(np.int32), times)


def stored_entries(ws: Workspace) -> tuple[np.ndarray, ...]:
    """The index arrays (hashes, clips, times) as the case store's fingerprints give them.

    Only rows whose `hash` is the one matching makes (`fingerprints.HASH`) are read. Why it
    reads this way (4 M rows, bench/bench_fingerprints.py): the views come as the raw signed
    BIGINT (no per-value conversion) and are reinterpreted as uint64 at once, and the rows
    stream from a Core result straight into one numpy record array, as ORM rows and Python
    lists of their columns cost most of the time.
    """
    query = (
        select(
            FingerprintRow.clip_id,
            FingerprintRow.time_s,
            type_coerce(FingerprintRow.full, BigInteger),
            type_coerce(FingerprintRow.center80, BigInteger),
        )
        .where(*_INDEXED)
        .order_by(FingerprintRow.clip_id, FingerprintRow.index)
    )
    with ws.cases.session() as ses:
        rows = np.fromiter((tuple(r) for r in ses.connection().execute(query)), _STORED)
    return entries(
        rows["clip"], rows["time"], rows["full"].view(np.uint64), rows["c80"].view(np.uint64)
    )


def rebuild(ws: Workspace) -> ArchiveIndex:
    """Rebuild the whole index from the case store's fingerprints (`osint-video index rebuild`)."""
    hashes, clips, times = stored_entries(ws)
    _save(index_dir(ws), hashes, clips, times)
    return ArchiveIndex(index_dir(ws), hashes, clips, times)


def open_index(ws: Workspace, notify: Notify | None = None) -> ArchiveIndex:
    """Open the index, rebuilding it from the case store if it is missing or inconsistent."""
    root = index_dir(ws)
    expected = _store_summary(ws)
    if not (root / "manifest.json").exists() and not (root / "hashes.npy").exists():
        return rebuild(ws)
    try:
        return _load(root, expected)
    except IndexInconsistent as exc:
        if notify:
            notify(f"archive index at {root} is inconsistent ({exc}): rebuilt from the case store")
        return rebuild(ws)


def replace_clip(idx: ArchiveIndex, clip_id: int, fps: Sequence[FrameFingerprint]) -> ArchiveIndex:
    """The index with `clip_id`'s entries replaced by `fps` (informative frames), saved."""
    keep = idx.clips != clip_id
    new = fingerprint_entries(clip_id, fps)
    arrays = [
        np.concatenate([old[keep], add])
        for old, add in zip((idx.hashes, idx.clips, idx.times), new, strict=False)
    ]
    _save(idx.root, *arrays)
    return ArchiveIndex(idx.root, *arrays)


def remove_clip(ws: Workspace, clip_id: int, actor: str) -> int:
    """Forget a clip's fingerprints (store and index), e.g. before the clip is deleted.

    Returns:
        How many fingerprints were removed.
    """
    from ..store.cases import NewEvent  # the custody record of the removal

    idx = open_index(ws)
    with ws.cases.session() as ses:
        res = ses.execute(delete(FingerprintRow).where(FingerprintRow.clip_id == clip_id))
        n = getattr(res, "rowcount", 0)
        ws.cases._append_events(
            ses, clip_id, actor, [NewEvent("unindexed", {"fingerprints_removed": n})]
        )
    replace_clip(idx, clip_id, [])
    return int(n or 0)

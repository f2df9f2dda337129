"""The archive index's manifest and what it reads from the case store (the log, the rows).

`WORKSPACE/index/manifest.json` names the segments in use, per shard, with the SHA-256 of each
one's `segment.json`, and the index-log position they cover (`position`) with the log row there
(`anchor`: clip and action). The anchor ties the folder to its store: an index made from
another database, or one a restored backup has set back, names a row the store does not have,
and is rebuilt. It is replaced atomically (written beside, fsynced, renamed), only under the
`archive-segments` lock.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import BigInteger, func, select, type_coerce

from ..store.schema import ADD, PICTURE, FingerprintRow, IndexLogRow
from ..workspace import Workspace
from .fingerprints import HASH
from .segments import Entries

FORMAT_VERSION = 2
MANIFEST = "manifest.json"
IN_CHUNK = 500  # clip ids per IN (...) list
_INDEXED = (FingerprintRow.informative, FingerprintRow.hash == HASH)
_STORED = np.dtype(
    [("clip", np.int32), ("time", np.float32), ("full", np.int64), ("c80", np.int64)]
)


class IndexInconsistent(Exception):
    """The on-disk index does not agree with itself or with the case store."""


@dataclass(frozen=True)
class SegmentRef:
    """A segment as the manifest names it."""

    name: str
    sha256: str  # of its segment.json
    start: int
    end: int
    count: int


@dataclass(frozen=True)
class Manifest:
    position: int
    anchor: tuple[int, str] | None
    shards: tuple[tuple[SegmentRef, ...], ...]
    kind: str = HASH  # what made the entries (the picture's hash, the sound's algorithm)

    def refs(self) -> list[SegmentRef]:
        return [r for shard in self.shards for r in shard]

    def as_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "hash": self.kind,
            "position": self.position,
            "anchor": list(self.anchor) if self.anchor else None,
            "shards": [[r.__dict__ for r in shard] for shard in self.shards],
        }


def read_manifest(root: Path, kind: str = HASH) -> Manifest | None:
    """The manifest, or None when there is none (`kind`: what must have made the entries).

    Raises:
        IndexInconsistent: unreadable, another format, or another kind of hash.
    """
    try:
        data = json.loads((root / MANIFEST).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise IndexInconsistent(f"manifest unreadable ({exc.__class__.__name__})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT_VERSION:
        got = data.get("format") if isinstance(data, dict) else None
        raise IndexInconsistent(f"format {got} (expected {FORMAT_VERSION})")
    if data.get("hash") != kind:
        raise IndexInconsistent(f"it holds {data.get('hash')} entries, matching makes {kind}")
    try:
        anchor = data["anchor"]
        return Manifest(
            int(data["position"]),
            (int(anchor[0]), str(anchor[1])) if anchor else None,
            tuple(tuple(SegmentRef(**r) for r in shard) for shard in data["shards"]),
            kind,
        )
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise IndexInconsistent(f"manifest malformed ({exc.__class__.__name__})") from None


def write_manifest(root: Path, manifest: Manifest) -> None:
    """Replace the manifest atomically (call under the `archive-segments` lock)."""
    tmp = root / f".{MANIFEST}.tmp"
    with tmp.open("w") as f:
        json.dump(manifest.as_json(), f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, root / MANIFEST)


def manifest_stat(root: Path) -> tuple[int, int, int] | None:
    """What changes when the manifest is replaced (a cheap test before reading it again)."""
    try:
        st = (root / MANIFEST).stat()
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


# -- the case store ------------------------------------------------------------------------------


def log_since(ws: Workspace, position: int, sense: str = PICTURE) -> list[tuple[int, int, str]]:
    """(log id, clip id, action) of every change to `sense`'s index after `position`, in
    order."""
    with ws.cases.session() as ses:
        rows = ses.execute(
            select(IndexLogRow.id, IndexLogRow.clip_id, IndexLogRow.action)
            .where(IndexLogRow.id > position, IndexLogRow.sense == sense)
            .order_by(IndexLogRow.id)
        ).all()
    return [(int(i), int(c), str(a)) for i, c, a in rows]


def log_head(ws: Workspace, sense: str = PICTURE) -> tuple[int, tuple[int, str] | None]:
    """The newest log position of `sense` and its row (0, None when it has none)."""
    with ws.cases.session() as ses:
        top = ses.scalar(select(func.max(IndexLogRow.id)).where(IndexLogRow.sense == sense))
        if not top:
            return 0, None
        row = ses.execute(
            select(IndexLogRow.clip_id, IndexLogRow.action).where(IndexLogRow.id == top)
        ).one()
    return int(top), (int(row[0]), str(row[1]))


def anchor_holds(ws: Workspace, manifest: Manifest, sense: str = PICTURE) -> bool:
    """Whether the store's log has the row the manifest was made at."""
    if manifest.position == 0:
        return manifest.anchor is None
    with ws.cases.session() as ses:
        row = ses.execute(
            select(IndexLogRow.clip_id, IndexLogRow.action).where(
                IndexLogRow.id == manifest.position, IndexLogRow.sense == sense
            )
        ).first()
    return row is not None and (int(row[0]), str(row[1])) == manifest.anchor


def last_adds(ws: Workspace, upto: int, sense: str = PICTURE) -> dict[int, int]:
    """Clip -> log position of its add, for clips whose last change up to `upto` is an add."""
    last: dict[int, tuple[int, str]] = {}
    for pos, clip, action in log_since(ws, 0, sense):
        if pos > upto:
            break
        last[clip] = (pos, action)
    return {c: p for c, (p, a) in last.items() if a == ADD}


def _entries_query(clips: Sequence[int] | None) -> Any:
    query = select(
        FingerprintRow.clip_id,
        FingerprintRow.time_s,
        type_coerce(FingerprintRow.full, BigInteger),
        type_coerce(FingerprintRow.center80, BigInteger),
    ).where(*_INDEXED)
    if clips is not None:
        query = query.where(FingerprintRow.clip_id.in_(clips))
    return query.order_by(FingerprintRow.clip_id, FingerprintRow.index)


def entries_of(rows: np.ndarray) -> Entries:
    """Stored frames -> entries: two per frame (full, central 80 %), full first."""
    hashes = np.empty(len(rows) * 2, np.uint64)
    hashes[0::2] = rows["full"].view(np.uint64)
    hashes[1::2] = rows["c80"].view(np.uint64)
    return Entries(hashes, np.repeat(rows["clip"], 2), np.repeat(rows["time"], 2))


def read_entries(ws: Workspace, clips: Iterable[int] | None = None) -> Entries:
    """The index entries the case store's fingerprints give, for `clips` (None: all).

    Only rows whose `hash` is the one matching makes (`fingerprints.HASH`) are read. Why it
    reads this way (4 M rows, bench/bench_fingerprints.py): the views come as the raw signed
    BIGINT (no per-value conversion) and are reinterpreted as uint64 at once, and the rows
    stream from a Core result straight into one numpy record array, as ORM rows and Python
    lists of their columns cost most of the time.
    """
    chunks: list[list[int] | None] = [None]
    if clips is not None:
        ids = sorted(set(clips))
        chunks = [ids[i : i + IN_CHUNK] for i in range(0, len(ids), IN_CHUNK)]
    parts = []
    with ws.cases.session() as ses:
        conn = ses.connection()
        for chunk in chunks:
            result = conn.execute(_entries_query(chunk))
            parts.append(np.fromiter((tuple(r) for r in result), _STORED))
    rows = np.concatenate(parts) if parts else np.empty(0, _STORED)
    return entries_of(rows)

"""Building the archive index from the case store, and what every part of it shares: where it
lives, its locks, how clips are split into shards.

A rebuild reads the log's position first, then every fingerprint row (a clip added meanwhile
is read again by the next catch-up, its newer add superseding what was read here), writes one
base segment per shard and makes them the manifest. It is what `osint-video index rebuild`
does, and what any process does when it finds the index missing, damaged or made from another
store.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select

from ..store.schema import PICTURE
from ..workspace import Workspace
from .fingerprints import HASH, STORED_VIEWS
from .manifest import (
    Manifest,
    SegmentRef,
    last_adds,
    log_head,
    read_entries,
    write_manifest,
)
from .segments import Content, concat, folders, load_segment, meta_checksum, write_segment

# Locks (store/locks.py): one compaction or rebuild at a time; one manifest writer at a time;
# matching's catch-up, search of what is new, and record.
COMPACT_LOCK = "archive-compact"
SEGMENTS_LOCK = "archive-segments"
SEARCH_LOCK = "archive-index"


def index_dir(ws: Workspace) -> Path:
    return ws.home / "index"


@dataclass(frozen=True)
class Kind:
    """What one sense's index is made of; everything else (log, segments, manifest, tail,
    catch-up, compaction, repair) is shared. The picture's is `PICTURE`; the sound's is
    `sound_index.SOUND` (folder `index/sound/`, the log rows whose `sense` is `sound`).

    `read(ws, clips)`: the store's entries of `clips` (None: all) and each clip's count of
    informative entries (the labels' second field); `write`/`load`: a segment's files.
    """

    sense: str
    hash: str
    name: str  # how messages name it
    folder: str  # under WORKSPACE/index/ ("": the folder itself)
    per_count: int  # index entries per counted item (the picture: two views per frame)
    read: Callable[[Workspace, Sequence[int] | None], tuple[Any, dict[int, int]]]
    write: Callable[[Path, int, int, int, Content], str]
    load: Callable[[Path, str, str], Any]
    concat: Callable[[list[Any]], Any]
    sharded: bool = True  # split by `[matching] shards` (else one shard)

    def root(self, ws: Workspace) -> Path:
        return index_dir(ws) / self.folder if self.folder else index_dir(ws)

    def shards(self, ws: Workspace) -> int:
        return max(1, ws.config.matching.shards) if self.sharded else 1


def picture_read(ws: Workspace, clips: Sequence[int] | None) -> tuple[Any, dict[int, int]]:
    """The picture's entries of `clips` (None: all) and each clip's informative frames."""
    entries = read_entries(ws, clips)
    ids, counts = np.unique(entries.clips, return_counts=True)
    return entries, dict(zip(ids.tolist(), (counts // len(STORED_VIEWS)).tolist(), strict=True))


PICTURE_KIND = Kind(
    PICTURE, HASH, "archive index", "", len(STORED_VIEWS), picture_read, write_segment,
    load_segment, concat,
)  # fmt: skip


def shard_of(clip_id: int, shards: int) -> int:
    return clip_id % shards


def split_shards(content: Content, shards: int) -> list[Content]:
    """One part of `content` per shard (clips go to `clip_id % shards`)."""
    if shards == 1:
        return [content]
    which = np.asarray(content.entries.clips, np.int64) % shards
    return [
        Content(
            content.entries.take(which == k),
            {c: v for c, v in content.labels.items() if shard_of(c, shards) == k},
            {c: v for c, v in content.tombstones.items() if shard_of(c, shards) == k},
        )
        for k in range(shards)
    ]


# -- building from the store --------------------------------------------------------------------


def rebuild_files(ws: Workspace, shards: int | None = None, kind: Kind = PICTURE_KIND) -> Manifest:
    """Build the whole index from the case store's fingerprints and make it the manifest
    (under the compaction lock: a rebuild and a compaction never run at once)."""
    with ws.lock(COMPACT_LOCK):
        return build_from_store(ws, shards or kind.shards(ws), kind)


def build_from_store(ws: Workspace, shards: int, kind: Kind = PICTURE_KIND) -> Manifest:
    """One base segment per shard from every fingerprint in the store; segments no manifest
    names are removed. Call holding the compaction lock."""
    root = kind.root(ws)
    root.mkdir(parents=True, exist_ok=True)
    count = max(1, shards)
    position, anchor = log_head(ws, kind.sense)
    adds = last_adds(ws, position, kind.sense)
    entries, counts = kind.read(ws, None)  # read after the log: a newer add is caught up later
    labels = {c: (adds.get(c, 0), int(counts.get(c, 0))) for c in set(adds) | set(counts)}
    refs: list[tuple[SegmentRef, ...]] = []
    for k, part in enumerate(split_shards(Content(entries, labels), count)):
        if not part.labels:
            refs.append(())
            continue
        name = kind.write(root, k, 0, position, part)
        refs.append((SegmentRef(name, meta_checksum(root, name), 0, position, len(part.entries)),))
    manifest = Manifest(position, anchor, tuple(refs), kind.hash)
    with ws.lock(SEGMENTS_LOCK):
        write_manifest(root, manifest)
        remove_unused(root, manifest)
    return manifest


def remove_unused(root: Path, manifest: Manifest) -> None:
    """Delete segment folders the manifest does not name (replaced ones, and what a killed
    writer left); call holding both index locks. A process that still maps a deleted
    segment's files keeps reading them until it adopts the new manifest."""

    named = {r.name for r in manifest.refs()}
    for folder in folders(root):
        if folder.name not in named:
            shutil.rmtree(folder, ignore_errors=True)
    for old in root.glob("*.npy"):  # the one-array indexes before segments
        old.unlink(missing_ok=True)


def indexed_clip_ids(ws: Workspace) -> set[int]:
    """Clips that still exist in the store (a compaction drops entries of deleted ones)."""
    from ..store.schema import ClipRow

    with ws.cases.session() as ses:
        return {int(i) for i in ses.scalars(select(ClipRow.id))}

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
from pathlib import Path

import numpy as np
from sqlalchemy import select

from ..workspace import Workspace
from .fingerprints import STORED_VIEWS
from .manifest import (
    Manifest,
    SegmentRef,
    last_adds,
    log_head,
    read_entries,
    write_manifest,
)
from .segments import Content, folders, meta_checksum, write_segment

# Locks (store/locks.py): one compaction or rebuild at a time; one manifest writer at a time;
# matching's catch-up, search of what is new, and record.
COMPACT_LOCK = "archive-compact"
SEGMENTS_LOCK = "archive-segments"
SEARCH_LOCK = "archive-index"


def index_dir(ws: Workspace) -> Path:
    return ws.home / "index"


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


def rebuild_files(ws: Workspace, shards: int | None = None) -> Manifest:
    """Build the whole index from the case store's fingerprints and make it the manifest
    (under the compaction lock: a rebuild and a compaction never run at once)."""
    with ws.lock(COMPACT_LOCK):
        return build_from_store(ws, shards or ws.config.matching.shards)


def build_from_store(ws: Workspace, shards: int) -> Manifest:
    """One base segment per shard from every fingerprint in the store; segments no manifest
    names are removed. Call holding the compaction lock."""
    root = index_dir(ws)
    root.mkdir(parents=True, exist_ok=True)
    count = max(1, shards)
    position, anchor = log_head(ws)
    adds = last_adds(ws, position)
    entries = read_entries(ws)  # read after the log: a newer add is caught up later
    clips, counts = np.unique(entries.clips, return_counts=True)
    frames = dict(zip(clips.tolist(), (counts // len(STORED_VIEWS)).tolist(), strict=True))
    labels = {c: (adds.get(c, 0), int(frames.get(c, 0))) for c in set(adds) | set(frames)}
    refs: list[tuple[SegmentRef, ...]] = []
    for k, part in enumerate(split_shards(Content(entries, labels), count)):
        if not part.labels:
            refs.append(())
            continue
        name = write_segment(root, k, 0, position, part)
        refs.append((SegmentRef(name, meta_checksum(root, name), 0, position, len(part.entries)),))
    manifest = Manifest(position, anchor, tuple(refs))
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
    for old in ("hashes.npy", "clips.npy", "times.npy"):  # the one-array index before segments
        (root / old).unlink(missing_ok=True)


def indexed_clip_ids(ws: Workspace) -> set[int]:
    """Clips that still exist in the store (a compaction drops entries of deleted ones)."""
    from ..store.schema import ClipRow

    with ws.cases.session() as ses:
        return {int(i) for i in ses.scalars(select(ClipRow.id))}

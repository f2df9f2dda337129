"""Compaction: a shard's segments merged into one, while searches go on.

Why: every segment is searched on every query, and dead entries (a clip matched again, a clip
removed) stay in their segments until something rewrites them. Policy per shard, checked by
the process that has just written a segment (`after_job`):

- the smaller segments together reach `[matching] compact_ratio` of the largest: everything
  is merged into one new base (rewriting N hashes once per `compact_ratio * N` added keeps the
  cost per added hash constant however large the archive grows);
- else more than `MAX_SMALL` small segments: they are merged among themselves (cost in
  proportion to their size, not the archive's).

It runs in a child process (`python -m osint_video.matching.compact`), so a worker's resident
set never holds a merge's temporaries. Two compactions never run at once (the
`archive-compact` lock: the second waits, then finds nothing left to do). The new segment is
written beside the old ones; only the manifest swap (under `archive-segments`) is serialised
with other writers. Readers keep the files they mapped until they adopt the new manifest.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..workspace import Workspace
from .build import (
    COMPACT_LOCK,
    PICTURE_KIND,
    SEGMENTS_LOCK,
    Kind,
    build_from_store,
    index_dir,
    indexed_clip_ids,
    remove_unused,
)
from .index import LiveIndex
from .manifest import (
    IndexInconsistent,
    Manifest,
    SegmentRef,
    anchor_holds,
    log_head,
    read_manifest,
    write_manifest,
)
from .segments import Content, SegmentDamaged, concat, meta_checksum
from .sound_index import SOUND_KIND

MAX_SMALL = 6
Notify = Callable[[str], None]


@dataclass(frozen=True)
class Plan:
    """Merge `names` (consecutive segments of `shard`); `full`: the shard's every segment."""

    shard: int
    names: tuple[str, ...]
    full: bool


def due(manifest: Manifest, ratio: float) -> list[Plan]:
    """What the policy says should be merged now (nothing: an empty list)."""
    plans = []
    for k, shard in enumerate(manifest.shards):
        if len(shard) < 2:
            continue
        base, rest = shard[0], shard[1:]
        if sum(r.count for r in rest) >= ratio * base.count:
            plans.append(Plan(k, tuple(r.name for r in shard), True))
        elif len(rest) > MAX_SMALL:
            plans.append(Plan(k, tuple(r.name for r in rest), False))
    return plans


def everything(manifest: Manifest) -> list[Plan]:
    return [
        Plan(k, tuple(r.name for r in shard), True)
        for k, shard in enumerate(manifest.shards)
        if shard
    ]


def merge(
    segments: list[Any], full: bool, exists: set[int] | None, join: Callable[..., Any] = concat
) -> Content:
    """The live content of consecutive segments (of either kind: `join` concatenates their
    entries) as one: each clip's latest change among them wins; `full` (nothing older exists)
    drops tombstones, and `exists` drops clips that were deleted from the store."""
    latest: dict[int, tuple[int, int, int]] = {}  # clip -> (position, frames, segment or -1)
    for i, seg in enumerate(segments):
        for c, (p, f) in seg.content.labels.items():
            if p >= latest.get(c, (-1, 0, 0))[0]:
                latest[c] = (p, f, i)
        for c, p in seg.content.tombstones.items():
            if p > latest.get(c, (-1, 0, 0))[0]:
                latest[c] = (p, 0, -1)
    if exists is not None:
        latest = {c: v for c, v in latest.items() if v[2] < 0 or c in exists}
    parts = []
    for i, seg in enumerate(segments):
        mine = np.array([c for c, v in latest.items() if v[2] == i], np.int64)
        parts.append(seg.content.entries.of_clips(mine))
    labels = {c: (p, f) for c, (p, f, i) in latest.items() if i >= 0}
    tombs = {} if full else {c: p for c, (p, _f, i) in latest.items() if i < 0}
    return Content(join(parts), labels, tombs)


def compact(ws: Workspace, full: bool = True, notify: Notify | None = None) -> list[str]:
    """Merge segments (`full`: every shard's into one; else what the policy says is due), the
    picture's and then the sound's (`sound: ` before its lines).

    Waits for a compaction or rebuild already running. A missing, damaged or inconsistent
    index is rebuilt from the store instead (and said so).

    Returns:
        One line per shard merged (empty: nothing to do).
    """
    lines = compact_kind(ws, PICTURE_KIND, full, notify)
    return lines + [f"sound: {line}" for line in compact_kind(ws, SOUND_KIND, full, notify)]


def compact_kind(ws: Workspace, kind: Kind, full: bool, notify: Notify | None) -> list[str]:
    """`compact` for one sense's index."""
    root = kind.root(ws)
    with ws.lock(COMPACT_LOCK):
        try:
            manifest = read_manifest(root, kind.hash)
            if manifest is None:
                if kind is SOUND_KIND and not log_head(ws, kind.sense)[0]:
                    return []  # no sound recorded yet: nothing to build or merge
                raise FileNotFoundError(root / "manifest.json")
            if not anchor_holds(ws, manifest, kind.sense):
                raise IndexInconsistent("made from another case store")
            ratio = ws.config.matching.compact_ratio
            plans = everything(manifest) if full else due(manifest, ratio)
            refs = {r.name: r for r in manifest.refs()}
            loaded = {n: kind.load(root, n, refs[n].sha256) for p in plans for n in p.names}
        except (FileNotFoundError, IndexInconsistent, SegmentDamaged) as exc:
            if notify:
                notify(f"{kind.name} at {root}: {exc}; rebuilt from the case store")
            build_from_store(ws, kind.shards(ws), kind)
            return ["rebuilt from the case store"]
        exists = indexed_clip_ids(ws) if any(p.full for p in plans) else None
        done: dict[str, SegmentRef | None] = {}
        lines = []
        for plan in plans:
            segs = [loaded[n] for n in plan.names]
            content = merge(segs, plan.full, exists, kind.concat)
            start, end = segs[0].start, segs[-1].end
            name = kind.write(root, plan.shard, start, end, content)
            ref = SegmentRef(name, meta_checksum(root, name), start, end, len(content.entries))
            done[plan.names[0]] = ref
            done.update(dict.fromkeys(plan.names[1:]))
            before = sum(len(s) for s in segs)
            lines.append(
                f"shard {plan.shard}: {len(segs)} segment(s), {before} entries -> "
                f"1 segment, {len(content.entries)} entries"
            )
        del loaded
        if done:
            with ws.lock(SEGMENTS_LOCK):
                current = read_manifest(root, kind.hash) or manifest
                new = _swapped(current, done)
                write_manifest(root, new)
                remove_unused(root, new)
    return lines


def _swapped(current: Manifest, done: dict[str, SegmentRef | None]) -> Manifest:
    """`current` (which may have gained segments since the merge began) with each merged group
    replaced by its new segment, in place of the group's first member."""
    shards = []
    for shard in current.shards:
        out = []
        for r in shard:
            if r.name not in done:
                out.append(r)
            elif (merged := done[r.name]) is not None:
                out.append(merged)
        shards.append(tuple(out))
    return Manifest(current.position, current.anchor, tuple(shards), current.kind)


# -- automatically, after a job ----------------------------------------------------------------

_child: subprocess.Popen[bytes] | None = None


def after_job(ws: Workspace, idx: LiveIndex) -> None:
    """Write the tail out once it is large enough; start a compaction when one is due."""
    cfg = ws.config.matching
    if not idx.flush(ws, cfg.segment_hashes):
        return
    manifest = idx.manifest
    if cfg.auto_compact and manifest is not None and due(manifest, cfg.compact_ratio):
        spawn(ws)


def spawn(ws: Workspace) -> subprocess.Popen[bytes] | None:
    """Start a background compaction (at most one child per process at a time)."""
    global _child
    if _child is not None and _child.poll() is None:
        return None
    env = {
        **os.environ,
        "OSINT_VIDEO__WORKSPACE__HOME": str(ws.home),
        "OSINT_VIDEO_DB": ws.cases.url,
        **{
            f"OSINT_VIDEO__MATCHING__{k.upper()}": str(v).lower() if isinstance(v, bool) else str(v)
            for k, v in ws.config.matching.__dict__.items()
        },
    }
    log = (index_dir(ws) / "compact.log").open("ab")
    try:
        _child = subprocess.Popen(
            [sys.executable, "-m", "osint_video.matching.compact"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives a `triage` that ends meanwhile
        )
    finally:
        log.close()
    return _child


def main() -> None:
    """The background compaction: what the policy says is due, then exit."""
    from ..config import load_config

    ws = Workspace.open(load_config())
    try:
        for line in compact(ws, full=False, notify=print):
            print(line, flush=True)
    finally:
        ws.close()


if __name__ == "__main__":
    main()

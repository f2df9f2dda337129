"""The archive index: every indexed clip's stored fingerprints, searchable at desk scale.

Why a file index next to the case store: Hamming search needs the hashes as flat arrays (SQL
cannot do it fast). The case store's `match_fingerprints` table stays the source of truth; the
index in WORKSPACE/index/ is a derived copy, and what it must reflect is the store's index log
(`schema.IndexLogRow`: one row per clip whose fingerprints were recorded or removed, in commit
order). What a clip costs must not grow with the archive, so nothing is reloaded, recounted,
rebuilt or rewritten per clip:

- **segments** (`segments.py`): immutable folders of entries with their multi-index tables,
  memory-mapped (the processes of a machine share one copy in the page cache), each with its
  checksums, verified when first loaded;
- **the tail**: what this process has read from the store's log past the manifest's position,
  in memory, searched by a numpy scan; past `[matching] segment_hashes` entries a process
  writes it out as a new small segment (`flush`, under the `archive-segments` lock);
- **compaction** (`compact.py`): merges segments into one (automatically, in a child process,
  when the small ones add up to `[matching] compact_ratio` of the largest; `osint-video index
  compact` by hand), without stopping searches: readers keep the files they mapped;
- **liveness by label, not by rewrite**: every entry carries (through its segment's labels)
  the log position of the `add` that made it; it counts only while that add is its clip's
  latest change. A clip matched again or removed (`remove_clip`) leaves its old entries in
  place until a compaction drops them (tombstones);
- **one warm index per process** (`open_index`): kept across jobs (a desk worker, a local
  pool process), it catches up from the store's log on every use, so a clip another machine
  indexed a second ago is searched by the next job here.

A missing, damaged or inconsistent index (no manifest, a segment whose checksum fails, a
manifest made from another store) is rebuilt from the store and said so.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

import numpy as np
from sqlalchemy import delete
from sqlalchemy.orm import Session

from ..store.schema import ADD, PICTURE, REMOVE, SOUND, FingerprintRow, IndexLogRow
from ..workspace import Workspace
from .build import (
    COMPACT_LOCK,
    PICTURE_KIND,
    SEARCH_LOCK,
    SEGMENTS_LOCK,
    Kind,
    build_from_store,
    index_dir,
    rebuild_files,
    split_shards,
)
from .fingerprints import FrameFingerprint
from .hits import FrameHits, View
from .manifest import (
    IndexInconsistent,
    Manifest,
    SegmentRef,
    anchor_holds,
    log_head,
    log_since,
    manifest_stat,
    read_manifest,
    write_manifest,
)
from .segments import (
    Content,
    Entries,
    Segment,
    SegmentDamaged,
    concat,
    meta_checksum,
)

Notify = Callable[[str], None]
__all__ = [
    "COMPACT_LOCK",
    "SEARCH_LOCK",
    "SEGMENTS_LOCK",
    "IndexInconsistent",
    "LiveIndex",
    "index_dir",
    "open_index",
    "rebuild",
    "remove_clip",
]


def _merge_tail(tail: Content, chunk: Content, kind: Kind) -> Content:
    """The tail with a newer chunk applied: a clip's newer change replaces its older one."""
    changed = set(chunk.labels) | set(chunk.tombstones)
    if changed and len(tail.entries):
        older = tail.entries.of_clips(np.fromiter(changed, np.int64), keep=False)
        entries = kind.concat([older, chunk.entries])
    else:
        entries = kind.concat([tail.entries, chunk.entries])
    labels = {c: v for c, v in tail.labels.items() if c not in changed} | chunk.labels
    tombs = {c: v for c, v in tail.tombstones.items() if c not in changed} | chunk.tombstones
    return Content(entries, labels, tombs)


def _trim_tail(tail: Content, upto: int) -> Content:
    """The tail without the changes at or before log position `upto` (now in segments)."""
    gone = {c for c, (p, _f) in tail.labels.items() if p <= upto}
    gone |= {c for c, p in tail.tombstones.items() if p <= upto}
    return Content(
        tail.entries.of_clips(np.fromiter(gone, np.int64), keep=False) if gone else tail.entries,
        {c: v for c, v in tail.labels.items() if c not in gone},
        {c: v for c, v in tail.tombstones.items() if c not in gone},
    )


def read_chunk(
    ws: Workspace, changes: list[tuple[int, int, str]], kind: Kind = PICTURE_KIND
) -> Content:
    """The store's current rows for the clips of some log changes, labelled by the changes."""
    last: dict[int, tuple[int, str]] = {}
    for pos, clip, action in changes:
        last[clip] = (pos, action)
    adds = sorted(c for c, (_p, a) in last.items() if a == ADD)
    entries, frames = kind.read(ws, adds)
    return Content(
        entries,
        {c: (last[c][0], int(frames.get(c, 0))) for c in adds},
        {c: p for c, (p, a) in last.items() if a == REMOVE},
    )


@dataclass
class _State:
    """The parts of a LiveIndex that change together (under its lock)."""

    manifest: Manifest | None = None
    stat: tuple[int, int, int] | None = None
    segments: tuple[Segment, ...] = ()
    tail: Content = field(default_factory=lambda: Content(concat([])))
    tail_start: int = 0
    position: int = 0
    live: dict[int, tuple[int, int]] = field(default_factory=dict)


class LiveIndex:
    """The archive index as one process keeps it open: segments mapped, the tail in memory,
    the live labels of every clip. Thread-safe (a worker runs several jobs at once).

    `KIND` says what it indexes: the picture's hashes here, the sound's in the subclass
    `sound_index.LiveSoundIndex`, which shares all of the bookkeeping below."""

    KIND: Kind = PICTURE_KIND

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.RLock()
        self._s = _State(tail=self._empty())
        self.caught_up = 0  # log changes read by the last catch-up (the bench reports it)
        self._unsaid: list[str] = []  # repairs made with no one to tell (a background open)

    # -- what callers read ------------------------------------------------------------------

    def __len__(self) -> int:
        """Live entries (stored views of informative frames of indexed clips)."""
        with self._lock:
            return sum(f for _p, f in self._s.live.values()) * self.KIND.per_count

    def _empty(self) -> Content:
        return Content(self.KIND.concat([]))

    @property
    def position(self) -> int:
        return self._s.position

    @property
    def manifest(self) -> Manifest | None:
        return self._s.manifest

    @property
    def segments(self) -> tuple[Segment, ...]:
        return self._s.segments

    def clips(self) -> list[int]:
        with self._lock:
            return sorted(self._s.live)

    def frames_per_clip(self, clip_id: int) -> int:
        """Informative frames indexed for a clip (0: not indexed)."""
        return self._s.live.get(clip_id, (0, 0))[1]

    def view(self) -> View:
        with self._lock:
            s = self._s
            return View(s.segments, s.tail, s.position)

    def alive(self, hits: FrameHits, exclude: int | None = None) -> FrameHits:
        """The hits whose entries still count (their clip's latest change made them)."""
        with self._lock:
            live = self._s.live
            keep = np.array(
                [
                    c != exclude and live.get(c, (-2, 0))[0] == lab
                    for c, lab in zip(hits.clip.tolist(), hits.label.tolist(), strict=True)
                ],
                dtype=bool,
            )
        return hits.take(keep) if len(keep) else hits

    def entries(self) -> Entries:
        """Every live entry (tests and `index rebuild`'s summary; not used to search)."""
        view = self.view()
        parts = []
        for content in [*(s.content for s in view.segments), view.tail]:
            live = self._s.live
            good = [c for c, (p, _f) in content.labels.items() if live.get(c, (-2, 0))[0] == p]
            keep = np.isin(np.asarray(content.entries.clips), np.array(good, np.int64))
            parts.append(
                Entries(
                    np.asarray(content.entries.hashes)[keep],
                    np.asarray(content.entries.clips)[keep],
                    np.asarray(content.entries.times)[keep],
                )
            )
        return concat(parts)

    @property
    def hashes(self) -> np.ndarray:
        return self.entries().hashes

    # -- keeping up with the store ----------------------------------------------------------

    def refresh(self, ws: Workspace, notify: Notify | None = None) -> None:
        """Adopt a new manifest if another process wrote one, then catch up from the store."""
        with self._lock:
            if self._s.manifest is None or manifest_stat(self.root) != self._s.stat:
                self._adopt(ws, notify)
            self.catch_up(ws)
            if notify:
                while self._unsaid:
                    notify(self._unsaid.pop(0))

    def catch_up(self, ws: Workspace) -> Content:
        """Read the store's log past this index's position (and the rows it names).

        Returns:
            What was read (searched on its own under the archive lock: `match.finish`).
        """
        with self._lock:
            changes = log_since(ws, self._s.position, self.KIND.sense)
            self.caught_up = len(changes)
            if not changes:
                return self._empty()
            chunk = read_chunk(ws, changes, self.KIND)
            s = self._s
            s.tail = _merge_tail(s.tail, chunk, self.KIND)
            for c, label in chunk.labels.items():
                s.live[c] = label
            for c in chunk.tombstones:
                s.live.pop(c, None)
            s.position = changes[-1][0]
            return chunk

    def _adopt(self, ws: Workspace, notify: Notify | None) -> None:
        """Read the manifest (rebuilding the index when it cannot be used) and map its
        segments; keep the part of the tail the manifest does not cover."""
        for attempt in range(3):
            stat = manifest_stat(self.root)
            try:
                manifest, segments = self._load(ws)
                break
            except (FileNotFoundError, IndexInconsistent, SegmentDamaged) as exc:
                if manifest_stat(self.root) != stat and attempt < 2:
                    continue  # replaced while we read it (a compaction): read the new one
                manifest, segments = self._repair(ws, exc, stat, notify)
                break
        self._install(manifest, segments, manifest_stat(self.root))

    def _load(self, ws: Workspace) -> tuple[Manifest, tuple[Segment, ...]]:
        manifest = read_manifest(self.root, self.KIND.hash)
        if manifest is None:
            raise FileNotFoundError(self.root / "manifest.json")
        if not anchor_holds(ws, manifest, self.KIND.sense):
            raise IndexInconsistent(
                f"it was made at index-log position {manifest.position}, which this case "
                "store does not have (another store, or one restored from an older copy)"
            )
        have = {s.name: s for s in self._s.segments}
        segments = tuple(
            have[r.name] if r.name in have else self.KIND.load(self.root, r.name, r.sha256)
            for r in manifest.refs()
        )
        return manifest, segments

    def _repair(
        self,
        ws: Workspace,
        why: Exception,
        stat: tuple[int, int, int] | None,
        notify: Notify | None,
    ) -> tuple[Manifest, tuple[Segment, ...]]:
        """Rebuild from the store, unless another process did while we waited for the lock."""
        with ws.lock(COMPACT_LOCK):
            if manifest_stat(self.root) != stat:
                try:
                    return self._load(ws)
                except (FileNotFoundError, IndexInconsistent, SegmentDamaged) as exc:
                    why = exc
            kind = self.KIND
            if not isinstance(why, FileNotFoundError) or log_head(ws, kind.sense)[0]:
                what = "missing" if isinstance(why, FileNotFoundError) else f"inconsistent ({why})"
                said = f"{kind.name} at {self.root} is {what}: rebuilt from the case store"
                self._log(said)
                (notify or self._unsaid.append)(said)
            manifest = build_from_store(ws, kind.shards(ws), kind)
        segments = tuple(self.KIND.load(self.root, r.name, r.sha256) for r in manifest.refs())
        return manifest, segments

    def _log(self, message: str) -> None:
        """Keep a line in `index/index.log` too (a worker's jobs have no one to tell)."""
        from datetime import UTC, datetime

        with suppress(OSError):
            self.root.mkdir(parents=True, exist_ok=True)
            with (self.root / "index.log").open("a") as log:
                log.write(f"{datetime.now(UTC).isoformat(timespec='seconds')} {message}\n")

    def _install(
        self, manifest: Manifest, segments: tuple[Segment, ...], stat: tuple[int, int, int] | None
    ) -> None:
        s = self._s
        at = manifest.position
        if s.manifest is not None and s.tail_start <= at <= s.position:
            tail, start, position = _trim_tail(s.tail, at), at, s.position
        else:  # ahead of us, or behind what we flushed (a rebuild): read again from its position
            tail, start, position = self._empty(), at, at
        self._s = _State(manifest, stat, segments, tail, start, position)
        self._s.live = _live_labels([*(g.content for g in segments), tail])

    # -- writing the tail out -----------------------------------------------------------------

    def tail_size(self) -> int:
        s = self._s
        return len(s.tail.entries) + len(s.tail.tombstones) + len(s.tail.labels)

    def flush(self, ws: Workspace, minimum: int) -> bool:
        """Write the tail as new segments once it holds `minimum` entries (or labels).

        Skipped when another process has replaced the manifest meanwhile (this process adopts
        it at its next refresh and flushes what is left then).

        Returns:
            Whether segments were written.
        """
        with self._lock:
            s = self._s
            if s.manifest is None or self.tail_size() < max(1, minimum):
                return False
            with ws.lock(SEGMENTS_LOCK):
                if manifest_stat(self.root) != s.stat:
                    return False
                manifest, new = self._write_tail(s.manifest)
                write_manifest(self.root, manifest)
                stat = manifest_stat(self.root)
            self._s = replace(
                s,
                manifest=manifest,
                stat=stat,
                segments=s.segments + new,
                tail=self._empty(),
                tail_start=s.position,
            )
            return True

    def _write_tail(self, old: Manifest) -> tuple[Manifest, tuple[Segment, ...]]:
        s = self._s
        count = len(old.shards)
        shards = [list(shard) for shard in old.shards]
        new = []
        for k, part in enumerate(split_shards(s.tail, count)):
            if not (part.labels or part.tombstones):
                continue
            name = self.KIND.write(self.root, k, s.tail_start, s.position, part)
            sha = meta_checksum(self.root, name)
            seg = self.KIND.load(self.root, name, sha)
            shards[k].append(SegmentRef(name, sha, s.tail_start, s.position, len(part.entries)))
            new.append(seg)
        anchor = log_anchor_of(s, old)
        manifest = Manifest(s.position, anchor, tuple(tuple(x) for x in shards), old.kind)
        return manifest, tuple(new)


def log_anchor_of(s: _State, old: Manifest) -> tuple[int, str] | None:
    """The log row at the tail's end (the last change the tail applied)."""
    if s.position == old.position:
        return old.anchor
    for c, (p, _f) in s.tail.labels.items():
        if p == s.position:
            return (c, ADD)
    for c, p in s.tail.tombstones.items():
        if p == s.position:
            return (c, REMOVE)
    raise AssertionError("the tail's last change is not in the tail")


def _live_labels(contents: Sequence[Content]) -> dict[int, tuple[int, int]]:
    """Clip -> (position, frames) of its latest add, over every source (a later removal or add
    wins); labels at position 0 are rows a rebuild read with no add before them."""
    latest: dict[int, tuple[int, int, bool]] = {}
    for content in contents:
        for c, (p, f) in content.labels.items():
            if p >= latest.get(c, (-1, 0, False))[0]:
                latest[c] = (p, f, True)
        for c, p in content.tombstones.items():
            if p > latest.get(c, (-1, 0, False))[0]:
                latest[c] = (p, 0, False)
    return {c: (p, f) for c, (p, f, added) in latest.items() if added}


# -- one warm index per process --------------------------------------------------------------

_live: dict[tuple[str, str], LiveIndex] = {}
_live_guard = threading.Lock()
KEEP_OPEN = 8  # indexes (a workspace's picture and sound) a process keeps open (tests open many)
L = TypeVar("L", bound=LiveIndex)


def live_index(ws: Workspace, cls: type[L] = LiveIndex) -> L:  # type: ignore[assignment]
    """This process's index of kind `cls` for the workspace (made on first use, never
    refreshed here)."""
    root = cls.KIND.root(ws)
    key = (str(root), ws.cases.url)
    with _live_guard:
        found = _live.pop(key, None)
        idx = found if isinstance(found, cls) else cls(root)  # (an empty index is falsy)
        _live[key] = idx  # most recently used last
        while len(_live) > KEEP_OPEN:
            _live.pop(next(iter(_live)))
    return idx


def open_index(ws: Workspace, notify: Notify | None = None) -> LiveIndex:
    """The process's warm index of the workspace, caught up with the store.

    The first call in a process maps the segments (verifying any it has not seen verified);
    later ones only read the store's log past the index's position. Missing, damaged or
    inconsistent files are rebuilt from the store (`notify` says so).
    """
    idx = live_index(ws, LiveIndex)
    idx.refresh(ws, notify)
    return idx


def warm(
    ws: Workspace, also: Callable[[Workspace], object] | None = None
) -> threading.Thread | None:
    """Open the workspace's index in the background, unless this process has it open: a
    worker or pool process at start, a one-clip `triage` while its decode runs, so that a job
    does not wait for the segments to be mapped (and, after a copy or a change, verified).
    `also`: opens another index in the same thread (`sound_index.warm_senses`)."""
    if live_index(ws, LiveIndex).manifest is not None:
        return None

    def run() -> None:
        try:
            open_index(ws)
            if also is not None:
                also(ws)
        except Exception:  # noqa: BLE001 - the job opens it again and reports the error
            pass

    thread = threading.Thread(target=run, name="index-warm", daemon=True)
    thread.start()
    return thread


def forget_open_indexes() -> None:
    """Drop every warm index of this process (tests that delete a workspace's folders)."""
    with _live_guard:
        _live.clear()


def rebuild(ws: Workspace) -> LiveIndex:
    """Rebuild the whole index from the case store (`osint-video index rebuild`); the
    `[matching] shards` setting takes effect here."""
    rebuild_files(ws)
    return open_index(ws)


# -- records --------------------------------------------------------------------------------


def fingerprint_entries(clip_id: int, fps: Sequence[FrameFingerprint]) -> Entries:
    kept = [f for f in fps if f.informative]
    hashes = np.empty(len(kept) * 2, np.uint64)
    hashes[0::2] = [f.view("full") for f in kept]
    hashes[1::2] = [f.view("center80") for f in kept]
    times = np.repeat(np.array([f.time_s for f in kept], np.float32), 2)
    return Entries(hashes, np.full(len(hashes), clip_id, np.int32), times)


def log_change(ses: Session, clip_id: int, action: str, hashes: int, sense: str = PICTURE) -> None:
    """The index-log row of a change to a clip's fingerprints (`sense`: the picture's or the
    sound's), in the caller's transaction (under the archive lock: see `schema.IndexLogRow`)."""
    ses.add(IndexLogRow(clip_id=clip_id, action=action, hashes=hashes, sense=sense))


def remove_clip(ws: Workspace, clip_id: int, actor: str) -> int:
    """Forget a clip's fingerprints, picture and sound, e.g. before the clip is deleted: they
    are deleted from the store with an index-log removal each, and the indexes' entries become
    tombstones (nothing is rebuilt or rewritten; the next compaction drops them).

    Returns:
        How many picture fingerprints were removed.
    """
    from ..store.cases import NewEvent  # the custody record of the removal
    from ..store.schema import SoundFingerprintRow

    with ws.lock(SEARCH_LOCK):
        with ws.cases.session() as ses:
            res = ses.execute(delete(FingerprintRow).where(FingerprintRow.clip_id == clip_id))
            n = int(getattr(res, "rowcount", 0) or 0)
            log_change(ses, clip_id, REMOVE, 0)
            res = ses.execute(
                delete(SoundFingerprintRow).where(SoundFingerprintRow.clip_id == clip_id)
            )
            heard = int(getattr(res, "rowcount", 0) or 0)
            details = {"fingerprints_removed": n}
            if heard:
                log_change(ses, clip_id, REMOVE, 0, SOUND)
                details["sound_tracks_removed"] = heard
            ws.cases._append_events(ses, clip_id, actor, [NewEvent("unindexed", details)])
    return n

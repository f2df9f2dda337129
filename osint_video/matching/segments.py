"""Immutable segments of the archive index: written once, memory-mapped, verified on first load.

A segment is a folder under WORKSPACE/index/ holding index entries (one per stored view of an
informative frame: `hashes.npy` uint64, `clips.npy` int32, `times.npy` float32), the
multi-index tables over them (`offsets.npy`, `order.npy`, `sorted.npy`, see
`search.build_tables`), and what it says about each clip:

- `labels.npy`: per clip, the index-log position of the `add` its entries come from and its
  informative frame count. An entry counts only while its clip's latest change is that very
  add (`index.live`): a clip matched again or removed later leaves its old entries in place,
  dead, until a compaction drops them (tombstones, not rewrites);
- `tombstones.npy`: clips whose fingerprints were removed within the segment's log range.

`segment.json` records the segment's shard, log range (start, end], size, key widths and the
SHA-256 of every file; the manifest records the SHA-256 of `segment.json`. Why checksums: the
files are a derived copy on a disk that can be damaged, truncated or edited by hand; the case
store stays the source of truth they are rebuilt from.

Verified once, not per clip: the first load hashes every file and writes `verified.json`
(each file's size, mtime, ctime and inode; the writer writes it too, from the bytes it wrote).
A later load, by any process, re-hashes only when one of those has changed: a file rewritten,
truncated or replaced changes its ctime, which no user can set back. Hashing the 10 M-hash
base (~650 MB) costs ~0.6 s, which a one-clip `triage` should not pay every time.

Writes are atomic: a folder `.tmp-NAME` is filled and fsynced, then renamed; a writer killed
half-way leaves a temporary or unreferenced folder that no manifest names (removed by the next
compaction), never a half-written segment.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np

from .search import Hits, MultiIndex, Tables, build_tables, empty_hits

FORMAT = 1
ENTRY_FILES = ("hashes", "clips", "times")
TABLE_FILES = ("offsets", "order", "sorted")
META_FILES = ("labels", "tombstones")
LABEL = np.dtype([("clip", np.int64), ("pos", np.int64), ("frames", np.int64)])
TOMB = np.dtype([("clip", np.int64), ("pos", np.int64)])
READ_CHUNK = 1 << 22
SEGMENT_NAME = re.compile(r"s\d+-\d+-\d+-[0-9a-f]+$")  # (not `sound/`, the sound index's folder)
T = TypeVar("T")
R = TypeVar("R")


class SegmentDamaged(Exception):
    """A segment's files are missing, unreadable or do not match their checksums."""


@dataclass(frozen=True)
class Entries:
    """Index entries: hash, clip id and time of each stored view of each informative frame."""

    hashes: np.ndarray
    clips: np.ndarray
    times: np.ndarray

    def __len__(self) -> int:
        return len(self.hashes)

    def take(self, keep: np.ndarray) -> Entries:
        return Entries(self.hashes[keep], self.clips[keep], self.times[keep])

    def of_clips(self, clips: np.ndarray, keep: bool = True) -> Entries:
        """The entries of `clips` (`keep`), or of every other clip."""
        return self.take(np.isin(np.asarray(self.clips), clips, invert=not keep))


def no_entries() -> Entries:
    return Entries(np.empty(0, np.uint64), np.empty(0, np.int32), np.empty(0, np.float32))


def concat(parts: list[Entries]) -> Entries:
    if not parts:
        return no_entries()
    return Entries(
        np.concatenate([np.asarray(p.hashes, np.uint64) for p in parts]),
        np.concatenate([np.asarray(p.clips, np.int32) for p in parts]),
        np.concatenate([np.asarray(p.times, np.float32) for p in parts]),
    )


@dataclass(frozen=True)
class Content(Generic[R]):
    """What a segment (or the in-memory tail) holds: entries, their labels, tombstones.

    `labels`: clip -> (log position of its add, informative frames); `tombstones`: clip ->
    log position of its removal. A clip is in one of the two at most. The entries are the
    picture's (`Entries`) or the sound's (`sound_index.SoundEntries`): both have `clips`,
    `len` and `of_clips`, all that the index's bookkeeping uses.
    """

    entries: R
    labels: dict[int, tuple[int, int]] = field(default_factory=dict)
    tombstones: dict[int, int] = field(default_factory=dict)


@dataclass
class Segment:
    """A loaded segment: memory-mapped entries and tables, searchable by multi-index hashing."""

    name: str
    shard: int
    start: int
    end: int
    content: Content[Entries]
    tables: Tables | None
    _mih: MultiIndex | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.content.entries)

    def search(self, queries: np.ndarray, radius: int) -> Hits:
        """Every (query, entry) pair of this segment within `radius` bits (exact)."""
        if self.tables is None or not len(self):
            return empty_hits()
        if self._mih is None:
            self._mih = MultiIndex.over(self.tables)
        return self._mih.search(queries, radius)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "start": self.start, "end": self.end, "count": len(self)}


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sha256_file(path: Path) -> str:
    """The file's SHA-256 read through plain reads: hashing through the memory map would bring
    every page into this process's resident set."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(READ_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _stat_key(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def _labels_array(content: Content) -> tuple[np.ndarray, np.ndarray]:
    labels = np.array(
        sorted((c, p, f) for c, (p, f) in content.labels.items()), dtype=LABEL
    ).reshape(-1)
    tombs = np.array(sorted(content.tombstones.items()), dtype=TOMB).reshape(-1)
    return labels, tombs


def write_segment(root: Path, shard: int, start: int, end: int, content: Content) -> str:
    """Write `content` as a new segment folder under `root` (atomically); returns its name.

    The folder is complete and fsynced before it is renamed into place; nothing refers to it
    until a manifest names it (`index.manifest`).
    """
    return write_folder(root, shard, start, end, content, _write_files)


def write_folder(
    root: Path,
    shard: int,
    start: int,
    end: int,
    content: Content,
    write_files: Callable[[Path, Content], dict[str, str]],
) -> str:
    """A new segment folder of any kind: `write_files` writes its arrays (returning each
    file's SHA-256), this the rest (`segment.json`, `verified.json`, fsync, rename)."""
    name = f"s{shard}-{start}-{end}-{secrets.token_hex(3)}"
    tmp = root / f".tmp-{name}"
    tmp.mkdir(parents=True)
    try:
        files = write_files(tmp, content)
        meta: dict[str, Any] = {"format": FORMAT, "shard": shard, "start": start, "end": end}
        meta |= {"count": len(content.entries), "files": files}
        (tmp / "segment.json").write_text(json.dumps(meta, indent=1))
        _stamp(tmp, list(files) + ["segment.json"])
        for f in tmp.iterdir():
            with f.open("rb") as fh:
                os.fsync(fh.fileno())
        _fsync_dir(tmp)
        os.replace(tmp, root / name)
        _fsync_dir(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return name


def save_arrays(folder: Path, arrays: dict[str, np.ndarray], content: Content) -> list[str]:
    """Save `arrays` and the content's labels and tombstones as .npy files; their keys."""
    arrays = dict(arrays)
    arrays["labels"], arrays["tombstones"] = _labels_array(content)
    for key, arr in arrays.items():
        np.save(folder / f"{key}.npy", arr)
    return list(arrays)


def checksums(folder: Path, keys: Sequence[str]) -> dict[str, str]:
    """SHA-256 of each `KEY.npy` (what `segment.json` records)."""
    return {f"{k}.npy": _sha256_file(folder / f"{k}.npy") for k in keys}


def _write_files(folder: Path, content: Content) -> dict[str, str]:
    """The arrays of a segment, each as .npy, with their SHA-256 (from the bytes written)."""
    e = content.entries
    arrays: dict[str, Any] = {
        "hashes": np.asarray(e.hashes, np.uint64),
        "clips": np.asarray(e.clips, np.int32),
        "times": np.asarray(e.times, np.float32),
    }
    keys = save_arrays(folder, arrays, content)

    def alloc(key: str, shape: tuple[int, ...], dtype: type) -> np.ndarray:
        return np.lib.format.open_memmap(folder / f"{key}.npy", "w+", dtype, shape)

    tables = build_tables(arrays["hashes"], alloc)
    for arr in (tables.offsets, tables.order, tables.sorted):
        if isinstance(arr, np.memmap):
            arr.flush()
    del tables
    return checksums(folder, (*keys, *TABLE_FILES))


def _stamp(folder: Path, files: list[str]) -> None:
    stamp = {f: _stat_key(folder / f) for f in files}
    tmp = folder / ".verified.tmp"
    tmp.write_text(json.dumps(stamp))
    os.replace(tmp, folder / "verified.json")


def _stamped(folder: Path, files: list[str]) -> bool:
    try:
        stamp = json.loads((folder / "verified.json").read_text())
        return all(stamp.get(f) == _stat_key(folder / f) for f in files)
    except (OSError, ValueError):
        return False


def meta_checksum(root: Path, name: str) -> str:
    """SHA-256 of a segment's `segment.json` (what the manifest records)."""
    return _sha256_file(root / name / "segment.json")


def load_segment(root: Path, name: str, meta_sha256: str, verify: bool = False) -> Segment:
    """Map a segment's files, checking them against its checksums first if they are new or
    changed since they were last verified (or always, with `verify`).

    Raises:
        SegmentDamaged: a file is missing, unreadable, or not what its checksum says.
    """
    return open_folder(root, name, meta_sha256, verify, _map)


def open_folder(
    root: Path,
    name: str,
    meta_sha256: str,
    verify: bool,
    mapper: Callable[[Path, str, dict[str, Any]], T],
) -> T:
    """A segment folder of any kind, checked (`load_segment`), then mapped by `mapper`.

    Raises:
        SegmentDamaged: a file is missing, unreadable, or not what its checksum says.
    """
    folder = root / name
    try:
        meta_bytes = (folder / "segment.json").read_bytes()
        if hashlib.sha256(meta_bytes).hexdigest() != meta_sha256:
            raise SegmentDamaged(f"segment {name}: segment.json does not match the manifest")
        meta = json.loads(meta_bytes)
        files = list(meta["files"])
        if verify or not _stamped(folder, [*files, "segment.json"]):
            _verify(folder, name, meta["files"])
        return mapper(folder, name, meta)
    except SegmentDamaged:
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SegmentDamaged(f"segment {name}: unreadable ({exc.__class__.__name__})") from None


def read_labels(folder: Path) -> tuple[dict[int, tuple[int, int]], dict[int, int]]:
    """A segment's labels and tombstones (`Content.labels`, `Content.tombstones`)."""
    labels = np.load(folder / "labels.npy")
    tombs = np.load(folder / "tombstones.npy")
    return (
        {int(r["clip"]): (int(r["pos"]), int(r["frames"])) for r in labels},
        {int(r["clip"]): int(r["pos"]) for r in tombs},
    )


def _verify(folder: Path, name: str, files: dict[str, str]) -> None:
    for fname, want in files.items():
        if _sha256_file(folder / fname) != want:
            raise SegmentDamaged(f"segment {name}: {fname} does not match its checksum")
    with suppress(OSError):  # a read-only index folder: verified again next time
        _stamp(folder, [*files, "segment.json"])


def _map(folder: Path, name: str, meta: dict[str, Any]) -> Segment:
    def load(key: str) -> np.ndarray:
        return np.load(folder / f"{key}.npy", mmap_mode="r")

    entries = Entries(*(load(k) for k in ENTRY_FILES))
    n = int(meta["count"])
    if not len(entries.hashes) == len(entries.clips) == len(entries.times) == n:
        raise SegmentDamaged(f"segment {name}: array lengths disagree with segment.json")
    content = Content(entries, *read_labels(folder))
    order, sorted_h, offsets = load("order"), load("sorted"), load("offsets")
    from .search import key_bits

    bits = key_bits(n)
    base = np.cumsum([0] + [(1 << w) + 1 for w in bits[:-1]]).astype(np.int64)
    if (
        order.shape != (3, n)
        or sorted_h.shape != (3, n)
        or len(offsets) != base[-1] + (1 << bits[-1]) + 1
    ):
        raise SegmentDamaged(f"segment {name}: tables disagree with segment.json")
    tables = Tables(bits, base, np.asarray(offsets), np.asarray(order), np.asarray(sorted_h))
    return Segment(name, int(meta["shard"]), int(meta["start"]), int(meta["end"]), content, tables)


def folders(root: Path) -> Iterator[Path]:
    """Every segment folder under `root`, finished or not (`.tmp-*`)."""
    if root.is_dir():
        for p in root.iterdir():
            if p.is_dir() and (SEGMENT_NAME.match(p.name) or p.name.startswith(".tmp-")):
                yield p

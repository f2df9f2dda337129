"""Content-addressed evidence store: originals kept byte for byte, named by their SHA-256.

The original is streamed once: hashed while copied into a temporary file beside its final place,
then renamed and made read-only (`stage`, then `commit`: an intake commits under its ingest
lock, see `pipeline.intake`). Storing the same bytes again is a no-op, so two acquisitions of
one video share one evidentiary copy. Nothing here ever opens an original for writing.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import stat
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..errors import InputError, StoreError

CHUNK = 1 << 20
INCOMING = ".incoming-"  # temporary files beside the store while an original streams in
# A temporary file unlocked and untouched this long was left by a killed intake.
STALE_AFTER_S = 60.0


@dataclass
class Staged:
    """An original hashed into a locked temporary file, not yet in the store (`stage`)."""

    sha256: str
    size_bytes: int
    tmp: Path
    handle: BinaryIO
    committed: bool = False

    def close(self) -> None:
        """Release the temporary file (removed unless committed) and its lock."""
        if not self.committed:
            self.tmp.unlink(missing_ok=True)
        self.handle.close()

    def __enter__(self) -> Staged:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class StoredFile:
    """An original as held in the store; `relpath` is relative to the workspace."""

    sha256: str
    size_bytes: int
    relpath: str
    newly_stored: bool


def sha256_file(path: Path) -> str:
    """Streaming SHA-256 of a file (constant memory whatever the size)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class EvidenceStore:
    """Originals under `WORKSPACE/evidence/sha256/ab/cd/<hex>`."""

    def __init__(self, workspace: Path) -> None:
        self.workspace = workspace
        self.root = workspace / "evidence" / "sha256"

    def relpath_for(self, sha256: str) -> str:
        return f"evidence/sha256/{sha256[:2]}/{sha256[2:4]}/{sha256}"

    def path_for(self, sha256: str) -> Path:
        return self.workspace / self.relpath_for(sha256)

    def put(self, source: Path) -> StoredFile:
        """Copy `source` into the store (hashing as it streams) unless those bytes are there.

        Raises:
            InputError: the source cannot be read.
            StoreError: the store cannot be written, or a stored copy no longer matches its name.
        """
        with self.stage(source) as staged:
            return self.commit(staged)

    def stage(self, source: Path) -> Staged:
        """Copy `source` into a temporary file beside the store, hashing it as it streams.

        The temporary file (`.incoming-*`) is locked (flock) while this process holds it, so a
        later intake can tell one left by a killed process (unlocked, and untouched for
        `STALE_AFTER_S`) and removes it. Use the result as a context manager: leaving the block
        removes the temporary file unless `commit` moved it into the store.

        Raises:
            InputError: the source cannot be read.
            StoreError: the store cannot be written.
        """
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self.sweep_incoming()
            fd, tmp_name = tempfile.mkstemp(prefix=INCOMING, dir=self.root)
        except OSError as exc:
            raise StoreError(f"cannot write to the evidence store {self.root}: {exc}") from None
        out = os.fdopen(fd, "wb")
        staged = Staged("", 0, Path(tmp_name), out)
        try:
            fcntl.flock(out.fileno(), fcntl.LOCK_EX)
            staged.sha256, staged.size_bytes = _copy(source, out)
        except BaseException:
            staged.close()
            raise
        return staged

    def commit(self, staged: Staged) -> StoredFile:
        """Move a staged copy to its content address, unless those bytes are stored already.

        Raises:
            StoreError: the store cannot be written, or a stored copy no longer matches its name.
        """
        sha = staged.sha256
        final = self.path_for(sha)
        try:
            if final.exists():
                self._check_existing(final, sha, staged.size_bytes)
                return StoredFile(sha, staged.size_bytes, self.relpath_for(sha), False)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(staged.tmp, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
            os.replace(staged.tmp, final)
            staged.committed = True
        except OSError as exc:
            raise StoreError(f"cannot write to the evidence store {self.root}: {exc}") from None
        return StoredFile(sha, staged.size_bytes, self.relpath_for(sha), newly_stored=True)

    def remove(self, sha256: str) -> None:
        """Take an original out of the store again: only for an intake undoing its own store.

        Raises:
            OSError: it cannot be removed.
        """
        path = self.path_for(sha256)
        if path.exists():
            path.chmod(0o600)
            path.unlink(missing_ok=True)

    def sweep_incoming(self, older_than_s: float = STALE_AFTER_S) -> list[Path]:
        """Remove temporary files that killed intakes left behind; returns what was removed.

        A temporary file is left alone while its writer holds its lock or while it changed in
        the last `older_than_s` seconds (a writer between creating and locking it).
        """
        removed = []
        for path in self.incoming(older_than_s):
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                path.unlink(missing_ok=True)
                removed.append(path)
            except OSError:
                continue  # locked: an intake is writing it now
            finally:
                os.close(fd)
        return removed

    def incoming(self, older_than_s: float = 0.0) -> list[Path]:
        """Temporary files in the store not changed for `older_than_s` seconds."""
        now = time.time()
        try:
            entries = [e for e in os.scandir(self.root) if e.name.startswith(INCOMING)]
        except OSError:
            return []
        out = []
        for entry in entries:
            try:
                if now - entry.stat(follow_symlinks=False).st_mtime >= older_than_s:
                    out.append(Path(entry.path))
            except OSError:
                continue
        return sorted(out)

    def _check_existing(self, final: Path, sha: str, size: int) -> None:
        if final.stat().st_size != size:
            raise StoreError(f"stored evidence {final} does not match its hash: run verify")


def _copy(source: Path, out: BinaryIO) -> tuple[str, int]:
    """Stream `source` into `out` (flushed to disk); returns its SHA-256 and size."""
    digest = hashlib.sha256()
    size = 0
    try:
        with open(source, "rb") as fh:
            while chunk := fh.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
    except OSError as exc:
        raise InputError(f"cannot read {source}: {exc.strerror or exc}") from None
    try:
        out.flush()
        os.fsync(out.fileno())
    except OSError as exc:
        raise StoreError(f"cannot write to the evidence store: {exc}") from None
    return digest.hexdigest(), size

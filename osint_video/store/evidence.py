"""Content-addressed evidence store: originals kept byte for byte, named by their SHA-256.

The original is streamed once: hashed while copied into a temporary file beside its final place,
then renamed and made read-only. Storing the same bytes again is a no-op, so two acquisitions of
one video share one evidentiary copy. Nothing here ever opens an original for writing.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError, StoreError

CHUNK = 1 << 20


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
        self.root.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        fd, tmp_name = tempfile.mkstemp(prefix=".incoming-", dir=self.root)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                try:
                    with open(source, "rb") as fh:
                        while chunk := fh.read(CHUNK):
                            digest.update(chunk)
                            out.write(chunk)
                            size += len(chunk)
                except OSError as exc:
                    raise InputError(f"cannot read {source}: {exc.strerror or exc}") from None
                out.flush()
                os.fsync(out.fileno())
            sha = digest.hexdigest()
            final = self.path_for(sha)
            if final.exists():
                self._check_existing(final, sha, size)
                return StoredFile(sha, size, self.relpath_for(sha), newly_stored=False)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(tmp, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
            os.replace(tmp, final)
            return StoredFile(sha, size, self.relpath_for(sha), newly_stored=True)
        except OSError as exc:
            raise StoreError(f"cannot write to the evidence store {self.root}: {exc}") from None
        finally:
            tmp.unlink(missing_ok=True)

    def _check_existing(self, final: Path, sha: str, size: int) -> None:
        if final.stat().st_size != size:
            raise StoreError(f"stored evidence {final} does not match its hash: run verify")

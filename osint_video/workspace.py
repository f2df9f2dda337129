"""A workspace: the configuration plus the stores it points to, opened once per command."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .config import Config
from .store.cases import CaseStore
from .store.evidence import EvidenceStore


@dataclass
class Workspace:
    """Where everything lives: `home/cases.sqlite`, `home/evidence/`, `home/derived/<sha256>/`."""

    config: Config
    home: Path
    cases: CaseStore
    evidence: EvidenceStore

    @classmethod
    def open(cls, config: Config) -> Workspace:
        home = config.home_dir()
        home.mkdir(parents=True, exist_ok=True)
        return cls(config, home, CaseStore(config.database_url()), EvidenceStore(home))

    def derived_dir(self, sha256: str) -> Path:
        return self.home / "derived" / sha256

    def rel(self, path: Path) -> str:
        """Workspace-relative POSIX path, as stored in the database and reports."""
        return path.resolve().relative_to(self.home).as_posix()

    @contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """Hold the named lock against every process (and desk machine) of this workspace."""
        with self.cases.locks.hold(name):
            yield

    def close(self) -> None:
        self.cases.close()

"""How long work tells whoever runs it how far it got, without knowing who that is.

The library never draws a progress bar or prints (the command line draws with rich, the web
desk pushes to a page, a worker logs, a test records): a batch function takes a `Tracker` and
calls it; `SILENT` ignores everything.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Protocol

Say = Callable[[str, float], None]  # (stage, fraction 0..1) of one item


class Tracker(Protocol):
    """Receives the progress of a batch: items begin, move through stages, end; and notes."""

    def begin(self, key: Hashable, label: str) -> None: ...

    def update(self, key: Hashable, stage: str, fraction: float) -> None: ...

    def end(self, key: Hashable) -> None: ...

    def note(self, message: str) -> None: ...


class Silent:
    """A tracker that ignores everything (libraries' default, tests)."""

    def begin(self, key: Hashable, label: str) -> None:
        return None

    def update(self, key: Hashable, stage: str, fraction: float) -> None:
        return None

    def end(self, key: Hashable) -> None:
        return None

    def note(self, message: str) -> None:
        return None


SILENT = Silent()


def say_for(tracker: Tracker, key: Hashable) -> Say:
    """The (stage, fraction) callback of one item of a batch."""
    return lambda stage, fraction: tracker.update(key, stage, fraction)

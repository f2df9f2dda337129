"""The command line's look of long work: rich progress bars on stderr, gone once done, and
notes printed as plain text (names and messages are never read as markup)."""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from ..lossless import readable
from ..paths import shown


class BarTracker:
    """A `progress.Tracker` drawing one bar per item on a rich `Progress`."""

    def __init__(self, bar: Progress) -> None:
        self.bar = bar
        self._tasks: dict[Hashable, Any] = {}

    def begin(self, key: Hashable, label: str) -> None:
        self._tasks[key] = self.bar.add_task(escape(shown(label)[:40]), total=1.0, stage="")

    def update(self, key: Hashable, stage: str, fraction: float) -> None:
        task = self._tasks.get(key)
        if task is not None:
            self.bar.update(task, completed=fraction, stage=stage)

    def end(self, key: Hashable) -> None:
        task = self._tasks.pop(key, None)
        if task is not None:
            self.bar.remove_task(task)

    def note(self, message: str) -> None:
        self.bar.console.print(f"note: {readable(message)}", markup=False)


@contextmanager
def bars(console: Console | None = None, quiet: bool = False) -> Iterator[BarTracker]:
    """Bars on stderr for the block (none with `quiet`)."""
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[stage]}"),
        TimeElapsedColumn(),
        console=console or Console(stderr=True),
        disable=quiet,
        transient=True,
    )
    with progress:
        yield BarTracker(progress)

"""Input paths as the CLI takes and shows them: folders walked, names printed on one line.

Kept apart from `service` (which imports the whole pipeline) so that commands that only list or
print paths start quickly.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path


def shown(path: Path) -> str:
    """A path safe to print on one line (newlines and control characters escaped)."""
    text = str(path)
    if any(ord(c) < 32 or c == "\x7f" for c in text):
        return repr(text)[1:-1]
    return text


def expand_paths(paths: Sequence[Path]) -> Iterator[tuple[Path, str | None]]:
    """Files as given, folders walked recursively in a stable order; (path, error-or-None)."""
    for p in paths:
        if p.is_dir():
            found = False
            for root, dirs, files in os.walk(p, onerror=None):
                dirs.sort()
                for name in sorted(files):
                    found = True
                    yield Path(root) / name, None
            if not found:
                yield p, "folder contains no files"
        elif p.exists() or p.is_symlink():
            yield p, None
        else:
            yield p, "no such file or folder"


def is_url(text: str) -> bool:
    """True for anything written as a URL (`scheme://...`), valid or not: it is not a path."""
    head = text.split("/", 1)[0]
    return "://" in text and head.endswith(":") and head[:-1].replace("+", "").isalnum()

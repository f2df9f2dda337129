"""Input paths as the CLI takes and shows them: folders walked, names printed on one line.

Kept apart from `service` (which imports the whole pipeline) so that commands that only list or
print paths start quickly.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from .lossless import readable


def shown(path: Path | str) -> str:
    """A path or text safe to print on one line: bytes that are not UTF-8 as `\\xNN`
    (`lossless.readable`), newlines and control characters escaped."""
    text = readable(str(path))
    if any(ord(c) < 32 or c == "\x7f" for c in text):
        return repr(text)[1:-1]
    return text


OUTSIDE = (
    "symlink to outside the folder, not followed; set [intake] follow_symlinks = true to allow"
)
BROKEN = "broken symlink (its target does not exist)"


def expand_paths(
    paths: Sequence[Path], follow_symlinks: bool = False
) -> Iterator[tuple[Path, str | None]]:
    """Files as given, folders walked recursively in a stable order; (path, error-or-None).

    A walk does not leave the folder it was given. A symbolic link inside it (to a file or a
    folder) whose target is outside is refused with one line, unless `follow_symlinks`
    (`[intake] follow_symlinks`); then it is followed, each folder and file once however many
    links lead to it (so a loop of links ends). A link whose target is inside the folder is not
    followed: the walk reaches that target anyway (no file twice, no loop). A symbolic link
    given directly is the user's own choice: it is taken as it is, and the intake records it
    as a link (`steps.source_of`).
    """
    for p in paths:
        if p.is_dir():
            yield from _Walk(p, follow_symlinks).run()
        elif p.exists() or p.is_symlink():
            yield p, None
        else:
            yield p, "no such file or folder"


class _Walk:
    """One folder given on the command line, walked without leaving it (see expand_paths)."""

    def __init__(self, top: Path, follow: bool) -> None:
        self.top, self.follow = top, follow
        self.root = os.path.realpath(top)
        self.dirs: set[str] = set()  # real paths of folders walked (links may lead back)
        self.files: set[str] = set()  # real paths of the files yielded

    def run(self) -> Iterator[tuple[Path, str | None]]:
        found = False
        for item in self._folder(self.top, self.root):
            found = True
            yield item
        if not found:
            yield self.top, "folder contains no files"

    def _inside(self, real: str) -> bool:
        return os.path.commonpath([self.root, real]) == self.root

    def _folder(self, top: Path, top_real: str) -> Iterator[tuple[Path, str | None]]:
        """Depth first, each folder's files before its subfolders (no recursion: a crafted
        tree thousands of folders deep must not exhaust Python's stack)."""
        stack = [(top, top_real)]
        while stack:
            folder, real = stack.pop()
            if real in self.dirs:
                continue
            self.dirs.add(real)
            try:
                with os.scandir(folder) as it:
                    entries = sorted(it, key=lambda e: e.name)
            except OSError as exc:
                yield folder, f"cannot read folder: {exc.strerror or exc}"
                continue
            subfolders: list[tuple[Path, str]] = []
            for entry in entries:
                path = Path(entry.path)
                if entry.is_symlink():
                    yield from self._link(path, subfolders)
                elif entry.is_dir(follow_symlinks=False):
                    subfolders.append((path, os.path.realpath(path)))
                else:
                    yield from self._file(path, os.path.realpath(path))
            stack.extend(reversed(subfolders))

    def _link(
        self, path: Path, subfolders: list[tuple[Path, str]]
    ) -> Iterator[tuple[Path, str | None]]:
        """A symbolic link met in the walk: refused, skipped, or followed (files now, folders
        after this folder's files, as any other subfolder)."""
        target = os.path.realpath(path)
        if not os.path.exists(target):
            yield path, BROKEN
        elif self._inside(target):
            return  # the walk reaches the target itself
        elif not self.follow:
            yield path, OUTSIDE
        elif os.path.isdir(target):
            subfolders.append((path, target))
        else:
            yield from self._file(path, target)

    def _file(self, path: Path, real: str) -> Iterator[tuple[Path, str | None]]:
        """A file, unless a followed link already led to it."""
        if real not in self.files:
            self.files.add(real)
            yield path, None


def is_url(text: str) -> bool:
    """True for anything written as a URL (`scheme://...`), valid or not: it is not a path."""
    head = text.split("/", 1)[0]
    return "://" in text and head.endswith(":") and head[:-1].replace("+", "").isalnum()

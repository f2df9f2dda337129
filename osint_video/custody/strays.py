"""`verify --all`: files in the workspace that belong to no clip (read-only, never deletes).

An evidence file exists only with its clip (`pipeline.intake` undoes its own store when it
fails), so one without a clip means something went wrong: a process killed between storing the
original and recording it, or a file put there by hand. Derived folders likewise exist only
for recorded clips. These are failures of `verify`, named one per line; the desk decides what to
do with them, as with every other finding of `verify`.

Owned files: the original of each clip (`evidence/sha256/../<clip sha256>`), and every evidence
file a custody event records among its `outputs` (the platform's info JSON of a URL intake).

Not failures, but said as warnings: temporary files of an intake (`evidence/sha256/.incoming-*`)
and work folders of a processing run (`derived/.<sha>-*`, `derived/<sha>.old`): an intake or a
run in progress has them, and one that was killed leaves them (the next intake removes stale
temporary files).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..workspace import Workspace

_SHA = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Strays:
    """What `find_strays` found: `problems` fail verify, `warnings` do not."""

    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def find_strays(ws: Workspace) -> Strays:
    """Evidence files and derived folders of no clip, in the whole workspace."""
    clips, owned = _owners(ws)
    found = Strays()
    for rel in _evidence_files(ws):
        name = rel.rsplit("/", 1)[-1]
        if name in clips or rel in owned:
            continue
        if name.startswith(".incoming-"):
            found.warnings.append(
                f"{rel}: temporary file of an intake (one in progress, or one that was killed)"
            )
        elif not _owned_after_all(ws, name):
            found.problems.append(
                f"{rel}: evidence file without a clip (an intake that did not finish, or a "
                "file put there by hand); nothing was deleted"
            )
    _derived(ws, clips, found)
    return found


def _owners(ws: Workspace) -> tuple[set[str], set[str]]:
    """SHA-256 of every clip, and every evidence path a custody event records as an output."""
    from sqlalchemy import select

    from ..store.schema import ClipRow, CustodyRow

    owned: set[str] = set()
    with ws.cases.session() as ses:
        clips = set(ses.scalars(select(ClipRow.sha256)))
        for (details,) in ses.execute(select(CustodyRow.details)):
            outputs = (details or {}).get("outputs")
            if isinstance(outputs, dict):
                owned.update(v for v in outputs.values() if _is_evidence(v))
    return clips, owned


def _is_evidence(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("evidence/")


def _evidence_files(ws: Workspace) -> Iterator[str]:
    """Every file under evidence/, workspace-relative, in a stable order."""
    top = ws.home / "evidence"
    for root, dirs, files in os.walk(top):
        dirs.sort()
        for name in sorted(files):
            yield os.path.relpath(os.path.join(root, name), ws.home).replace(os.sep, "/")


def _owned_after_all(ws: Workspace, name: str) -> bool:
    """An intake may be between storing these bytes and recording their clip right now: wait
    for it (the original's ingest lock), then look again."""
    if not _SHA.match(name):
        return False
    with ws.cases.ingest_lock(name):
        return ws.cases.clip_with_sha(name) is not None or not ws.evidence.path_for(name).exists()


def _derived(ws: Workspace, clips: set[str], found: Strays) -> None:
    top = ws.home / "derived"
    try:
        names = sorted(os.listdir(top))
    except OSError:
        return
    for name in names:
        rel = f"derived/{name}"
        if name in clips:
            continue
        if name.startswith(".") or name.endswith(".old"):
            found.warnings.append(
                f"{rel}: work folder of a processing run (one in progress, or one that was killed)"
            )
        else:
            found.problems.append(f"{rel}: derived folder without a clip; nothing was deleted")

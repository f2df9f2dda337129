"""Steps 1-4 (sniff, ingest, probe, acquire) as functions: they run before the clip exists.

`pipeline.intake` calls them in order; what `queue add` does before any worker touches a clip.
"""

from __future__ import annotations

import os
from contextlib import suppress
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..media.probe import probe_file
from ..media.sniff import sniff_kind
from ..models import MediaKind, ProbeResult
from ..store.cases import NewEvent
from ..store.evidence import StoredFile
from ..tools import tool_versions
from ..workspace import Workspace

PROBE_TOOLS = ("ffprobe", "exifread", "pillow", "pillow-heif", "c2pa-python")


def sniff(path: Path) -> MediaKind:
    """Refuse anything that is not a readable, non-empty video or image."""
    if not path.is_file():
        raise InputError("not a regular file" if path.exists() else "no such file")
    if path.stat().st_size == 0:
        raise InputError("empty file (0 bytes)")
    kind = sniff_kind(path)
    if kind is None:
        raise InputError("not a video or image file (content not recognised)")
    return kind


def source_of(path: Path) -> tuple[str, str | None]:
    """The path as given (absolute, a symbolic link's own name), and where it leads when it is
    a symbolic link (fully resolved), else None. A link is recorded as a link: the clip's
    file name and the acquisition's source are the name the user gave, the target beside it."""
    given = os.path.abspath(path)
    return given, os.path.realpath(given) if os.path.islink(given) else None


def probe_stored(ws: Workspace, stored: StoredFile, kind: MediaKind) -> ProbeResult:
    """Probe the evidentiary copy (never the source, which may change meanwhile)."""
    return probe_file(ws.evidence.path_for(stored.sha256), kind, ws.config.probe)


def undo_store(ws: Workspace, stored: StoredFile) -> None:
    """After a failed intake: remove the evidence file it stored, so none exists without its
    clip. Called under the original's ingest lock. Never raises (the intake's own error is
    what the user must see).

    Only a file this intake stored newly is removed, and only when no clip owns those bytes
    (one whose evidence had gone missing and was stored again here keeps it). When the case
    store cannot say (the failure was the database's, and a commit may have landed), the file
    is kept: a file without a clip is reported by `verify --all`; a clip without its original
    could not be repaired.
    """
    if not stored.newly_stored:
        return
    try:
        owner = ws.cases.clip_with_sha(stored.sha256)
    except Exception:  # noqa: BLE001 - cannot tell: keep the file
        return
    if owner is None:
        with suppress(OSError):
            ws.evidence.remove(stored.sha256)


def acquired_event(req: Any, stored: StoredFile) -> NewEvent:
    given, target = source_of(req.path)
    link = {"link_target": target} if target is not None else {}
    return NewEvent(
        "acquired",
        {
            "source_path": given,
            **link,
            "source_url": req.source_url,
            "case": req.case,
            "note": req.note,
            "outputs": {"evidence": stored.relpath, "sha256": stored.sha256},
            "size_bytes": stored.size_bytes,
            "newly_stored": stored.newly_stored,
            "tools": tool_versions(),
        },
    )


def probed_event(sha256: str, probe: ProbeResult, run: str | None = None) -> NewEvent:
    details: dict[str, Any] = {
        "input_sha256": sha256,
        "kind": probe.media.kind,
        "tools": tool_versions(PROBE_TOOLS),
    }
    if run is not None:
        details["run"] = run
    return NewEvent("probed", details)

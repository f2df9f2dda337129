"""Steps 1-4 (sniff, ingest, probe, acquire) as functions: they run before the clip exists.

`pipeline.intake` calls them in order; what `queue add` does before any worker touches a clip.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import InputError, OsintVideoError
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


def ingest_and_probe(ws: Workspace, path: Path, kind: MediaKind) -> tuple[StoredFile, ProbeResult]:
    """Store the original, then probe the stored copy; undo the store if nothing is readable."""
    stored = ws.evidence.put(path)
    try:
        probe = probe_file(ws.evidence.path_for(stored.sha256), kind, ws.config.probe)
    except OsintVideoError:
        if stored.newly_stored:
            _remove_evidence(ws.evidence.path_for(stored.sha256))
        raise
    return stored, probe


def _remove_evidence(path: Path) -> None:
    path.chmod(0o600)
    path.unlink(missing_ok=True)


def acquired_event(req: Any, stored: StoredFile) -> NewEvent:
    return NewEvent(
        "acquired",
        {
            "source_path": str(req.path.resolve()),
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

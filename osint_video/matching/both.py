"""`match` by picture and sound: the command's entry points (triage does the same in its
`Match` and `SoundMatch` steps).

Both go through the picture's own public entry points (`match_clip`, `match_file`) and add the
sound: `match_clip_both` re-runs both searches for a recorded clip and records them;
`match_file_both` queries with a file that is not in the archive, read-only (nothing
ingested, indexed or written): its sound is decoded once, its picture sampled again for the
disagreement and reframe checks.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ..sound.fingerprint import read_sound
from ..store.cases import NewEvent
from ..workspace import Workspace
from .match import MatchSummary, fingerprint_video, match_clip, match_file
from .sound_archive import SoundFound, find_sound, picture_prints, record_sound, sound_details
from .sound_index import Notify


def _sound_on(ws: Workspace) -> bool:
    return ws.config.sound.enabled and ws.config.matching.enabled


def match_clip_both(ws: Workspace, clip_id: int, notify: Notify | None = None) -> MatchSummary:
    """Match a stored clip again by picture, then by sound (each recorded in custody)."""
    return _recorded_sound(ws, match_clip(ws, clip_id, notify), clip_id, notify)


def _recorded_sound(
    ws: Workspace, summary: MatchSummary, clip_id: int, notify: Notify | None
) -> MatchSummary:
    clip = ws.cases.record(clip_id)
    if not _sound_on(ws) or clip.kind != "video":
        return summary
    path = ws.evidence.path_for(clip.sha256)
    heard = read_sound(path, ws.config.sound, ws.config.probe.timeout_s)
    rotation = clip.media.rotation_deg if clip.media else 0
    with ws.lock("archive-index"):
        found = find_sound(
            ws,
            clip_id,
            heard.prints,
            list(summary.matches),
            picture_prints(ws, clip_id),
            notify,
            path=path,
            rotation_deg=rotation,
        )
        record_sound(ws, found, NewEvent("sound_matched", sound_details(found, clip.sha256)))
    return dataclasses.replace(
        summary, matches=tuple(found.matches), status=_status(found, summary)
    )


def match_file_both(ws: Workspace, path: Path, notify: Notify | None = None) -> MatchSummary:
    """Match a file by picture and sound. Already in the archive (same SHA-256): as
    `match_clip_both`. Otherwise read-only: nothing is ingested, indexed or written.

    Raises:
        InputError: the path is not a readable video.
        ExtractionError: none of its frames decodes.
    """
    from ..media.probe import probe_file

    summary = match_file(ws, path, notify)
    if summary.clip_id is not None:  # in the archive: matched again and recorded
        return _recorded_sound(ws, summary, summary.clip_id, notify)
    if not _sound_on(ws):
        return summary
    media = probe_file(path, "video", ws.config.probe).media
    fps = fingerprint_video(path, media, ws.config.matching, ws.config.keyframes)
    heard = read_sound(path, ws.config.sound, ws.config.probe.timeout_s)
    found = find_sound(
        ws,
        None,
        heard.prints,
        list(summary.matches),
        fps,
        notify,
        path=path,
        rotation_deg=media.rotation_deg,
    )
    status = _status(found, summary)
    message = f"{len(found.matches)} matching clip(s) (not ingested: triage the file to keep it)"
    return dataclasses.replace(
        summary, status=status, message=message, matches=tuple(found.matches)
    )


def _status(found: SoundFound, picture: MatchSummary) -> str:
    """Matched by either sense, else what the picture's search said (no match, no visual)."""
    return "matched" if found.matches else picture.status

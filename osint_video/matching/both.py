"""`match` by picture and sound: the command's entry points (triage does the same in its
`Match` and `SoundMatch` steps).

`match_clip_both` re-runs both searches for a recorded clip and records them; `match_file_both`
queries with a file that is not in the archive, read-only (nothing ingested, indexed or
written), sampling its picture and decoding its sound once each.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ..errors import InputError, NotFound
from ..sound.fingerprint import read_sound
from ..store.cases import NewEvent
from ..workspace import Workspace
from .index import Notify, open_index
from .match import NO_VISUAL, MatchSummary, entry, fingerprint_video, match_clip, vote
from .sound_archive import SoundFound, find_sound, picture_prints, record_sound, sound_details


def match_clip_both(ws: Workspace, clip_id: int, notify: Notify | None = None) -> MatchSummary:
    """Match a stored clip again by picture, then by sound (each recorded in custody)."""
    summary = match_clip(ws, clip_id, notify)
    if not (ws.config.sound.enabled and ws.config.matching.enabled):
        return summary
    clip = ws.cases.record(clip_id)
    if clip.kind != "video":
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
    return dataclasses.replace(summary, matches=tuple(found.matches), status=_status(found))


def match_file_both(ws: Workspace, path: Path, notify: Notify | None = None) -> MatchSummary:
    """Match a file by picture and sound. Already in the archive (same SHA-256): as
    `match_clip_both`. Otherwise read-only: nothing is ingested, indexed or written.

    Raises:
        InputError: the path is not a readable video.
        ExtractionError: none of its frames decodes.
    """
    from ..media.probe import probe_file
    from ..media.sniff import sniff_kind
    from ..store.evidence import sha256_file

    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        return match_clip_both(ws, ws.cases.resolve(sha256_file(path)), notify)
    except NotFound:
        pass
    if sniff_kind(path) != "video":
        raise InputError(f"{path}: not a video file")
    media = probe_file(path, "video", ws.config.probe).media
    cfg = ws.config.matching
    fps = fingerprint_video(path, media, cfg, ws.config.keyframes)
    index = open_index(ws, notify)
    informative = sum(f.informative for f in fps)
    picture = [entry(ws, v)[0] for v in vote(index, fps, cfg, exclude=None)] if informative else []
    msg = "(not ingested: triage the file to keep it)"
    if not ws.config.sound.enabled:
        status = "matched" if picture else ("no_match" if informative else "no_visual_content")
        text = NO_VISUAL if status == "no_visual_content" else f"{len(picture)} clip(s) {msg}"
        return MatchSummary(None, status, text, len(fps), informative, len(index), tuple(picture))
    heard = read_sound(path, ws.config.sound, ws.config.probe.timeout_s)
    found = find_sound(
        ws, None, heard.prints, picture, fps, notify, path=path, rotation_deg=media.rotation_deg
    )
    status = _status(found)
    return MatchSummary(
        None,
        status,
        f"{len(found.matches)} matching clip(s) {msg}",
        len(fps),
        informative,
        len(index),
        tuple(found.matches),
    )


def _status(found: SoundFound) -> str:
    return "matched" if found.matches else "no_match"

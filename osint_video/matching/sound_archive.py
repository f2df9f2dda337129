"""The sound's part of "seen before": search the sound index, merge with the picture's matches,
find where picture and sound disagree, record it all, and index the clip's sound.

What is written, in ONE case-store transaction: the clip's sound fingerprints
(`sound_fingerprints`), its `matches` rows (each entry now says `modality`, with picture and
sound ranges; sound-only matches added), the `sound_differs` / `picture_differs` anomalies
(earlier ones of this clip replaced), a `sound_matched` custody event, and the sound's
index-log row: every process's sound index reads the clip from the log (`sound_index.py`);
nothing on disk is rewritten per clip.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select

from ..errors import NotFound, OsintVideoError
from ..media.seek import grey_at
from ..models import Anomaly
from ..sound.chromaprint import ALGORITHM, ITEM_S, SPAN_S
from ..sound.fingerprint import TrackPrint
from ..store.cases import NewEvent
from ..store.schema import ADD, SOUND, ClipRow, FingerprintRow, MatchRow, SoundFingerprintRow
from ..workspace import Workspace
from .fingerprints import VIEWS, FrameFingerprint
from .index import log_change
from .reframe import reframed
from .senses import CODES, Other, anomalies, disagreements, merge
from .sound_index import LiveSoundIndex, Notify, open_sound_index, print_of, row_of
from .sound_match import SoundVote, search_sound


@dataclass(frozen=True, eq=False)
class SoundFound:
    """What the sound's search found for one clip, merged with the picture's (nothing
    written yet)."""

    clip_id: int | None
    prints: tuple[TrackPrint, ...]
    index: LiveSoundIndex
    index_size: int
    votes: list[SoundVote]
    matches: list[dict[str, Any]]
    anomalies: list[Anomaly] = field(default_factory=list)


def picture_prints(ws: Workspace, clip_id: int) -> list[FrameFingerprint]:
    """A clip's stored picture fingerprints (sampled frames), in time order."""
    query = (
        select(FingerprintRow)
        .where(FingerprintRow.clip_id == clip_id)
        .order_by(FingerprintRow.index)
    )
    with ws.cases.session() as ses:
        return [
            FrameFingerprint(
                r.time_s, r.texture, bool(r.informative),
                tuple(int(getattr(r, v)) & (2**64 - 1) for v in VIEWS),
            )
            for r in ses.scalars(query)
        ]  # fmt: skip


def sound_prints(ws: Workspace, clip_id: int) -> list[TrackPrint]:
    """A clip's stored sound fingerprints, by track."""
    query = (
        select(SoundFingerprintRow)
        .where(SoundFingerprintRow.clip_id == clip_id, SoundFingerprintRow.algorithm == ALGORITHM)
        .order_by(SoundFingerprintRow.track)
    )
    with ws.cases.session() as ses:
        return [print_of(r) for r in ses.scalars(query)]


def picture_entries(ws: Workspace, clip_id: int) -> list[dict[str, Any]]:
    """The clip's stored matches that the picture made (a sound-only entry has no frames), as
    the picture's matching wrote them (before the sound's fields)."""
    sound_keys = {"modality", "picture_ranges", "sound_ranges", "sound_score",
                  "sound_bit_error", "sound_differs", "picture_differs"}  # fmt: skip
    out = []
    for m in ws.cases.record(clip_id).matches:
        if m.entry.get("keyframe_pairs"):
            out.append({k: v for k, v in m.entry.items() if k not in sound_keys})
    return out


def find_sound(
    ws: Workspace,
    clip_id: int | None,
    prints: Sequence[TrackPrint],
    picture: list[dict[str, Any]],
    mine_picture: Sequence[FrameFingerprint],
    notify: Notify | None = None,
    *,
    path: Path | None = None,
    rotation_deg: int = 0,
) -> SoundFound:
    """Search the sound index for a clip's sound (call under the archive lock; writes
    nothing), merge with the picture's matches and find where they disagree.

    Args:
        clip_id: the recorded clip (excluded from its own results); None for a file that is
            only queried.
        prints: the clip's sound fingerprints (`sound.fingerprint.read_sound`).
        picture: the picture's match entries for the clip (`matching.match.Found.matches`).
        mine_picture: the clip's picture fingerprints (sampled frames).
        path: the clip's file and `rotation_deg` its rotation, to decode a few pictures where
            the sound matches and the picture hashes do not (`reframe`); None: not checked.
    """
    cfg = ws.config
    index = open_sound_index(ws, notify)
    view = index.view()
    votes = search_sound(view, prints, cfg.sound, exclude=clip_id)
    facts = _facts(ws, votes)
    votes = [v for v in votes if v.other_clip_id in facts]
    merged = merge(picture, votes, facts)
    others = {
        e["clip_id"]: Other(
            e["clip_id"],
            e.get("filename"),
            view.tracks_of(e["clip_id"]),
            picture_prints(ws, e["clip_id"]),
        )
        for e in merged
    }
    check = _reframe_check(ws, path, rotation_deg) if path is not None else None
    merged = disagreements(merged, prints, mine_picture, others, cfg.sound, cfg.matching, check)
    return SoundFound(clip_id, tuple(prints), index, len(view), votes, merged, anomalies(merged))


def _facts(ws: Workspace, votes: list[SoundVote]) -> dict[int, dict[str, Any]]:
    """The voted clips' facts; a clip deleted since it was indexed is left out (its entries
    go at the next compaction)."""
    out = {}
    for v in votes:
        try:
            out[v.other_clip_id] = ws.cases.clip_facts(v.other_clip_id)
        except NotFound:
            continue
    return out


def _reframe_check(
    ws: Workspace, path: Path, rotation_deg: int
) -> Callable[[int, dict[str, Any]], bool]:
    """Decode three aligned pictures of a range from both clips and compare them (`reframe`)."""

    def check(other_id: int, r: dict[str, Any]) -> bool:
        other = ws.cases.record(other_id)
        turn = other.media.rotation_deg if other.media else 0
        length = r["this_end_s"] - r["this_start_s"]
        ours = [r["this_start_s"] + length * f for f in (0.25, 0.5, 0.75)]
        shift = r["other_start_s"] - r["this_start_s"]
        mine = grey_at(path, ours, rotation_deg=rotation_deg)
        theirs = grey_at(ws.evidence.path_for(other.sha256), [t + shift for t in ours], 120, turn)
        return reframed(mine, theirs)

    return check


def sound_details(found: SoundFound, sha256: str) -> dict[str, Any]:
    """The `sound_matched` custody event's details."""
    modalities = [m["modality"] for m in found.matches]
    return {
        "input_sha256": sha256,
        "algorithm": ALGORITHM,
        "tracks": len(found.prints),
        "informative": sum(int(p.mask.sum()) for p in found.prints),
        "index_size_before": found.index_size,
        "matches": [
            {"clip_id": m["clip_id"], "modality": m["modality"], "sound_score": m["sound_score"]}
            for m in found.matches
        ],
        "by_modality": {k: modalities.count(k) for k in ("picture", "sound", "both")},
        "anomalies": [a.code for a in found.anomalies],
    }


def record_sound(ws: Workspace, found: SoundFound, event: NewEvent) -> None:
    """Fingerprints with their index-log row, merged matches, disagreement anomalies and the
    event in one transaction (call under the archive lock); then this process's sound index
    reads the change, and writes its tail out (and starts a compaction) when due."""
    assert found.clip_id is not None
    clip_id = found.clip_id
    with ws.cases.session() as ses:
        clip = ses.get(ClipRow, clip_id)
        if clip is None:
            raise NotFound(f"no clip with id {clip_id}")
        ses.execute(delete(SoundFingerprintRow).where(SoundFingerprintRow.clip_id == clip_id))
        ses.add_all(row_of(clip_id, p, ITEM_S, SPAN_S) for p in found.prints)
        heard = sum(int(p.mask.sum()) for p in found.prints)
        log_change(ses, clip_id, ADD, heard, SOUND)
        ses.execute(delete(MatchRow).where(MatchRow.clip_id == clip_id))
        ses.flush()
        ses.add_all(
            MatchRow(clip_id=clip_id, other_clip_id=m["clip_id"], score=m["score"], details=m)
            for m in found.matches
        )
        kept = [a for a in clip.anomalies or [] if a.get("code") not in CODES]
        clip.anomalies = kept + [asdict(a) for a in found.anomalies]
        ws.cases._append_events(ses, clip_id, ws.config.operator(), [event])
    from .compact import after_job

    try:
        found.index.catch_up(ws)
        after_job(ws, found.index)
    except (OSError, OsintVideoError):  # recorded: the tail stays in memory, written later
        pass

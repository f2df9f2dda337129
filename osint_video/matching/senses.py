"""One match, two senses: the picture's matches and the sound's, merged per clip, and where
they disagree.

Each match entry says `modality`: `picture` (frames agree, the sound does not or cannot),
`sound` (the sound agrees, the picture does not: a vertical crop, a picture-in-picture, a
reaction video... or other footage under the same sound) or `both`, with `picture_ranges`
and `sound_ranges`; `ranges` stays the picture's when the picture matched (what every reader
of older reports knows), else the sound's. A sound-only match never links duplicates: a
popular sound track is shared by unrelated footage.

Disagreement is a signal: where the picture matches an earlier clip over a range and both
clips have informative sound there, the two sounds are aligned at the picture's offset (give
or take 0.5 s); if they differ (`[sound] differs_bit_error`), that range is `sound_differs`
(sound replaced or laid over). The reverse, `picture_differs`: the sound matches over a range
where both clips show textured pictures, and aligned frames do not agree (other footage under
the same sound, or a picture reframed beyond what the picture hashes survive).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..config import MatchingConfig, SoundConfig
from ..models import Anomaly
from ..sound.chromaprint import ITEM_S
from ..sound.fingerprint import TrackPrint
from .fingerprints import STORED_VIEWS, VIEWS, FrameFingerprint
from .sound_match import SoundVote, align, mean_error

SEARCH_ITEMS = 8  # lags tried on either side of the picture's offset (1 s: a picture range's
# offset is known to about +/- 0.5 s, its clusters' tolerance, and sound may lead or lag)
FRAME_SLACK_S = 0.3  # a frame of the other clip counts as aligned within this
CODES = ("sound_differs", "picture_differs")


@dataclass(frozen=True)
class Other:
    """What is known of the other clip: its sound and its picture fingerprints."""

    clip_id: int
    filename: str | None
    sound: Sequence[TrackPrint]
    picture: Sequence[FrameFingerprint]


def sound_agreement(
    mine: Sequence[TrackPrint], theirs: Sequence[TrackPrint], r: dict[str, Any]
) -> tuple[float, int] | None:
    """Bit error of the two sounds over a range (this clip's start/end and the other's), at
    the best lag within 1 s of the range's mean offset, over the items informative on both
    sides; None when no pair of tracks has any informative item there."""
    best: tuple[float, int] | None = None
    for a in mine:
        k0 = int(np.ceil((r["this_start_s"] - a.start_s) / ITEM_S))
        k1 = int(np.floor((r["this_end_s"] - a.start_s) / ITEM_S))
        if k1 < max(k0, 0):
            continue
        part = TrackPrint(a.track, a.start_s, a.values[max(k0, 0) : k1 + 1],
                          a.mask[max(k0, 0) : k1 + 1])  # fmt: skip
        shift = (r["other_start_s"] - r["this_start_s"] + r["other_end_s"] - r["this_end_s"]) / 2
        for b in theirs:
            offset = shift + a.start_s - b.start_s
            centre = int(round(offset / ITEM_S)) + max(k0, 0)
            for lag in range(centre - SEARCH_ITEMS, centre + SEARCH_ITEMS + 1):
                err, n = mean_error(align(part, b, lag))
                if n and (best is None or (err, -n) < (best[0], -best[1])):
                    best = (err, n)
    return best


def picture_agreement(
    mine: Sequence[FrameFingerprint],
    theirs: Sequence[FrameFingerprint],
    r: dict[str, Any],
    radius: int,
) -> tuple[float, int]:
    """Share of this clip's informative frames in the range whose aligned frame in the other
    clip is within `radius` bits (any of our views against its stored views), and how many
    frames were compared."""
    others = [f for f in theirs if f.informative]
    if not others:
        return 0.0, 0
    times = np.array([f.time_s for f in others])
    stored = np.array([[f.view(v) for v in STORED_VIEWS] for f in others], dtype=np.uint64)
    shift = r["other_start_s"] - r["this_start_s"]
    agree = compared = 0
    for f in mine:
        if not f.informative or not r["this_start_s"] <= f.time_s <= r["this_end_s"]:
            continue
        j = int(np.argmin(np.abs(times - (f.time_s + shift))))
        if abs(times[j] - (f.time_s + shift)) > FRAME_SLACK_S:
            continue
        compared += 1
        ours = np.array(f.hashes, dtype=np.uint64)
        d = min(int(np.bitwise_count(ours ^ h).min()) for h in stored[j])
        agree += d <= radius
    return (agree / compared if compared else 0.0), compared


def merge(
    picture: list[dict[str, Any]], sound: Sequence[SoundVote], facts: dict[int, dict[str, Any]]
) -> list[dict[str, Any]]:
    """Picture entries and sound votes as one list of match entries (see the module docstring),
    picture-matched clips first, in their order, then sound-only ones by score."""
    by_clip = {v.other_clip_id: v for v in sound}
    out = []
    for m in picture:
        v = by_clip.pop(m["clip_id"], None)
        out.append(
            {
                **m,
                "modality": "both" if v else "picture",
                "picture_ranges": list(m.get("ranges") or []),
                "sound_ranges": [r.as_range() for r in v.ranges] if v else [],
                **_sound_facts(v),
            }
        )
    for v in sorted(by_clip.values(), key=lambda v: -v.score):
        f = facts[v.other_clip_id]
        ranges = [r.as_range() for r in v.ranges]
        out.append(
            {
                "clip_id": v.other_clip_id,
                "sha256": f["sha256"],
                "filename": f["filename"],
                "case": f["case"],
                "source_url": f["source_url"],
                "score": v.score,
                "ranges": ranges,
                "keyframe_pairs": 0,
                "distance_min": None,
                "distance_median": None,
                "mirrored": False,
                "earliest_acquired_at": f["earliest_acquired_at"],
                "earliest_created_at": f["earliest_created_at"],
                "modality": "sound",
                "picture_ranges": [],
                "sound_ranges": ranges,
                **_sound_facts(v),
            }
        )
    return out


def _sound_facts(v: SoundVote | None) -> dict[str, Any]:
    return {
        "sound_score": v.score if v else None,
        "sound_bit_error": v.bit_error if v else None,
        "sound_differs": [],
        "picture_differs": [],
        "picture_reframed": False,
    }


def disagreements(
    entries: list[dict[str, Any]],
    mine_sound: Sequence[TrackPrint],
    mine_picture: Sequence[FrameFingerprint],
    others: dict[int, Other],
    sound: SoundConfig,
    matching: MatchingConfig,
    looks_reframed: Callable[[int, dict[str, Any]], bool] | None = None,
) -> list[dict[str, Any]]:
    """The entries with `sound_differs` / `picture_differs` ranges filled in. A sound range
    whose aligned frames do agree (the picture match fell short of the picture's own
    thresholds), or whose pictures are one another reframed (`looks_reframed(clip, range)`:
    a crop, an inset), makes the entry `both`: the picture is the same footage there
    (`picture_reframed` says when it took the reframe check to see it)."""
    need_items = sound.min_compare_s / ITEM_S
    need_frames = max(3, int(sound.min_compare_s * 2))
    out = []
    for e in entries:
        other = others.get(e["clip_id"])
        if other is None:
            out.append(e)
            continue
        e = dict(e)
        differs = []
        for r in e["picture_ranges"]:
            if any(_overlap(r, s) for s in e["sound_ranges"]):
                continue  # the sound matches this clip there too (at some offset)
            said = sound_agreement(mine_sound, other.sound, r)
            if said and said[1] >= need_items and said[0] >= sound.differs_bit_error:
                differs.append({**_plain(r), "bit_error": round(said[0], 4)})
        e["sound_differs"] = differs
        pictured = []
        for r in e["sound_ranges"]:
            if any(_same_stretch(r, p) for p in e["picture_ranges"]):
                continue
            share, n = picture_agreement(mine_picture, other.picture, r, matching.radius)
            if n < need_frames:
                continue
            if share < 0.5 and looks_reframed is not None and looks_reframed(e["clip_id"], r):
                e["picture_reframed"] = True
                share = 1.0
            if share >= 0.5:
                e["picture_ranges"] = [*e["picture_ranges"], _plain(r)]
                e["modality"] = "both"
            elif share < 0.2:
                pictured.append({**_plain(r), "frames_compared": n, "frames_agreeing": share})
        e["picture_differs"] = pictured
        out.append(e)
    return out


def _plain(r: dict[str, Any]) -> dict[str, float]:
    keys = ("this_start_s", "this_end_s", "other_start_s", "other_end_s")
    return {k: r[k] for k in keys}


def _overlap(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return min(a["this_end_s"], b["this_end_s"]) > max(a["this_start_s"], b["this_start_s"])


def _same_stretch(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Overlapping in this clip at about the same offset (within 1 s)."""
    inter = min(a["this_end_s"], b["this_end_s"]) - max(a["this_start_s"], b["this_start_s"])
    da = a["other_start_s"] - a["this_start_s"]
    db = b["other_start_s"] - b["this_start_s"]
    return inter > 0 and abs(da - db) <= 1.0


def anomalies(entries: list[dict[str, Any]]) -> list[Anomaly]:
    """`sound_differs` and `picture_differs`, one per range, naming the clip and the range."""
    out = []
    for e in entries:
        name = f"clip {e['clip_id']}" + (f" ({e['filename']})" if e.get("filename") else "")
        for r in e.get("sound_differs") or []:
            out.append(
                Anomaly(
                    "sound_differs",
                    f"The picture at {_span(r, 'this')} is {name}'s {_span(r, 'other')}, but "
                    f"the sound there is not (bit error {r['bit_error']:.2f}): the sound was "
                    "replaced or laid over, here or there.",
                    "warning",
                )
            )
        for r in e.get("picture_differs") or []:
            out.append(
                Anomaly(
                    "picture_differs",
                    f"The sound at {_span(r, 'this')} is {name}'s {_span(r, 'other')}, but "
                    f"the picture there is not ({r['frames_compared']} frames compared): other "
                    "footage under the same sound, or a picture reframed (cropped, inset) "
                    "beyond recognition.",
                    "warning",
                )
            )
    return out


def _span(r: dict[str, Any], side: str) -> str:
    return f"{_tc(r[f'{side}_start_s'])}-{_tc(r[f'{side}_end_s'])}"


def _tc(t: float) -> str:
    return f"{int(t // 60):02d}:{t % 60:04.1f}"


def views_of(hashes: dict[str, int]) -> tuple[int, ...]:
    """A fingerprint row's view columns in `VIEWS` order."""
    return tuple(int(hashes[v]) for v in VIEWS)

"""Match a clip against the archive, record the result, and add the clip to the index.

`match_and_index` is the pipeline hook (after keyframes/hashing, before the reports). What is
written, in ONE case-store transaction: the clip's fingerprints, its `matches` rows (each row's
`details` is exactly the report's matches[] entry), `duplicate_of` when an earlier clip of the
same case is the same footage, and a `matched` custody event saying what was done. The on-disk
index is updated afterwards; if that write is lost the next open detects it and rebuilds.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import delete

from ..config import KeyframesConfig, MatchingConfig
from ..errors import InputError, NotFound
from ..media.plan import SampleTap, Schedule
from ..models import MediaInfo
from ..store.cases import NewEvent
from ..store.schema import ClipRow, FingerprintRow, MatchRow
from ..workspace import Workspace
from .decide import ClipVote, Pair, decide
from .fingerprints import (
    BATCH,
    HASH,
    QUERY_VIEWS,
    VIEWS,
    FrameFingerprint,
    alike,
    fingerprint,
)
from .index import ArchiveIndex, Notify, open_index, replace_clip
from .sampler import Sample, iter_samples, plan, sample_grey, upright_sample

NO_VISUAL = "no visual content to match"
Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class MatchSummary:
    """Outcome of one match run.

    `status`: "matched" (at least one clip), "no_match" (searched, nothing shares footage),
    "no_visual_content" (nothing decodes, or every sampled frame is flat: NOT a "no match"),
    "skipped" (stills are not matched).
    """

    clip_id: int | None
    status: str
    message: str
    samples: int = 0
    informative: int = 0
    index_size: int = 0
    matches: tuple[dict[str, Any], ...] = field(default=())
    duplicate_of: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "clip_id": self.clip_id,
            "status": self.status,
            "message": self.message,
            "samples": self.samples,
            "informative": self.informative,
            "index_size": self.index_size,
            "matches": list(self.matches),
            "duplicate_of_clip": self.duplicate_of,
        }


def fingerprint_video(
    path: Path,
    media: MediaInfo,
    cfg: MatchingConfig,
    keyframes: KeyframesConfig | None = None,
) -> list[FrameFingerprint]:
    """Sample and fingerprint a video (`keyframes`: the config triage runs with, see
    `sampler.iter_samples`).

    Raises:
        ExtractionError: no frame decodes.
    """
    sp = plan(media.duration_s, cfg.sample_fps, cfg.min_samples, cfg.max_samples, cfg.sample_width)
    samples = iter_samples(path, media, sp, keyframes, alike)
    return fingerprint(samples, cfg.min_texture_std)


class SampledFingerprints:
    """Fingerprints made from frames another decode samples for us (triage's keyframe pass).

    Gives that decode the sampling rule (`take`), the grey conversion (`convert`) and the sink
    (`deliver`) of `iter_samples`, and fingerprints the samples in the same batches as
    `fingerprint_video`: the result is the same list, without decoding the clip a second time.
    Memory: one batch of small grey frames plus the fingerprints.

    Args:
        media: the clip's probe (duration for the rate, rotation to turn samples upright).
        cfg: the [matching] configuration.
    """

    def __init__(self, media: MediaInfo, cfg: MatchingConfig) -> None:
        sp = plan(
            media.duration_s, cfg.sample_fps, cfg.min_samples, cfg.max_samples, cfg.sample_width
        )
        self.media, self.width, self.min_texture_std = media, sp.width, cfg.min_texture_std
        self.schedule = Schedule(sp.step_s)
        self._batch: list[Sample] = []
        self._done: list[FrameFingerprint] = []

    def take(self, t: float) -> bool:
        return self.schedule.take(t)

    def convert(self, frame: Any) -> Any:
        return sample_grey(frame, self.width)

    def tap(self) -> SampleTap:
        """The tap to hand the keyframe pass."""
        return SampleTap(self.take, self.convert, self.deliver, alike)

    def deliver(self, items: list[tuple[float, Any]]) -> None:
        for t, grey in items:
            self._batch.append(upright_sample(t, grey, self.media))
            if len(self._batch) == BATCH:
                self._done.extend(fingerprint(self._batch, self.min_texture_std))
                self._batch = []

    def result(self) -> list[FrameFingerprint]:
        """Every fingerprint, in time order (call once, when the decode has finished)."""
        if self._batch:
            self._done.extend(fingerprint(self._batch, self.min_texture_std))
            self._batch = []
        return self._done


# Positions in QUERY_VIEWS of the left-right flipped views: a frame matched best through one
# of them is a mirror image of the other clip's frame.
MIRRORED = frozenset(k for k, v in enumerate(QUERY_VIEWS) if v.endswith("_mirror"))


def _queries(fps: Sequence[FrameFingerprint]) -> tuple[np.ndarray, list[int]]:
    frames = [i for i, f in enumerate(fps) if f.informative]
    cols = [VIEWS.index(v) for v in QUERY_VIEWS]
    q = np.array([fps[i].hashes[c] for i in frames for c in cols], dtype=np.uint64)
    return q, frames


def vote(
    index: ArchiveIndex, fps: Sequence[FrameFingerprint], cfg: MatchingConfig, exclude: int | None
) -> list[ClipVote]:
    """Search every query view of every informative frame, then decide per other clip."""
    queries, frames = _queries(fps)
    if not frames or not len(index):
        return []
    hits = index.search(queries, cfg.radius)
    # per frame pair: the best distance, and whether a mirrored view gave it (ties: unmirrored)
    best: dict[tuple[int, int, float], tuple[int, bool]] = {}
    nq = len(QUERY_VIEWS)
    triples = zip(hits.query.tolist(), hits.stored.tolist(), hits.distance.tolist(), strict=True)
    for q, e, d in triples:
        clip = int(index.clips[e])
        if clip == exclude:
            continue
        key = (clip, frames[q // nq], float(index.times[e]))
        best[key] = min(best.get(key, (64, True)), (d, q % nq in MIRRORED))
    per_clip: dict[int, list[Pair]] = defaultdict(list)
    for (clip, i, t), (d, mirrored) in best.items():
        tex = min(1.0, fps[i].texture / (2 * cfg.min_texture_std))
        weight = (1 - d / (2 * (cfg.radius + 1))) * tex
        per_clip[clip].append(Pair(i, fps[i].time_s, t, d, weight, mirrored))
    votes = [
        decide(c, pairs, len(frames), index.frames_per_clip(c), cfg)
        for c, pairs in per_clip.items()
    ]
    return sorted((v for v in votes if v.matched), key=lambda v: -v.score)


def entry(ws: Workspace, v: ClipVote) -> tuple[dict[str, Any], set[str]]:
    """The report's matches[] entry for one vote, and the other clip's cases."""
    facts = ws.cases.clip_facts(v.other_clip_id)
    cases = facts["cases"]
    return {
        "clip_id": v.other_clip_id,
        "sha256": facts["sha256"],
        "filename": facts["filename"],
        "case": facts["case"],
        "source_url": facts["source_url"],
        "score": v.score,
        "ranges": [c.as_range() for c in v.clusters],
        "keyframe_pairs": v.frames,
        "distance_min": min(v.distances),
        "distance_median": float(statistics.median(v.distances)),
        "mirrored": v.mirrored,
        "earliest_acquired_at": facts["earliest_acquired_at"],
        "earliest_created_at": facts["earliest_created_at"],
    }, cases


def _fp_rows(clip_id: int, fps: Sequence[FrameFingerprint]) -> list[FingerprintRow]:
    return [
        FingerprintRow(
            clip_id=clip_id,
            index=i,
            time_s=f.time_s,
            texture=f.texture,
            informative=f.informative,
            hash=HASH,
            **dict(zip(VIEWS, f.hashes, strict=True)),
        )
        for i, f in enumerate(fps)
    ]


def _save(
    ws: Workspace,
    clip_id: int,
    fps: Sequence[FrameFingerprint],
    matches: list[dict[str, Any]],
    duplicate_of: int | None,
    event: NewEvent,
) -> None:
    """Fingerprints, matches, duplicate link and the custody event: one transaction."""
    with ws.cases.session() as ses:
        clip = ses.get(ClipRow, clip_id)
        if clip is None:
            raise NotFound(f"no clip with id {clip_id}")
        ses.execute(delete(FingerprintRow).where(FingerprintRow.clip_id == clip_id))
        ses.execute(delete(MatchRow).where(MatchRow.clip_id == clip_id))
        ses.add_all(_fp_rows(clip_id, fps))
        ses.add_all(
            MatchRow(clip_id=clip_id, other_clip_id=m["clip_id"], score=m["score"], details=m)
            for m in matches
        )
        clip.duplicate_of = duplicate_of
        ws.cases._append_events(ses, clip_id, ws.config.operator(), [event])


def _event(
    status: str,
    fps: Sequence[FrameFingerprint],
    cfg: MatchingConfig,
    idx_size: int,
    matches: list[dict[str, Any]],
    duplicate_of: int | None,
    sha256: str,
) -> NewEvent:
    return NewEvent(
        "matched",
        {
            "input_sha256": sha256,
            "status": status,
            "message": NO_VISUAL if status == "no_visual_content" else None,
            "samples": len(fps),
            "informative_samples": sum(f.informative for f in fps),
            "index_size_before": idx_size,
            "parameters": {
                "hash": f"{HASH} (imagehash-identical)",
                "views_stored": ["full", "center80"],
                "views_query": list(QUERY_VIEWS),
                "radius": cfg.radius,
                "sample_fps": cfg.sample_fps,
                "min_samples": cfg.min_samples,
                "offset_tolerance_s": cfg.offset_tolerance_s,
                "min_frames": cfg.min_frames,
                "min_score": cfg.min_score,
                "duplicate_min_coverage": cfg.duplicate_min_coverage,
            },
            "matches": [{"clip_id": m["clip_id"], "score": m["score"]} for m in matches],
            "duplicate_of": duplicate_of,
        },
    )


def _same_case(ws: Workspace, clip_id: int) -> set[str]:
    return set(ws.cases.record(clip_id).cases)


@dataclass(frozen=True)
class Found:
    """What searching the archive for one recorded clip found (nothing written yet)."""

    clip_id: int
    fingerprints: list[FrameFingerprint]
    index: ArchiveIndex
    index_size: int
    status: str
    matches: list[dict[str, Any]]
    duplicate_of: int | None

    def summary(self) -> MatchSummary:
        informative = sum(f.informative for f in self.fingerprints)
        message = (
            NO_VISUAL
            if self.status == "no_visual_content"
            else f"{len(self.matches)} matching clip(s)"
        )
        return MatchSummary(
            self.clip_id,
            self.status,
            message,
            len(self.fingerprints),
            informative,
            self.index_size,
            tuple(self.matches),
            self.duplicate_of,
        )


def find_matches(
    ws: Workspace,
    clip_id: int,
    evidence_path: Path,
    media: MediaInfo,
    progress: Progress | None = None,
    notify: Notify | None = None,
    fingerprints: Sequence[FrameFingerprint] | None = None,
) -> Found:
    """Search the archive for a recorded clip (call under the archive lock; writes nothing).

    Args:
        fingerprints: the clip's fingerprints when another decode already sampled it
            (`SampledFingerprints`); else the clip is decoded and sampled here.

    Raises:
        ExtractionError: no frame of the clip decodes (a decode error is not "no visual
            content": that is a clip whose frames decode but are all flat).
    """
    say = progress or (lambda _s, _f: None)
    cfg = ws.config.matching
    say("match", 0.0)
    fps = (
        list(fingerprints)
        if fingerprints is not None
        else fingerprint_video(evidence_path, media, cfg, ws.config.keyframes)
    )
    say("match", 0.6)
    index = open_index(ws, notify)
    votes = vote(index, fps, cfg, exclude=clip_id)
    informative = sum(f.informative for f in fps)
    status = "no_visual_content" if not informative else ("matched" if votes else "no_match")
    cases = _same_case(ws, clip_id)
    matches, dup = [], None
    for v in votes:
        m, other_cases = entry(ws, v)
        matches.append(m)
        if (
            v.other_clip_id < clip_id
            and cases & other_cases
            and v.coverage >= cfg.duplicate_min_coverage
        ):
            dup = v.other_clip_id if dup is None else min(dup, v.other_clip_id)
    return Found(clip_id, fps, index, len(index), status, matches, dup)


def found_details(found: Found, cfg: MatchingConfig, sha256: str) -> dict[str, Any]:
    """The `matched` custody event's details."""
    return _event(
        found.status,
        found.fingerprints,
        cfg,
        found.index_size,
        found.matches,
        found.duplicate_of,
        sha256,
    ).details


def record_matches(ws: Workspace, found: Found, event: NewEvent) -> None:
    """Fingerprints, matches, duplicate link and the event in one transaction, then the clip
    is added to the on-disk index (if that write is lost, the next open rebuilds it)."""
    _save(ws, found.clip_id, found.fingerprints, found.matches, found.duplicate_of, event)
    replace_clip(found.index, found.clip_id, found.fingerprints)


def match_and_index(
    ws: Workspace,
    clip_id: int,
    evidence_path: Path,
    media: MediaInfo,
    progress: Progress | None = None,
    notify: Notify | None = None,
    fingerprints: Sequence[FrameFingerprint] | None = None,
) -> MatchSummary:
    """Match a recorded clip against the archive, save the result, and index the clip
    (`find_matches`, then `record_matches`); call under the archive lock.

    Returns:
        What was found; a clip whose frames are all flat is "no_visual_content".

    Raises:
        ExtractionError: no frame of the clip decodes.
    """
    say = progress or (lambda _s, _f: None)
    cfg = ws.config.matching
    if not cfg.enabled:
        return MatchSummary(clip_id, "skipped", "matching is disabled ([matching] enabled)")
    if media.kind != "video":
        return MatchSummary(clip_id, "skipped", "stills are not matched against footage")
    found = find_matches(ws, clip_id, evidence_path, media, progress, notify, fingerprints)
    sha256 = ws.cases.record(clip_id).sha256
    record_matches(ws, found, NewEvent("matched", found_details(found, cfg, sha256)))
    say("match", 1.0)
    return found.summary()


def match_clip(ws: Workspace, clip_id: int, notify: Notify | None = None) -> MatchSummary:
    """Re-run matching for a stored clip (from its evidentiary copy), recorded in custody."""
    clip = ws.cases.record(clip_id)
    path = ws.evidence.path_for(clip.sha256)
    media = clip.media or MediaInfo(kind=clip.kind)
    return match_and_index(ws, clip_id, path, media, None, notify)


def match_file(ws: Workspace, path: Path, notify: Notify | None = None) -> MatchSummary:
    """Match a file. Already in the archive (same SHA-256): as `match_clip`. Otherwise a
    read-only query: the file is fingerprinted and searched but NOT ingested or indexed, and
    nothing is written to the case store (triage it to keep it).

    Raises:
        InputError: the path is not a readable video.
        ExtractionError: none of its frames decodes.
    """
    from ..media.probe import probe_file
    from ..media.sniff import sniff_kind
    from ..store.evidence import sha256_file

    if not path.is_file():
        raise InputError(f"{path}: no such file")
    known = _known(ws, sha256_file(path))
    if known is not None:
        return match_clip(ws, known, notify)
    kind = sniff_kind(path)
    if kind != "video":
        raise InputError(f"{path}: not a video file")
    media = probe_file(path, kind, ws.config.probe).media
    cfg = ws.config.matching
    fps = fingerprint_video(path, media, cfg, ws.config.keyframes)
    index = open_index(ws, notify)
    informative = sum(f.informative for f in fps)
    if not informative:
        return MatchSummary(None, "no_visual_content", NO_VISUAL, len(fps), 0, len(index))
    matches = tuple(entry(ws, v)[0] for v in vote(index, fps, cfg, exclude=None))
    status = "matched" if matches else "no_match"
    msg = f"{len(matches)} matching clip(s) (not ingested: triage the file to keep it)"
    return MatchSummary(None, status, msg, len(fps), informative, len(index), matches)


def _known(ws: Workspace, sha256: str) -> int | None:
    try:
        return ws.cases.resolve(sha256)
    except NotFound:
        return None

"""Match a clip against the archive, record the result, and add the clip to the index.

`match_and_index` is the pipeline hook (after keyframes/hashing, before the reports), in two
parts so that the archive lock is held briefly whatever the archive's size:

1. `search_early`, no lock: the process's warm index (`index.open_index`) catches up with the
   store and everything it holds is searched (the large memory-mapped segments included);
2. `finish` then `record_matches`, under the archive lock: the index catches up again (what
   other workers recorded meanwhile: a few clips), only that is searched, every hit is checked
   against its clip's latest change, the clips are decided, and in ONE case-store transaction
   the clip's fingerprints, its index-log row, its `matches` rows (each row's `details` is
   exactly the report's matches[] entry), `duplicate_of` when an earlier clip of the same case
   is the same footage, and a `matched` custody event are written.

Two copies of the same footage processed at once therefore find each other: whichever takes
the lock second reads the first's fingerprints in its catch-up. Nothing on disk is rewritten
per clip: indexes pick the new rows up from the store's log (`index.py`).
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import delete

from ..config import KeyframesConfig, MatchingConfig
from ..errors import InputError, NotFound, OsintVideoError
from ..media.plan import SampleTap, Schedule
from ..models import MediaInfo
from ..store.cases import NewEvent
from ..store.schema import ADD, ClipRow, FingerprintRow, MatchRow
from ..workspace import Workspace
from .decide import ClipVote, Pair, decide
from .fingerprints import (
    BATCH,
    HASH,
    QUERY_VIEWS,
    STORED_VIEWS,
    VIEWS,
    FrameFingerprint,
    alike,
    fingerprint,
)
from .hits import FrameHits, View, no_hits, search_content, search_segment
from .index import SEARCH_LOCK, LiveIndex, Notify, log_change, open_index
from .sampler import Sample, iter_samples, plan, sample_grey, upright_sample
from .search import MultiIndex
from .segments import Content, Entries

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
    hits: FrameHits,
    fps: Sequence[FrameFingerprint],
    frames: list[int],
    cfg: MatchingConfig,
    frames_of: Callable[[int], int],
) -> list[ClipVote]:
    """Decide per other clip from the frame-level hits of every query view of every
    informative frame (`frames`: the fingerprint behind each group of query rows)."""
    # per frame pair: the best distance, and whether a mirrored view gave it (ties: unmirrored)
    best: dict[tuple[int, int, float], tuple[int, bool]] = {}
    nq = len(QUERY_VIEWS)
    rows = zip(
        hits.query.tolist(), hits.clip.tolist(), hits.time.tolist(), hits.distance.tolist(),
        strict=True,
    )  # fmt: skip
    for q, clip, t, d in rows:
        key = (clip, frames[q // nq], t)
        best[key] = min(best.get(key, (64, True)), (d, q % nq in MIRRORED))
    per_clip: dict[int, list[Pair]] = defaultdict(list)
    for (clip, i, t), (d, mirrored) in best.items():
        tex = min(1.0, fps[i].texture / (2 * cfg.min_texture_std))
        weight = (1 - d / (2 * (cfg.radius + 1))) * tex
        per_clip[clip].append(Pair(i, fps[i].time_s, t, d, weight, mirrored))
    votes = [decide(c, pairs, len(frames), frames_of(c), cfg) for c, pairs in per_clip.items()]
    return sorted((v for v in votes if v.matched), key=lambda v: -v.score)


class MemoryIndex:
    """Entries held in memory and searched exactly: calibration and benches (`bench_match`),
    not the archive (that is `index.open_index`)."""

    def __init__(self, entries: Entries) -> None:
        self.entries = entries
        self._mih = MultiIndex(entries.hashes)
        clips, counts = np.unique(entries.clips, return_counts=True)
        per = (counts // len(STORED_VIEWS)).tolist()
        self._frames = dict(zip(clips.tolist(), per, strict=True))

    def vote(
        self, fps: Sequence[FrameFingerprint], cfg: MatchingConfig, exclude: int | None
    ) -> list[ClipVote]:
        """What `fps` matches among the entries (`exclude`: a clip that never counts)."""
        queries, frames = _queries(fps)
        if not frames:
            return []
        found = self._mih.search(queries, cfg.radius)
        clips = np.asarray(self.entries.clips)[found.stored].astype(np.int64)
        keep = clips != (-1 if exclude is None else exclude)
        times = np.asarray(self.entries.times)[found.stored][keep]
        hits = FrameHits(
            found.query[keep], clips[keep], times, np.zeros(int(keep.sum()), np.int64),
            found.distance[keep],
        )  # fmt: skip
        return vote(hits, fps, frames, cfg, lambda c: self._frames.get(c, 0))


def entry(
    ws: Workspace, v: ClipVote, known: dict[int, dict[str, Any]] | None = None
) -> tuple[dict[str, Any], set[str]]:
    """The report's matches[] entry for one vote, and the other clip's cases (`known`: facts
    read already).

    Raises:
        NotFound: the other clip was deleted from the store since it was indexed.
    """
    facts = (known or {}).get(v.other_clip_id) or ws.cases.clip_facts(v.other_clip_id)
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
    """Fingerprints (with their index-log row), matches, duplicate link and the custody
    event: one transaction."""
    with ws.cases.session() as ses:
        clip = ses.get(ClipRow, clip_id)
        if clip is None:
            raise NotFound(f"no clip with id {clip_id}")
        ses.execute(delete(FingerprintRow).where(FingerprintRow.clip_id == clip_id))
        ses.execute(delete(MatchRow).where(MatchRow.clip_id == clip_id))
        ses.add_all(_fp_rows(clip_id, fps))
        log_change(ses, clip_id, ADD, 2 * sum(f.informative for f in fps))
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
    idx_position: int,
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
            "index_position": idx_position,
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
    index: LiveIndex
    index_size: int
    index_position: int  # the store's index log, read up to here: what was searched
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


@dataclass(frozen=True)
class Early:
    """What is done before the archive lock: the hits of everything in `view`, the clips
    they vote for and those clips' facts (read again under the lock only if what arrived
    meanwhile changes the hits)."""

    fingerprints: list[FrameFingerprint]
    queries: np.ndarray
    frames: list[int]
    index: LiveIndex
    view: View
    hits: FrameHits
    alive: FrameHits
    votes: list[ClipVote]
    facts: dict[int, dict[str, Any]]
    cases: set[str]
    seconds: float


# Per archive-lock hold in this process: (seconds held, index changes caught up under it).
# Read by bench/bench_archive_scale.py; bounded, so a worker running for months keeps 1,000.
LOCK_HOLDS: deque[tuple[float, int]] = deque(maxlen=1000)


def clip_fingerprints(
    ws: Workspace,
    evidence_path: Path,
    media: MediaInfo,
    fingerprints: Sequence[FrameFingerprint] | None = None,
) -> list[FrameFingerprint]:
    """The clip's fingerprints: the ones another decode sampled, else decoded here.

    Raises:
        ExtractionError: no frame of the clip decodes.
    """
    if fingerprints is not None:
        return list(fingerprints)
    return fingerprint_video(evidence_path, media, ws.config.matching, ws.config.keyframes)


def search_early(
    ws: Workspace,
    fps: Sequence[FrameFingerprint],
    notify: Notify | None = None,
    clip_id: int | None = None,
) -> Early:
    """Search everything the index holds once caught up with the store, and decide on it (no
    lock needed: segments never change, and what arrives later is searched by `finish`).

    Args:
        clip_id: the recorded clip searched for (its own entries never count), or None.
    """
    began = time.perf_counter()
    cfg = ws.config.matching
    idx = open_index(ws, notify)
    queries, frames = _queries(fps)
    view = idx.view()
    hits = view.search(queries, cfg.radius) if frames else no_hits()
    alive = idx.alive(hits, exclude=clip_id)
    votes = vote(alive, fps, frames, cfg, idx.frames_per_clip) if frames else []
    facts = _facts(ws, votes, {})
    cases = _same_case(ws, clip_id) if clip_id is not None else set()
    return Early(
        list(fps), queries, frames, idx, view, hits, alive, votes, facts, cases,
        time.perf_counter() - began,
    )  # fmt: skip


def _facts(
    ws: Workspace, votes: list[ClipVote], known: dict[int, dict[str, Any]]
) -> dict[int, dict[str, Any]]:
    """`known` and the facts of the voted clips not in it (clips deleted since: left out)."""
    out = dict(known)
    for v in votes:
        if v.other_clip_id not in out:
            try:
                out[v.other_clip_id] = ws.cases.clip_facts(v.other_clip_id)
            except NotFound:
                continue
    return out


def _same(a: FrameHits, b: FrameHits) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a.parts(), b.parts(), strict=True))


def _since(content: Content, position: int) -> Content:
    """The part of the tail made by changes after `position`."""
    newer = {c: v for c, v in content.labels.items() if v[0] > position}
    keep = np.isin(np.asarray(content.entries.clips), np.fromiter(newer, np.int64))
    return Content(content.entries.take(keep), newer)


def search_late(ws: Workspace, early: Early) -> FrameHits:
    """Under the archive lock: catch up, and search what the early search did not cover."""
    idx, radius = early.index, ws.config.matching.radius
    idx.catch_up(ws)
    if not early.frames:
        return early.hits
    now = idx.view()
    seen = {s.name for s in early.view.segments}
    hits = early.hits + search_content(_since(now.tail, early.view.position), early.queries, radius)
    for seg in now.segments:  # written since (another job's flush here, or a compaction)
        if seg.name not in seen and seg.end > early.view.position:
            hits = hits + search_segment(seg, early.queries, radius)
    return hits


def finish(ws: Workspace, clip_id: int, early: Early) -> Found:
    """Decide what the clip matches (call under the archive lock; writes nothing)."""
    cfg = ws.config.matching
    idx, fps, cases = early.index, early.fingerprints, early.cases
    hits = idx.alive(search_late(ws, early), exclude=clip_id)
    votes = early.votes
    if not _same(hits, early.alive):  # what arrived meanwhile matters: decide again
        votes = vote(hits, fps, early.frames, cfg, idx.frames_per_clip)
    facts = _facts(ws, votes, early.facts)
    informative = sum(f.informative for f in fps)
    matches, dup = [], None
    for v in votes:
        if v.other_clip_id not in facts:
            continue  # deleted from the store since (its entries go at the next compaction)
        m, other_cases = entry(ws, v, facts)
        matches.append(m)
        if (
            v.other_clip_id < clip_id
            and cases & other_cases
            and v.coverage >= cfg.duplicate_min_coverage
        ):
            dup = v.other_clip_id if dup is None else min(dup, v.other_clip_id)
    status = "no_visual_content" if not informative else ("matched" if matches else "no_match")
    return Found(clip_id, fps, idx, len(idx), idx.position, status, matches, dup)


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
        found.index_position,
    ).details


def record_matches(ws: Workspace, found: Found, event: NewEvent) -> None:
    """Fingerprints, index-log row, matches, duplicate link and the event in one transaction
    (call under the archive lock; every process's index reads the new rows from the log)."""
    _save(ws, found.clip_id, found.fingerprints, found.matches, found.duplicate_of, event)


class ArchiveLock:
    """The archive lock, held from `take` until the block ends and timed (`LOCK_HOLDS`).
    Once it is released, the index's tail is written out, and compacted, when due
    (`compact.after_job`)."""

    def __init__(self, ws: Workspace, notify: Notify | None = None) -> None:
        self.ws, self.notify = ws, notify
        self.index: LiveIndex | None = None
        self._held: AbstractContextManager[Any] | None = None
        self._since = 0.0

    def __enter__(self) -> ArchiveLock:
        return self

    def take(self, index: LiveIndex) -> None:
        """Wait for the lock and hold it until the block ends."""
        self.index = index
        held = self.ws.lock(SEARCH_LOCK)
        held.__enter__()
        self._held, self._since = held, time.perf_counter()

    def __exit__(self, *exc: Any) -> None:
        held, self._held = self._held, None
        if held is None or self.index is None:
            return
        try:
            held.__exit__(*exc)
        finally:
            LOCK_HOLDS.append((time.perf_counter() - self._since, self.index.caught_up))
        if exc[0] is None:
            from .compact import after_job

            try:
                after_job(self.ws, self.index)
            except (OSError, OsintVideoError) as err:  # the clip is recorded; the index copes
                if self.notify:
                    self.notify(f"archive index: segment not written ({err}); kept in memory")


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
    (`search_early`, then `finish` and `record_matches` under the archive lock).

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
    say("match", 0.0)
    fps = clip_fingerprints(ws, evidence_path, media, fingerprints)
    say("match", 0.6)
    early = search_early(ws, fps, notify, clip_id)
    with ArchiveLock(ws, notify) as lock:
        lock.take(early.index)
        found = finish(ws, clip_id, early)
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
    early = search_early(ws, fps, notify)
    idx = early.index
    informative = sum(f.informative for f in fps)
    if not informative:
        return MatchSummary(None, "no_visual_content", NO_VISUAL, len(fps), 0, len(idx))
    matches = [entry(ws, v, early.facts)[0] for v in early.votes if v.other_clip_id in early.facts]
    status = "matched" if matches else "no_match"
    msg = f"{len(matches)} matching clip(s) (not ingested: triage the file to keep it)"
    return MatchSummary(None, status, msg, len(fps), informative, len(idx), tuple(matches))


def _known(ws: Workspace, sha256: str) -> int | None:
    try:
        return ws.cases.resolve(sha256)
    except NotFound:
        return None

"""Step: archive matching ("seen before") — search every clip the desk has seen, record the
matches, and add this clip to the index.

The archive lock (one per workspace, across every machine of a desk) serialises the part that
must be: catching up with what other workers recorded, searching that, deciding and recording.
The large part of the search runs before it, unlocked (`matching.match.search_early`: the
index's segments never change), so the lock is taken late, by `run`, and the seam releases it
after `write`. Each clip is therefore matched against every clip recorded before it, and two
copies processed at once find each other. Its samples come from the keyframe decode when that
decode served them.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from ..keyframes.extract import taps_samples
from ..matching.match import (
    ArchiveLock,
    Found,
    SampledFingerprints,
    clip_fingerprints,
    finish,
    found_details,
    record_matches,
    search_early,
)
from ..matching.sound_index import warm_senses
from ..media.images import require_pixels_within
from ..store.cases import NewEvent
from .base import Job, Step

_held: dict[int, ArchiveLock] = {}  # id(job) -> its lock while the seam is inside the step


class _JobLock(ArchiveLock):
    """The step's lock: entered by the seam (not yet taken), taken by `run`."""

    def __init__(self, job: Job) -> None:
        super().__init__(job.ws, job.notify)
        self.key = id(job)

    def __enter__(self) -> ArchiveLock:
        _held[self.key] = self
        return self

    def __exit__(self, *exc: Any) -> None:
        _held.pop(self.key, None)
        super().__exit__(*exc)


class Match(Step[Found]):
    name = "match"
    action = "matched"
    weight = 0.05
    tools = ("pyav", "numpy", "imagehash")

    def wanted(self, job: Job) -> bool:
        return job.kind == "video" and job.ws.config.matching.enabled

    def sampler(self, job: Job) -> SampledFingerprints | None:
        warm_senses(
            job.ws
        )  # a process's first clip: the index opens while the keyframe pass decodes
        if not taps_samples(job.ws.config.keyframes):
            return None
        return SampledFingerprints(job.probe.media, job.ws.config.matching)

    def lock(self, job: Job) -> AbstractContextManager[Any]:
        return _JobLock(job)

    def run(self, job: Job) -> Found:
        m = job.probe.media  # a clip over the pixel cap is not decoded here either
        require_pixels_within(m.width, m.height, job.ws.config.probe.max_pixels, still=False)
        sampler = job.sampled(Match)
        given = sampler.result() if isinstance(sampler, SampledFingerprints) else None
        job.progress(0.1)
        fps = clip_fingerprints(job.ws, job.evidence, m, given)
        job.progress(0.6)
        early = search_early(job.ws, fps, job.notify, job.clip_id)
        _held[id(job)].take(early.index)
        return finish(job.ws, job.clip_id, early)

    def event(self, job: Job, result: Found) -> dict[str, Any]:
        return found_details(result, job.ws.config.matching, job.sha256)

    def write(self, job: Job, result: Found, event: NewEvent | None) -> None:
        assert event is not None
        record_matches(job.ws, result, event)

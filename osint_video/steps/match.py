"""Step: archive matching ("seen before") — search every clip the desk has seen, record the
matches, and add this clip to the index.

It reads and rewrites the workspace's archive index, so it holds the archive lock (one per
workspace, across every machine of a desk) from the search to the index update: two workers
never lose each other's index entries, and each clip is matched against every clip indexed
before it. Its samples come from the keyframe decode when that decode served them.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from ..keyframes.extract import taps_samples
from ..matching.match import Found, SampledFingerprints, find_matches, found_details, record_matches
from ..media.images import require_pixels_within
from ..store.cases import NewEvent
from .base import Job, Step


class Match(Step[Found]):
    name = "match"
    action = "matched"
    weight = 0.05
    tools = ("pyav", "numpy", "numba", "imagehash")

    def wanted(self, job: Job) -> bool:
        return job.kind == "video" and job.ws.config.matching.enabled

    def sampler(self, job: Job) -> SampledFingerprints | None:
        if not taps_samples(job.ws.config.keyframes):
            return None
        return SampledFingerprints(job.probe.media, job.ws.config.matching)

    def lock(self, job: Job) -> AbstractContextManager[Any]:
        return job.ws.lock("archive-index")

    def run(self, job: Job) -> Found:
        m = job.probe.media  # a clip over the pixel cap is not decoded here either
        require_pixels_within(m.width, m.height, job.ws.config.probe.max_pixels, still=False)
        sampler = job.sampled(Match)
        fps = sampler.result() if isinstance(sampler, SampledFingerprints) else None
        return find_matches(
            job.ws,
            job.clip_id,
            job.evidence,
            job.probe.media,
            lambda _stage, f: job.progress(f),
            job.notify,
            fingerprints=fps,
        )

    def event(self, job: Job, result: Found) -> dict[str, Any]:
        return found_details(result, job.ws.config.matching, job.sha256)

    def write(self, job: Job, result: Found, event: NewEvent | None) -> None:
        assert event is not None
        record_matches(job.ws, result, event)

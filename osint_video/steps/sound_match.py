"""Step: "seen before" by sound, beside the picture's — search the sound index, merge with the
picture's matches (`modality`: picture, sound or both), record where the two senses disagree
(`sound_differs`, `picture_differs`), and add the clip's sound to the index.

It runs right after `Match`, under the same archive lock (the sound index is part of the
archive), and reads what `Match` found; on a resumed run, or when the picture's matching did
not run, it reads the picture's matches and fingerprints from the case store, and the sound's
fingerprints are made again when `Sound` did not run in this run.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from ..matching.sound_archive import (
    SoundFound,
    find_sound,
    picture_entries,
    picture_prints,
    record_sound,
    sound_details,
)
from ..sound.fingerprint import read_sound
from ..store.cases import NewEvent
from .base import Job, Step
from .match import Match
from .sound import Sound


class SoundMatch(Step[SoundFound]):
    name = "sound_match"
    action = "sound_matched"
    weight = 0.02
    tools = ("numpy", "pyav", "opencv")

    def wanted(self, job: Job) -> bool:
        cfg = job.ws.config
        return job.kind == "video" and cfg.sound.enabled and cfg.matching.enabled

    def lock(self, job: Job) -> AbstractContextManager[Any]:
        return job.ws.lock("archive-index")

    def run(self, job: Job) -> SoundFound:
        heard = job.maybe(Sound)
        if heard is None:
            cfg = job.ws.config
            heard = read_sound(job.evidence, cfg.sound, cfg.probe.timeout_s)
        seen = job.maybe(Match)
        if seen is not None:
            picture, frames = seen.matches, seen.fingerprints
        else:
            picture = picture_entries(job.ws, job.clip_id)
            frames = picture_prints(job.ws, job.clip_id)
        return find_sound(
            job.ws,
            job.clip_id,
            heard.prints,
            picture,
            frames,
            job.notify,
            path=job.evidence,
            rotation_deg=job.probe.media.rotation_deg,
        )

    def event(self, job: Job, result: SoundFound) -> dict[str, Any]:
        cfg = job.ws.config.sound
        return {
            **sound_details(result, job.sha256),
            "parameters": {
                "probe_bits": cfg.probe_bits,
                "max_bucket": cfg.max_bucket,
                "min_hits": cfg.min_hits,
                "max_bit_error": cfg.max_bit_error,
                "min_seconds": cfg.min_seconds,
                "differs_bit_error": cfg.differs_bit_error,
                "min_compare_s": cfg.min_compare_s,
            },
        }

    def write(self, job: Job, result: SoundFound, event: NewEvent | None) -> None:
        assert event is not None
        record_sound(job.ws, result, event)

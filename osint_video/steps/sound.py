"""Step: the clip's sound — each audio track's facts and Chromaprint fingerprint.

Every audio track is decoded once, to 11,025 Hz mono, and streamed through `fpcalc -raw` and
our own measure of which stretches carry information (`sound/`): quiet, steady noise, wind and
engines are kept in the fingerprint but never matched. The keyframe decode also hands this
step two tiny thumbnails a second, to tell a still picture with sound laid over it
(`sound.still`). The fingerprints are recorded, searched and indexed after the commit, by
`SoundMatch` beside the picture's matching (`steps/sound_match.py`).

Bad sound is a fact, not a failure: a track that does not decode, is empty or too short is
listed with the reason (and an anomaly); should the step itself fail (fpcalc missing), that is
recorded (`sound_failed`) and the clip is still processed.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

from ..sound.anomalies import screen_recording_clue
from ..sound.fingerprint import SoundRead, read_sound
from ..sound.still import StillPicture
from .base import Job, Step, Stored


class Sound(Step[SoundRead]):
    name = "sound"
    action = "sound_fingerprinted"
    weight = 0.03
    tools = ("ffmpeg", "ffprobe", "fpcalc", "numpy")
    critical = False  # a clip whose sound cannot be read is still processed (recorded, said)

    def wanted(self, job: Job) -> bool:
        return job.kind == "video" and job.ws.config.sound.enabled

    def sampler(self, job: Job) -> StillPicture:
        return StillPicture()

    def run(self, job: Job) -> SoundRead:
        cfg = job.ws.config
        read = read_sound(job.evidence, cfg.sound, cfg.probe.timeout_s)
        sampler = job.sampled(Sound)
        still = sampler.result() if isinstance(sampler, StillPicture) else None
        info = dataclasses.replace(
            read.info,
            picture_still=still,
            screen_recording=screen_recording_clue(job.probe.metadata),
        )
        return SoundRead(info, read.prints)

    def event(self, job: Job, result: SoundRead) -> dict[str, Any]:
        cfg = job.ws.config.sound
        prints = {p.track: p for p in result.prints}
        return {
            "input_sha256": job.sha256,
            "algorithm": result.info.algorithm,
            "parameters": {
                "rate_hz": 11025,
                "item_s": result.info.item_s,
                "span_s": result.info.span_s,
                "max_tracks": cfg.max_tracks,
                "max_duration_s": cfg.max_duration_s,
                "min_level_db": cfg.min_level_db,
                "min_flux_db": cfg.min_flux_db,
                "max_energy_entropy": cfg.max_energy_entropy,
            },
            "tracks": [
                {
                    "track": t.order,
                    "stream": t.index,
                    "codec": t.codec,
                    "fingerprint": t.fingerprint,
                    "items": t.items,
                    "informative": t.informative,
                    "decoded_s": t.decoded_s,
                    "error": t.error,
                    "values_sha256": _digest(prints.get(t.order)),
                }
                for t in result.info.tracks
            ],
            "picture_still": result.info.picture_still,
        }

    def stored(self, job: Job, result: SoundRead) -> Stored:
        return Stored(fields={"sound": dataclasses.asdict(result.info)})


def _digest(made: Any) -> str | None:
    """SHA-256 of a track's sub-fingerprints as stored (little-endian uint32)."""
    if made is None:
        return None
    return hashlib.sha256(made.values.astype("<u4").tobytes()).hexdigest()

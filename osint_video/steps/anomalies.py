"""Step: the facts a verifier should look at (`anomalies.detect_anomalies`), from the probe
and, when the keyframe step decoded the clip, from what decoding found; then the sound's
(`sound.anomalies`), when the sound step read it."""

from __future__ import annotations

import dataclasses
from typing import Any

from ..anomalies import detect_anomalies
from ..models import Anomaly
from ..sound.anomalies import sound_anomalies
from ..store.cases import utcnow
from .base import Job, Step, Stored
from .keyframes import Keyframes
from .sound import Sound


class Anomalies(Step[list[Anomaly]]):
    name = "anomalies"
    action = None  # a pure function of recorded facts: the report states them
    weight = 0.01

    def run(self, job: Job) -> list[Anomaly]:
        frames = job.maybe(Keyframes)
        heard = job.maybe(Sound)
        found = detect_anomalies(
            job.probe,
            decode=frames.decode if frames else None,
            acquired_at=job.acquired_at,
            now=utcnow(),
            cfg=job.ws.config.probe,
            decoded_size=frames.decoded_size if frames else None,
        )
        return found + (sound_anomalies(heard.info, job.ws.config.sound) if heard else [])

    def stored(self, job: Job, result: list[Anomaly]) -> Stored:
        return Stored(fields={"anomalies": [dataclasses.asdict(a) for a in result]})

    def event(self, job: Job, result: list[Anomaly]) -> dict[str, Any]:
        return {}

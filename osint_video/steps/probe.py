"""Step: the probe's record. Intake probed the evidence file (or `Job.probe` probes it now);
this step states it in custody and hands the metadata to the clip's record."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from ..models import ProbeResult
from .base import Job, Step, Stored


class Probe(Step[ProbeResult]):
    name = "probe"
    action = "probed"
    weight = 0.03
    tools = ("ffprobe", "exifread", "pillow", "pillow-heif", "c2pa-python")

    def run(self, job: Job) -> ProbeResult:
        return job.probe

    def event(self, job: Job, result: ProbeResult) -> dict[str, Any]:
        return {"input_sha256": job.sha256, "kind": result.media.kind}

    def stored(self, job: Job, result: ProbeResult) -> Stored:
        return Stored(
            fields={
                "media": _jsonable(dataclasses.asdict(result.media)),
                "meta": _jsonable(dataclasses.asdict(result.metadata)),
                "duration_s": result.media.duration_s,
            }
        )


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))

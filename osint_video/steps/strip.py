"""Step: the metadata-free working copy (a remux, no re-encode), made beside the decode."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..media.images import require_pixels_within
from ..media.strip import strip_metadata, stripped_suffix
from ..store.evidence import sha256_file
from .base import Job, Step, Stored


@dataclass(frozen=True)
class Stripped:
    """The working copy in the work folder, and its SHA-256."""

    path: Path
    sha256: str


class Strip(Step[Stripped]):
    """Mostly I/O (an ffmpeg remux), so it runs in the background beside the keyframe decode."""

    name = "strip"
    action = "stripped"
    weight = 0.02
    tools = ("ffmpeg", "ffprobe", "pillow")
    background = True

    def run(self, job: Job) -> Stripped:
        cfg = job.ws.config.probe
        media = job.probe.media
        # a still whose header the bounded probe could not read is not opened here, unbounded
        require_pixels_within(media.width, media.height, None, still=job.kind == "image")
        suffix = stripped_suffix(job.evidence, job.kind, timeout=cfg.timeout_s)
        dst = job.work / f"stripped{suffix}"
        strip_metadata(
            job.evidence, dst, job.kind, timeout=cfg.timeout_s * 5, max_pixels=cfg.max_pixels
        )
        return Stripped(dst, sha256_file(dst))

    def event(self, job: Job, result: Stripped) -> dict[str, Any]:
        return {
            "input_sha256": job.sha256,
            "outputs": {result.path.name: result.sha256},
            "parameters": {"reencode": False},
        }

    def stored(self, job: Job, result: Stripped) -> Stored:
        rel = (job.final / result.path.name).relative_to(job.ws.home).as_posix()
        return Stored(derived={"stripped_copy": rel})

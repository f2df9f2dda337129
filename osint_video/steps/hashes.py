"""Step: perceptual hashes of the keyframes, and near-duplicate groups inside the clip."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..hashing.dedup import group_near_duplicates
from ..hashing.hashes import FrameHash, compute_hashes, texture_std
from .base import Job, Step, Stored
from .keyframes import HASH_ALGORITHMS, Frames, Keyframes

HASH_BATCH = 32


@dataclass(frozen=True)
class Hashed:
    hashes: list[dict[str, FrameHash]]
    informative: list[bool]
    duplicate_of: list[int | None]


class Hash(Step[Hashed]):
    name = "hash"
    action = "hashed"
    weight = 0.02
    tools = ("imagehash", "numpy", "pillow")

    def run(self, job: Job) -> Hashed:
        """Hashes taken while the PNGs were written are used when present (bit-identical to
        hashing the lossless PNG); otherwise the PNGs are read in batches (bounded memory)."""
        frames = job.result(Keyframes)
        cfg = job.ws.config.hashing
        if frames.facts and all(x is not None for x in frames.facts):
            hashes = [x.hashes for x in frames.facts if x is not None]
            informative = [x.texture >= cfg.min_texture_std for x in frames.facts if x is not None]
        else:
            hashes, informative = _hash_pngs(frames, cfg.min_texture_std)
        algo = cfg.dedup_algorithm
        groups = group_near_duplicates(
            [h[algo] for h in hashes], cfg.dedup_max_distance, informative
        )
        return Hashed(hashes, informative, groups)

    def event(self, job: Job, result: Hashed) -> dict[str, Any]:
        cfg = job.ws.config.hashing
        return {
            "parameters": {
                "algorithms": list(HASH_ALGORITHMS),
                "dedup_algorithm": cfg.dedup_algorithm,
                "dedup_max_distance": cfg.dedup_max_distance,
            },
            "keyframes": len(result.hashes),
            "duplicates": sum(1 for d in result.duplicate_of if d is not None),
        }

    def stored(self, job: Job, result: Hashed) -> Stored:
        """The keyframe rows; their paths point where the work folder will be published."""
        frames = job.result(Keyframes)
        rows = []
        for i, kf in enumerate(frames.keyframes):
            hashes = result.hashes[i]
            rel = (job.final / "keyframes" / Path(kf.path).name).relative_to(job.ws.home)
            dup = result.duplicate_of[i]
            rows.append(
                {
                    "index": kf.index,
                    "shot": kf.shot,
                    "frame": kf.frame,
                    "time_s": kf.time_s,
                    "path": rel.as_posix(),
                    "phash": str(hashes["phash"]),
                    "dhash": str(hashes["dhash"]),
                    "duplicate_of": frames.keyframes[dup].index if dup is not None else None,
                    "informative": result.informative[i],
                    "sharpness": kf.sharpness,
                }
            )
        return Stored(keyframes=rows)


def _hash_pngs(f: Frames, min_texture_std: float) -> tuple[list[dict[str, FrameHash]], list[bool]]:
    from PIL import Image

    hashes: list[dict[str, FrameHash]] = []
    informative: list[bool] = []
    for start in range(0, len(f.keyframes), HASH_BATCH):
        images = []
        for kf in f.keyframes[start : start + HASH_BATCH]:
            with Image.open(kf.path) as img:
                images.append(img.convert("RGB"))
        hashes.extend(compute_hashes(images, HASH_ALGORITHMS))
        informative.extend(texture_std(img) >= min_texture_std for img in images)
    return hashes, informative

"""Step: shots and keyframes (videos) or the upright still itself (images).

The keyframe decode is the one full pass over the pictures, so other steps ride on it: every
tap the run's steps gave (`Job.taps`: archive matching's fingerprints, on-screen text) samples
its frames from this decode (`media.plan`: a frame two taps take is decoded once). While
each keyframe's PNG is written, its hashes, texture and report thumbnail are taken from the
same in-memory picture, so no later step reads it back.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ExtractionError
from ..hashing.hashes import FrameHash, compute_hashes, texture_std
from ..keyframes.extract import extract_keyframes, taps_samples
from ..media.images import load_upright, require_pixels_within
from ..media.probe import require_decodable
from ..models import DecodeStats, KeyframeImage, Shot
from ..store.evidence import sha256_file
from .base import Job, Step, Stored

HASH_ALGORITHMS = ("phash", "dhash")
THUMBS_DIR = "thumbs"  # next to the keyframes; the report's contact sheet and HTML reuse them


@dataclass(frozen=True)
class KeyframeFacts:
    """What is learnt from a keyframe's in-memory picture while its PNG is written, so no step
    reads the PNG back: hashes (equal to hashing the PNG: it is lossless), texture, thumbnail."""

    hashes: dict[str, FrameHash]
    texture: float
    thumbnail: bytes  # PNG, `report.thumbnail_width` wide, made exactly as the report would
    extras: dict[type, Any] = field(default_factory=dict)  # later steps' takes (`on_keyframe`)


@dataclass(frozen=True)
class Frames:
    """Keyframes of a clip (or the still itself) written into the work folder."""

    shots: tuple[Shot, ...]
    keyframes: tuple[KeyframeImage, ...]
    decode: DecodeStats | None
    decoded_size: tuple[int, int] | None
    method: str
    params: dict[str, Any]
    # per keyframe, in order; None where unknown (then the PNG is read)
    sha256: tuple[str | None, ...] = ()
    facts: tuple[KeyframeFacts | None, ...] = ()


class Keyframes(Step[Frames]):
    name = "keyframes"
    action = "keyframes_extracted"
    weight = 0.75
    tools = ("pyav", "opencv", "numpy", "pillow", "imagehash")

    def run(self, job: Job) -> Frames:
        out = job.work / "keyframes"
        out.mkdir(parents=True, exist_ok=True)
        cap = job.ws.config.probe.max_pixels
        m = job.probe.media
        require_pixels_within(m.width, m.height, cap, still=job.kind == "image")
        if job.kind == "image":
            job.untap()
            return _still(job.evidence, out, cap)
        require_decodable(job.probe.media)
        cfg = job.ws.config
        if not taps_samples(cfg.keyframes):
            job.untap()
        taps = job.taps()
        hooks = job.keyframe_hooks()
        result = extract_keyframes(
            job.evidence,
            job.probe.media,
            out,
            cfg.keyframes,
            job.progress,
            lambda img: _facts(img, cfg.report.thumbnail_width, hooks),
            taps,
        )
        if not result.keyframes:
            raise ExtractionError("no keyframe could be extracted")
        if taps:
            job.served()
        facts = tuple(result.extras.get(k.path) for k in result.keyframes)
        _write_thumbnails(out / THUMBS_DIR, result.keyframes, facts)
        return Frames(
            tuple(result.shots),
            tuple(result.keyframes),
            result.decode,
            _png_size(Path(result.keyframes[0].path)),
            result.method,
            dict(result.params),
            tuple(result.sha256.get(k.path) for k in result.keyframes),
            facts,
        )

    def event(self, job: Job, result: Frames) -> dict[str, Any]:
        known = result.sha256 or (None,) * len(result.keyframes)
        outputs = {
            Path(k.path).name: digest or sha256_file(Path(k.path))
            for k, digest in zip(result.keyframes, known, strict=True)
        }
        details: dict[str, Any] = {
            "input_sha256": job.sha256,
            "method": result.method,
            "parameters": result.params,
            "shots": len(result.shots),
            "outputs": outputs,
        }
        thumbs = Path(result.keyframes[0].path).parent / THUMBS_DIR if result.keyframes else None
        if thumbs is not None and thumbs.is_dir():
            details["thumbnails"] = {
                f"{THUMBS_DIR}/{p.name}": sha256_file(p) for p in sorted(thumbs.glob("*.png"))
            }
        return details

    def stored(self, job: Job, result: Frames) -> Stored:
        fields = {"decode": dataclasses.asdict(result.decode) if result.decode else None}
        return Stored(fields=fields, shots=[dataclasses.asdict(s) for s in result.shots])


def _still(evidence: Path, out: Path, max_pixels: int) -> Frames:
    img = load_upright(evidence, max_pixels)
    dst = out / "kf_0000_f000000.png"
    img.save(dst, format="PNG")
    kf = KeyframeImage(index=0, shot=0, frame=0, time_s=0.0, path=str(dst))
    return Frames((), (kf,), None, img.size, "still", {})


def _facts(img: Any, thumb_width: int, hooks: dict[type, Callable[[Any], Any]]) -> KeyframeFacts:
    """Runs in a keyframe writer thread (PIL releases the GIL while resizing)."""
    from PIL import Image

    thumb = img.copy()
    thumb.thumbnail((thumb_width, thumb_width * 4), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    thumb.save(buf, format="PNG", compress_level=1)
    hashes = compute_hashes([img], HASH_ALGORITHMS)[0]
    extras = {step: hook(img) for step, hook in hooks.items()}
    return KeyframeFacts(hashes, texture_std(img), buf.getvalue(), extras)


def _write_thumbnails(
    folder: Path, kfs: tuple[KeyframeImage, ...], facts: tuple[KeyframeFacts | None, ...]
) -> None:
    folder.mkdir(exist_ok=True)
    for kf, fact in zip(kfs, facts, strict=True):
        if fact is not None:
            (folder / Path(kf.path).name).write_bytes(fact.thumbnail)


def _png_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as img:
        return img.size

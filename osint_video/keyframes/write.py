"""Keyframe PNGs written while the shots are still being found, from pictures already decoded.

The frame source keeps the exact full-resolution pictures of likely keyframes (`keep`);
when a shot closes, its picks are handed here and compressed in a thread pool (the fast PNG
encoder and hashlib release the GIL) while decoding goes on. Each picture is converted to RGB
once and that one array feeds the PNG, its SHA-256 (custody) and the caller's `on_image` hook
(perceptual hashes and a thumbnail in the triage pipeline), so nothing reads the PNGs back.
Picks whose picture was not kept are decoded again from their GOP at the end.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image

from ..errors import ExtractionError
from ..media.grab import decode_exact, upright_rgb
from ..media.png import encode_png
from .select import Pick

OnImage = Callable[[Image.Image], Any]


@dataclass(frozen=True)
class Written:
    """One keyframe PNG on disk: its SHA-256 and whatever `on_image` returned for it."""

    frame: int
    path: Path
    sha256: str
    extra: Any = None


class KeyframeWriter:
    """Writes keyframe PNGs (temporary names until `finish` knows their final numbers).

    Args:
        out_dir: folder of the PNGs (exists).
        rotation_deg: clockwise degrees that turn the pictures upright.
        workers: compression threads.
        on_image: called in a worker thread with each upright RGB image.
    """

    def __init__(self, out_dir: Path, rotation_deg: int, workers: int, on_image: OnImage | None):
        self.out_dir = out_dir
        self.rotation_deg = rotation_deg
        self.workers = max(1, workers)
        self.on_image = on_image
        self._pool = ThreadPoolExecutor(max_workers=self.workers)
        self._jobs: dict[int, Future[Written]] = {}

    def submit(self, picks: list[Pick]) -> list[Pick]:
        """Start writing the picks that carry a picture; returns them without it (memory)."""
        out = []
        for p in picks:
            if p.image is not None and p.frame not in self._jobs:
                self._jobs[p.frame] = self._pool.submit(self._from_frame, p.frame, p.image)
            out.append(dataclasses.replace(p, image=None) if p.image is not None else p)
        return out

    def _from_frame(self, index: int, frame: av.VideoFrame) -> Written:
        return self._store(index, upright_rgb(frame, self.rotation_deg))

    def _store(self, index: int, rgb: np.ndarray) -> Written:
        data = encode_png(rgb)
        path = self.out_dir / f".f{index:06d}.png.partial"
        path.write_bytes(data)
        extra = self.on_image(Image.fromarray(rgb)) if self.on_image else None
        return Written(index, path, hashlib.sha256(data).hexdigest(), extra)

    def finish(self, video: Path, frames: Sequence[int], names: Sequence[str]) -> list[Written]:
        """Wait for the writes, decode the pictures not kept, give each PNG its final name.

        Args:
            video: the clip (for pictures the first pass did not keep).
            frames: the final keyframes' presentation indices.
            names: their final file names, in the same order.

        Returns:
            one `Written` per frame, in the order given, paths final.

        Raises:
            ExtractionError: a frame cannot be decoded or a PNG cannot be written.
        """
        missing = [f for f in frames if f not in self._jobs]

        try:
            done = {
                w.frame: w
                for w in decode_exact(
                    video,
                    missing,
                    lambda i, fr: self._from_frame(i, fr),
                    self.workers,
                )
            }
            done.update({f: job.result() for f, job in self._jobs.items()})
        except OSError as exc:
            raise ExtractionError(f"cannot write keyframe PNGs: {exc}") from exc
        finally:
            self.close()
        keep = set(frames)
        for w in done.values():  # picks dropped by the clip-wide cap
            if w.frame not in keep:
                w.path.unlink(missing_ok=True)
        out = []
        for f, name in zip(frames, names, strict=True):
            w = done[f]
            final = w.path.with_name(name)
            w.path.replace(final)
            out.append(dataclasses.replace(w, path=final))
        return out

    def abort(self) -> None:
        """Stop and remove every file written so far (the extraction failed)."""
        self.close()
        for job in self._jobs.values():
            if job.done() and not job.cancelled() and job.exception() is None:
                job.result().path.unlink(missing_ok=True)

    def close(self) -> None:
        """Stop the threads (idempotent); temporary files of an aborted run stay for the caller
        to remove with its work folder."""
        self._pool.shutdown(wait=True, cancel_futures=True)

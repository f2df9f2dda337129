"""Step 6 entry point: decode small frames, find shots, pick keyframes, write upright PNGs."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from ..config import KeyframesConfig
from ..errors import ConfigError, ExtractionError
from ..media.decode import FrameSource, write_frames
from ..models import KeyframeImage, MediaInfo, Shot
from . import KeyframeResult
from .select import Selection, select_keyframes
from .shots import METHODS, dense_planner, features

DETECT_SHARE = 0.85  # share of the progress bar spent decoding small frames
PNG_COMPRESS_LEVEL = 1  # keyframes are evidence copies: fast lossless beats small


def extract_keyframes(
    path: Path,
    media: MediaInfo,
    out_dir: Path,
    cfg: KeyframesConfig,
    progress: Callable[[float], None] | None = None,
) -> KeyframeResult:
    """Split a video into shots and write its keyframes as upright full-resolution PNGs.

    Args:
        path: the video (the evidence copy; it is only read).
        media: probe result; `rotation_deg` turns the PNGs upright.
        out_dir: where `kf_<n>_f<frame>.png` files are written (created if missing).
        cfg: the [keyframes] configuration (method, thresholds, caps).
        progress: called with a fraction 0..1 as work advances.

    Returns:
        shots, cuts, keyframes, what decoding found, and the method and parameters used.

    Raises:
        ConfigError: unknown method name.
        ExtractionError: no video stream, unsupported codec, or no frame decodes.
    """
    if cfg.method not in METHODS:
        raise ConfigError(f"keyframes.method {cfg.method!r} is not one of {', '.join(METHODS)}")
    if not media.has_video_stream:
        raise ExtractionError(f"{path.name}: has no video stream to take keyframes from")
    source = _source(path, cfg)
    report = (lambda f: progress(f * DETECT_SHARE)) if progress else None
    marked = METHODS[cfg.method](cfg).mark(source.frames(report))
    selection = select_keyframes(marked, cfg, drift=cfg.method == "shots")
    stats = source.stats
    if stats is None:  # pragma: no cover - frames() always sets it when it returns
        raise ExtractionError(f"{path.name}: decoding stopped before the end")
    shots = _shots(selection, stats.frames_decoded, stats.last_pts_s, stats.min_interval_s)
    keyframes = _write(path, media, out_dir, selection, max(1, cfg.decode_threads), progress)
    if progress:
        progress(1.0)
    return KeyframeResult(
        shots=shots,
        cuts=tuple(selection.cuts),
        keyframes=keyframes,
        decode=stats,
        method=cfg.method,
        params=asdict(cfg),
    )


def _source(path: Path, cfg: KeyframesConfig) -> FrameSource:
    shots = cfg.method == "shots"
    return FrameSource(
        Path(path),
        width=max(16, cfg.analysis_width),
        fast=cfg.fast_path,
        dense_test=dense_planner(cfg) if shots and cfg.fast_path else None,
        keys_only=cfg.method == "iframes",
        workers=max(1, cfg.decode_threads),
        edge=max(3, cfg.flash_max_frames + 1),
        analyse=features,
    )


def _shots(
    sel: Selection, frames: int, last_pts: float | None, step: float | None
) -> tuple[Shot, ...]:
    """Shot k runs to the frame before shot k+1; times are PTS, `end_s` exclusive."""
    last_frame = max(sel.last_frame, frames - 1)
    end_of_clip = (last_pts if last_pts is not None else sel.last_pts_s) + (step or 0.0)
    out = []
    for k, span in enumerate(sel.spans):
        nxt = sel.spans[k + 1] if k + 1 < len(sel.spans) else None
        end_frame = nxt.start_frame - 1 if nxt else last_frame
        end_s = nxt.start_s if nxt else end_of_clip
        out.append(
            Shot(span.index, span.start_frame, end_frame, round(span.start_s, 6), round(end_s, 6))
        )
    return tuple(out)


def _write(
    path: Path,
    media: MediaInfo,
    out_dir: Path,
    sel: Selection,
    workers: int,
    progress: Callable[[float], None] | None,
) -> tuple[KeyframeImage, ...]:
    out_dir.mkdir(parents=True, exist_ok=True)
    first: dict[int, int] = {}  # frame -> first pick taking it (picks never share a frame)
    for n, pick in enumerate(sel.picks):
        first.setdefault(pick.frame, n)
    targets = {f: out_dir / f"kf_{n:04d}_f{f:06d}.png" for f, n in first.items()}
    written: list[KeyframeImage] = []
    for frame in write_frames(
        Path(path), targets, media.rotation_deg, workers=workers, compress_level=PNG_COMPRESS_LEVEL
    ):
        n = first[frame]
        pick = sel.picks[n]
        written.append(
            KeyframeImage(
                index=n,
                shot=pick.shot,
                frame=frame,
                time_s=round(pick.time_s, 6),
                path=str(targets[frame]),
                sharpness=round(pick.sharpness, 3),
            )
        )
        if progress:
            progress(DETECT_SHARE + (1 - DETECT_SHARE) * len(written) / len(first))
    written.sort(key=lambda k: k.index)
    written = [dataclasses.replace(k, index=i) for i, k in enumerate(written)]
    return tuple(written)

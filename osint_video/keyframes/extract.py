"""Step 6 entry point: decode small frames, find shots, pick keyframes, write upright PNGs."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

from ..config import KeyframesConfig
from ..errors import ConfigError, ExtractionError
from ..media.decode import FrameSource
from ..media.plan import DecodePlan, KeepPolicy, SampleTap, as_taps
from ..models import KeyframeImage, MediaInfo, Shot
from . import KeyframeResult
from .keep import SharpestKept
from .select import Selection, select_keyframes
from .shots import METHODS, ShotDetector, fast_path, features, keys_only
from .write import KeyframeWriter, OnImage, Written

DETECT_SHARE = 0.9  # share of the progress bar spent finding shots (PNGs are written meanwhile)
KEEP = SharpestKept()  # full pictures kept: those of likely keyframes (no second decode)
# Matching samples by this method's decode plan, whatever method the keyframe pass uses, so that
# the archive's fingerprints never depend on it (see `sampling_source`).
SAMPLING_METHOD = "shots"


def extract_keyframes(
    path: Path,
    media: MediaInfo,
    out_dir: Path,
    cfg: KeyframesConfig,
    progress: Callable[[float], None] | None = None,
    on_image: OnImage | None = None,
    tap: SampleTap | Sequence[SampleTap] | None = None,
) -> KeyframeResult:
    """Split a video into shots and write its keyframes as upright full-resolution PNGs.

    Args:
        path: the video (the evidence copy; it is only read).
        media: probe result; `rotation_deg` turns the PNGs upright.
        out_dir: where `kf_<n>_f<frame>.png` files are written (created if missing).
        cfg: the [keyframes] configuration (method, thresholds, caps).
        progress: called with a fraction 0..1 as work advances.
        on_image: called (in a worker thread) with each keyframe's upright RGB image, the very
            pixels of its PNG; results land in `KeyframeResult.extras` under the PNG path.
        tap: one `SampleTap` or several: frames other steps sample from this same decode
            (archive matching, on-screen text); not served by a method that decodes keyframes
            only (`iframes`).

    Returns:
        shots, cuts, keyframes (with each PNG's SHA-256), what decoding found, and the method
        and parameters used.

    Raises:
        ConfigError: unknown method name.
        ExtractionError: no video stream, unsupported codec, or no frame decodes.
    """
    if cfg.method not in METHODS:
        raise ConfigError(f"keyframes.method {cfg.method!r} is not one of {', '.join(METHODS)}")
    if not media.has_video_stream:
        raise ExtractionError(f"{path.name}: has no video stream to take keyframes from")
    detector = METHODS[cfg.method](cfg)
    source = FrameSource(Path(path), decode_plan(cfg, detector, as_taps(tap)))
    report = (lambda f: progress(f * DETECT_SHARE)) if progress else None
    out_dir.mkdir(parents=True, exist_ok=True)
    writer = KeyframeWriter(out_dir, media.rotation_deg, max(1, cfg.decode_threads), on_image)
    try:
        marked = detector.mark(source.frames(report))
        selection = select_keyframes(marked, cfg, drift=cfg.method == "shots", sink=writer.submit)
        stats = source.stats
        if stats is None:  # pragma: no cover - frames() always sets it when it returns
            raise ExtractionError(f"{path.name}: decoding stopped before the end")
        keyframes, written = _write(Path(path), writer, selection)
    except BaseException:
        writer.abort()
        raise
    shots = _shots(selection, stats.frames_decoded, stats.last_pts_s, stats.min_interval_s)
    if progress:
        progress(1.0)
    return KeyframeResult(
        shots=shots,
        cuts=tuple(selection.cuts),
        keyframes=keyframes,
        decode=stats,
        method=cfg.method,
        params=asdict(cfg),
        sha256={str(w.path): w.sha256 for w in written},
        extras={str(w.path): w.extra for w in written},
    )


def decode_plan(
    cfg: KeyframesConfig,
    detector: ShotDetector,
    taps: tuple[SampleTap, ...] = (),
    keep: KeepPolicy | None = KEEP,
) -> DecodePlan:
    """The keyframe pass's decode plan: what `detector` lets the decoder skip, the full
    pictures kept (by default those of likely keyframes), the taps served on the way."""
    keys = keys_only(detector)
    return DecodePlan(
        width=max(16, cfg.analysis_width),
        workers=max(1, cfg.decode_threads),
        edge=max(3, cfg.flash_max_frames + 1),
        keys_only=keys,
        fast=fast_path(detector) if cfg.fast_path else None,
        analyse=features,
        keep=keep,
        taps=() if keys else taps,
    )


def sampling_plan(cfg: KeyframesConfig, taps: tuple[SampleTap, ...] = ()) -> DecodePlan:
    """The plan matching samples by: the keyframe pass of `SAMPLING_METHOD` with the fast path
    (frame size, still test, settle rule, edges, windows filled in), keeping no full pictures
    since no keyframe is written."""
    cfg = dataclasses.replace(cfg, method=SAMPLING_METHOD, fast_path=True)
    return decode_plan(cfg, METHODS[SAMPLING_METHOD](cfg), taps, keep=None)


def taps_samples(cfg: KeyframesConfig) -> bool:
    """Whether the keyframe pass with this config gives taps the very samples `sampling_source`
    gives them: when its decode plan, but for the pictures it keeps, is the sampling plan."""
    if cfg.method not in METHODS:
        return False
    return decode_plan(cfg, METHODS[cfg.method](cfg), keep=None) == sampling_plan(cfg)


def sampling_source(
    path: Path, cfg: KeyframesConfig, tap: SampleTap | Sequence[SampleTap]
) -> FrameSource:
    """The keyframe pass's decode run for taps alone (archive matching on its own).

    The very plan of `extract_keyframes` with the default fast `shots` pass (`sampling_plan`),
    so each tap gets the same pictures as there (see `SampleTap`).
    """
    return FrameSource(Path(path), sampling_plan(cfg, as_taps(tap)))


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
    video: Path, writer: KeyframeWriter, sel: Selection
) -> tuple[tuple[KeyframeImage, ...], list[Written]]:
    """Final PNG names (`kf_<n>_f<frame>.png`, n = keyframe number) and the keyframe records."""
    first: dict[int, int] = {}  # frame -> first pick taking it (picks never share a frame)
    for n, pick in enumerate(sel.picks):
        first.setdefault(pick.frame, n)
    frames = sorted(first, key=lambda f: first[f])
    written = writer.finish(video, frames, [f"kf_{first[f]:04d}_f{f:06d}.png" for f in frames])
    keyframes = []
    for i, w in enumerate(written):
        pick = sel.picks[first[w.frame]]
        keyframes.append(
            KeyframeImage(
                index=i,
                shot=pick.shot,
                frame=w.frame,
                time_s=round(pick.time_s, 6),
                path=str(w.path),
                sharpness=round(pick.sharpness, 3),
            )
        )
    return tuple(keyframes), written

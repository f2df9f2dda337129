"""Fingerprint each audio track of a file: one decode, two consumers.

ffmpeg decodes a track to 11,025 Hz mono (`-ac 1` downmixes any layout: mono, stereo, 5.1;
any rate: 8 kHz, 96 kHz) and streams it through `fpcalc -raw` while `informative.Frames`
measures the same samples (`media.ffmpeg.pipe_through`). Nothing is held whole, so a
six-hour track costs time, not memory; `[sound] max_duration_s` cuts a longer one and
`[sound] timeout_s` bounds a track that will not end. A track that gives no fingerprint
(none decodes, under 3 s, a decoder error) is a fact about the file, not a failure: its
`SoundTrack.fingerprint` says why.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..config import SoundConfig
from ..media.ffmpeg import ffprobe_json, pipe_through
from ..models import SoundInfo, SoundTrack
from .chromaprint import ALGORITHM, ITEM_S, RATE, SPAN_S, fpcalc_argv, parse_raw
from .informative import Frames, informative, measure
from .tracks import audio_tracks, picture_timeline


@dataclass(frozen=True, eq=False)
class TrackPrint:
    """One track's fingerprint: sub-fingerprint k starts at `start_s + k * ITEM_S` on the
    clip's time line; `mask[k]` says whether it is used for matching (informative)."""

    track: int
    start_s: float
    values: np.ndarray = field(repr=False)
    mask: np.ndarray = field(repr=False)

    def __len__(self) -> int:
        return len(self.values)

    def times(self) -> np.ndarray:
        return self.start_s + np.arange(len(self.values)) * ITEM_S


@dataclass(frozen=True, eq=False)
class SoundRead:
    """What reading a file's sound found: its facts and the tracks' fingerprints."""

    info: SoundInfo
    prints: tuple[TrackPrint, ...] = ()


def read_sound(path: Path, cfg: SoundConfig, probe_timeout_s: float) -> SoundRead:
    """Every audio track's facts, and the fingerprint of the first `max_tracks` of them.

    Raises:
        ProbeError: ffprobe cannot parse the file at all.
        ToolMissing: ffmpeg, ffprobe or fpcalc is not installed.
    """
    info = ffprobe_json(path, timeout=probe_timeout_s)
    timeline = picture_timeline(info)
    tracks, prints = [], []
    for track in audio_tracks(info):
        if track.order >= cfg.max_tracks:
            tracks.append(dataclasses.replace(track, fingerprint="not_taken"))
            continue
        done, made = fingerprint_track(path, track, cfg)
        tracks.append(done)
        if made is not None:
            prints.append(made)
    sound = SoundInfo(
        tracks=tuple(tracks),
        algorithm=ALGORITHM,
        item_s=round(ITEM_S, 9),
        span_s=round(SPAN_S, 9),
        picture_start_s=timeline.start_s,
        picture_duration_s=timeline.duration_s,
    )
    return SoundRead(sound, tuple(prints))


def decode_argv(path: Path, order: int, max_s: float) -> list[str]:
    """ffmpeg decoding audio track `order` to raw 11,025 Hz mono s16le on its stdout."""
    return [
        "ffmpeg",
        "-nostdin",
        "-hide_banner",
        "-v",
        "error",
        "-i",
        f"file:{path}",
        "-map",
        f"0:a:{order}",
        "-vn",
        "-sn",
        "-dn",
        "-ac",
        "1",
        "-ar",
        str(RATE),
        "-t",
        f"{max_s:g}",
        "-f",
        "s16le",
        "pipe:1",
    ]


def fingerprint_track(
    path: Path, track: SoundTrack, cfg: SoundConfig
) -> tuple[SoundTrack, TrackPrint | None]:
    """Decode one track and fingerprint it (see the module docstring).

    Returns:
        The track with what decoding and fingerprinting found, and its fingerprint (None
        when it gave none; `fingerprint` and `error` on the track say why).
    """
    frames = Frames()
    piped = pipe_through(
        decode_argv(path, track.order, cfg.max_duration_s),
        fpcalc_argv(),
        frames.feed,
        timeout=cfg.timeout_s,
    )
    frames.finish()
    decoded = round(frames.seconds, 3)
    done = dataclasses.replace(track, decoded_s=decoded)
    if piped.timed_out:
        return _none(done, "undecodable", f"not decoded within {cfg.timeout_s:g} s"), None
    values = parse_raw(piped.output)
    if not frames.samples:
        return _none(done, "undecodable", piped.producer_error or "no sound decodes"), None
    if values is None:
        if decoded < SPAN_S + ITEM_S:
            return _none(done, "too_short", f"{decoded:g} s of sound"), None
        return _none(done, "undecodable", piped.consumer_error or "fpcalc gave nothing"), None
    mask = informative(measure(frames, len(values)), cfg)
    made = TrackPrint(track.order, float(track.start_s or 0.0), values, mask)
    done = dataclasses.replace(
        done,
        fingerprint="made",
        items=len(values),
        informative=int(mask.sum()),
        truncated=decoded >= cfg.max_duration_s - 0.05,
    )
    return done, made


def _none(track: SoundTrack, why: str, error: str) -> SoundTrack:
    return dataclasses.replace(track, fingerprint=why, error=error)

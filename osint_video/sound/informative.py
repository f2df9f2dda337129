"""Quiet is not evidence: which sub-fingerprints carry information.

Chromaprint's bits are differences between chroma bands over time. Over silence they are
constant; over steady sound (noise, wind, an engine, a hum) many bits lean one way. Measured
here on generated sound: two unrelated 30 s stretches of pink noise differ in only 26 % of
their bits, white noise 17 %, two engines 19 %, two tones 0 % (unrelated speech: 24-32 % at
the very best offset over 3 s windows; a re-encode of the same sound 3 %). So the matcher
would find "copies" in any two quiet clips. A sub-fingerprint is therefore used for matching
only when the 2.7 s of sound it comes from are

- loud enough: RMS level at least `[sound] min_level_db` (dB below full scale), and
- informative: its spectral shape changes (`flux`: mean change, in dB, of 12 band levels
  relative to their mean, over 93 ms, as in speech and music: measured 3.0-5.5 for speech
  over noise, 0.6-2.0 for steady noise, gusting wind, engines, tones), or its energy comes
  in bursts (`entropy` of the short-term energy over the window, 0-1: shots and blasts 0.55,
  gusting wind 0.77-0.90, steady sound 0.97-1.0, speech 0.76).

Features are computed per 23 ms frame while the sound streams through (`Frames.feed`), then
per sub-fingerprint window from running sums: linear in the length, ~50 MB for six hours.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import SoundConfig
from .chromaprint import HOP, RATE, SPAN

FRAME = 256  # samples per analysis frame (23 ms at 11,025 Hz)
_WINDOW = np.hanning(FRAME).astype(np.float32)
_EDGES = np.geomspace(100.0, 4500.0, 13)  # 12 bands; each holds at least one FFT bin
_FREQS = np.fft.rfftfreq(FRAME, 1 / RATE)
_BANDS = [
    np.flatnonzero((_FREQS >= a) & (_FREQS < b)) for a, b in zip(_EDGES, _EDGES[1:], strict=False)
]
SMOOTH = 4  # frames averaged before the shape is compared (93 ms)
TINY = 1e-10


class Frames:
    """Per-frame energy and band levels of a stream of s16le mono samples at `RATE`."""

    def __init__(self) -> None:
        self._carry = b""
        self._energy: list[np.ndarray] = []
        self._levels: list[np.ndarray] = []
        self.samples = 0

    def feed(self, data: bytes) -> None:
        """Take the next bytes of the stream (any length)."""
        data = self._carry + data
        usable = len(data) - len(data) % (2 * FRAME)
        self._carry = data[usable:]
        if not usable:
            return
        x = np.frombuffer(data[:usable], dtype="<i2").astype(np.float32) / 32768.0
        self.samples += len(x)
        frames = x.reshape(-1, FRAME)
        self._energy.append((frames * frames).mean(axis=1))
        power = np.abs(np.fft.rfft(frames * _WINDOW, axis=1)) ** 2
        bands = np.stack([power[:, b].sum(axis=1) for b in _BANDS], axis=1)
        self._levels.append((10 * np.log10(bands + TINY)).astype(np.float32))

    def finish(self) -> None:
        """The last partial frame counts for the duration (not for the features)."""
        self.samples += len(self._carry) // 2
        self._carry = b""

    @property
    def seconds(self) -> float:
        return self.samples / RATE

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(energy per frame, band levels per frame in dB)."""
        if not self._energy:
            return np.zeros(0, np.float64), np.zeros((0, len(_BANDS)), np.float32)
        return np.concatenate(self._energy).astype(np.float64), np.concatenate(self._levels)


@dataclass(frozen=True)
class Measures:
    """Per sub-fingerprint: RMS level (dBFS), spectral flux (dB), energy entropy (0-1)."""

    level_db: np.ndarray
    flux_db: np.ndarray
    entropy: np.ndarray


def measure(frames: Frames, items: int) -> Measures:
    """The three measures over each sub-fingerprint's window (sub-fingerprint k: samples
    k*HOP .. k*HOP+SPAN)."""
    energy, levels = frames.arrays()
    n = len(energy)
    k = np.arange(items)
    a = np.minimum((k * HOP) // FRAME, max(n - 1, 0)).astype(np.int64)
    b = np.minimum((k * HOP + SPAN) // FRAME, n).astype(np.int64)
    b = np.maximum(b, a + 1)
    if n == 0:
        empty = np.zeros(items)
        return Measures(empty - 200.0, empty, empty + 1.0)
    count = (b - a).astype(np.float64)
    e = energy + TINY
    s_e = _window_sums(e, a, b)
    level = 10 * np.log10(s_e / count)
    s_elog = _window_sums(e * np.log(e), a, b)
    entropy = (np.log(s_e) - s_elog / s_e) / np.log(np.maximum(count, 2.0))
    flux = _window_sums(_flux(levels), a, np.maximum(a + 1, b - SMOOTH)) / np.maximum(
        1.0, (b - SMOOTH - a)
    )
    return Measures(level, flux, np.clip(entropy, 0.0, 1.0))


def _window_sums(values: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    csum = np.concatenate([[0.0], np.cumsum(values, dtype=np.float64)])
    b = np.minimum(b, len(values))
    return csum[b] - csum[np.minimum(a, b)]


def _flux(levels: np.ndarray) -> np.ndarray:
    """Per frame: mean absolute change of the band levels' shape (levels minus their mean)
    between the frame and the one 93 ms later, both smoothed over 93 ms."""
    if len(levels) <= SMOOTH:
        return np.zeros(len(levels))
    kernel = np.ones(SMOOTH) / SMOOTH
    smooth = np.stack(
        [np.convolve(levels[:, i], kernel, mode="same") for i in range(levels.shape[1])], axis=1
    )
    shape = smooth - smooth.mean(axis=1, keepdims=True)
    change = np.abs(shape[SMOOTH:] - shape[:-SMOOTH]).mean(axis=1)
    return np.concatenate([change, np.zeros(SMOOTH)])


def informative(m: Measures, cfg: SoundConfig) -> np.ndarray:
    """Which sub-fingerprints are matched (bool per sub-fingerprint): the rule above."""
    loud = m.level_db >= cfg.min_level_db
    changing = (m.flux_db >= cfg.min_flux_db) | (m.entropy <= cfg.max_energy_entropy)
    return np.asarray(loud & changing, dtype=bool)

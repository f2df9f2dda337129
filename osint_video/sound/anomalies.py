"""What a verifier should look at in a clip's sound: a pure function of `SoundInfo`.

Tracks that do not decode or carry nothing to match, a sound track that starts after the
picture or stops before it, several tracks (a dub, a second language, a commentary), sound laid
over a still picture or a screen recording. An anomaly is not a verdict: a platform re-upload
often drops the sound, a phone's screen recording records the speaker, but the desk must know.
"""

from __future__ import annotations

import re

from ..config import SoundConfig
from ..models import Anomaly, Metadata, SoundInfo, SoundTrack

# What screen recorders write into a file (software, encoder, handler, title, raw tags).
SCREEN = re.compile(
    r"(screen ?record|screen ?capture|screencast|replaykit|com\.apple\.screen|"
    r"obs studio|obs-output|\bobs\b \d|bandicam|camtasia|scrcpy|xbox game bar|"
    r"loom|az screen|xrecorder|mobizen|du recorder|gnome-shell-screencast|simplescreenrecorder)",
    re.I,
)


def screen_recording_clue(meta: Metadata | None) -> str | None:
    """The tag value that says a file is a screen recording, or None."""
    if meta is None:
        return None
    texts = [meta.software, meta.encoder, *meta.handler_names]
    texts += _raw_texts(meta.raw)
    return next((t for t in texts if t and SCREEN.search(t)), None)


def _raw_texts(raw: dict[str, object], depth: int = 0) -> list[str]:
    out: list[str] = []
    for value in raw.values():
        if isinstance(value, str) and len(value) < 200:
            out.append(value)
        elif isinstance(value, dict) and depth < 2:
            out.extend(_raw_texts(value, depth + 1))  # type: ignore[arg-type]
    return out


def sound_anomalies(sound: SoundInfo, cfg: SoundConfig) -> list[Anomaly]:
    """Every anomaly of the sound, in a fixed order of checks (empty: nothing stands out)."""
    if not sound.tracks:
        return [
            Anomaly(
                "no_sound",
                "The file has no audio track: the sound was never recorded or was removed "
                "(platforms keep it; editors and some re-uploads drop it).",
                "info",
            )
        ]
    out: list[Anomaly] = []
    for check in (_undecodable, _unmatchable, _timing, _several, _over_still, _screen):
        out.extend(check(sound, cfg))
    return out


def _name(t: SoundTrack) -> str:
    codec = t.codec or "unknown codec"
    return f"audio track {t.order + 1} ({codec})"


def _undecodable(sound: SoundInfo, cfg: SoundConfig) -> list[Anomaly]:
    return [
        Anomaly(
            "sound_undecodable",
            f"The {_name(t)} cannot be decoded ({t.error}): a player plays it as silence or "
            "not at all, and it was not fingerprinted.",
            "warning",
        )
        for t in sound.tracks
        if t.fingerprint == "undecodable"
    ]


def _unmatchable(sound: SoundInfo, cfg: SoundConfig) -> list[Anomaly]:
    out = []
    for t in sound.tracks:
        if t.fingerprint == "too_short":
            out.append(
                Anomaly(
                    "sound_too_short",
                    f"The {_name(t)} holds {t.decoded_s or 0:g} s of sound: too short to "
                    "fingerprint (3 s at least), so it is not matched.",
                    "info",
                )
            )
        elif t.fingerprint == "made" and not t.informative:
            out.append(
                Anomaly(
                    "sound_quiet",
                    f"The {_name(t)} is silence or steady noise throughout ({t.items} "
                    "sub-fingerprints, none informative): nothing to match it by.",
                    "info",
                )
            )
        if t.truncated:
            out.append(
                Anomaly(
                    "sound_truncated",
                    f"The {_name(t)} is longer than [sound] max_duration_s "
                    f"({cfg.max_duration_s:g} s): only that much was fingerprinted.",
                    "info",
                )
            )
    return out


def _timing(sound: SoundInfo, cfg: SoundConfig) -> list[Anomaly]:
    """Late start, early end, and a duration unlike the picture's, for the main track."""
    start, length = sound.picture_start_s, sound.picture_duration_s
    if start is None or length is None or length <= 0:
        return []
    out = []
    for t in sound.tracks:
        t_start = t.start_s if t.start_s is not None else start
        t_length = t.duration_s if t.duration_s is not None else t.decoded_s
        if t_length is None or t.fingerprint == "undecodable":
            continue
        late = t_start - start
        early = (start + length) - (t_start + t_length)
        if late >= cfg.late_start_s:
            out.append(
                Anomaly(
                    "sound_starts_late",
                    f"The {_name(t)} starts {late:.2f} s after the picture: the first "
                    f"{late:.2f} s are silent (sound cut or laid in afterwards).",
                    "warning",
                )
            )
        if early >= cfg.early_end_s:
            out.append(
                Anomaly(
                    "sound_ends_early",
                    f"The {_name(t)} ends {early:.2f} s before the picture "
                    f"({t_length:.2f} s of sound, {length:.2f} s of picture): sound laid in "
                    "from elsewhere, or cut.",
                    "warning",
                )
            )
        elif -early >= max(cfg.early_end_s, 0.05 * length):
            out.append(
                Anomaly(
                    "sound_outlasts_picture",
                    f"The {_name(t)} lasts {t_length:.2f} s, the picture {length:.2f} s: "
                    "sound and picture were not recorded together, or one was cut.",
                    "warning",
                )
            )
    return out


def _several(sound: SoundInfo, cfg: SoundConfig) -> list[Anomaly]:
    if len(sound.tracks) < 2:
        return []
    names = "; ".join(
        f"{t.order + 1}: {t.codec or '?'} {t.channels or '?'} ch"
        + (f" {t.language}" if t.language and t.language != "und" else "")
        + (f" '{t.title}'" if t.title else "")
        for t in sound.tracks
    )
    return [
        Anomaly(
            "several_sound_tracks",
            f"The file has {len(sound.tracks)} audio tracks ({names}): a player plays one; "
            "another may be a dub, a commentary or the original sound.",
            "info",
        )
    ]


def _over_still(sound: SoundInfo, cfg: SoundConfig) -> list[Anomaly]:
    heard = [t for t in sound.tracks if t.informative]
    if not sound.picture_still or not heard:
        return []
    return [
        Anomaly(
            "sound_over_still",
            "The picture is one still image for the whole clip, with sound: the sound was "
            "laid over a photograph, not recorded with moving footage.",
            "warning",
        )
    ]


def _screen(sound: SoundInfo, cfg: SoundConfig) -> list[Anomaly]:
    if not sound.screen_recording or not any(t.informative for t in sound.tracks):
        return []
    return [
        Anomaly(
            "sound_on_screen_recording",
            f"A screen recording ('{sound.screen_recording}') with sound: the sound is what "
            "the device played or its microphone heard while recording the screen, not "
            "necessarily the sound of the footage shown.",
            "info",
        )
    ]

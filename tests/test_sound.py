"""The sound step's work on real sound: Chromaprint through the real fpcalc fed by real ffmpeg,
quiet left out by a measured rule, sound metadata and anomalies, and every bad input giving a
fingerprint or an anomaly, never a failure (issue 17, "Quiet is not evidence", "Bad input")."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest
import sound_media as sm
from conftest import missing

from osint_video.config import SoundConfig
from osint_video.matching.sound_index import build
from osint_video.matching.sound_match import search_sound
from osint_video.models import Metadata, SoundInfo, SoundTrack
from osint_video.sound.anomalies import screen_recording_clue, sound_anomalies
from osint_video.sound.chromaprint import ITEM_S
from osint_video.sound.fingerprint import read_sound

CFG = SoundConfig()


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True, timeout=120)


@pytest.fixture(scope="module")
def tools() -> None:
    for tool, package in (("fpcalc", "libchromaprint-tools"), ("espeak-ng", "espeak-ng")):
        if shutil.which(tool) is None:
            missing(f"the {tool} binary (Debian package {package})")


@pytest.fixture(scope="module")
def sounds(tools: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Low-information sound of every kind the rule must leave out, two of each (unrelated),
    and speech over noise with bursts."""
    d = tmp_path_factory.mktemp("sounds")
    out: dict[str, Path] = {}
    lavfi = {
        "silence": "anullsrc=r=44100:cl=stereo",
        "pink": "anoisesrc=c=pink:r=44100:a=0.2:seed={s}",
        "white": "anoisesrc=c=white:r=44100:a=0.1:seed={s}",
        "tone": "sine=f={f}:r=44100",
        "engine": "aevalsrc='0.3*sin(2*PI*{f}*t)+0.2*sin(2*PI*2*{f}*t)"
        "+0.1*sin(2*PI*3*{f}*t)':s=44100",
    }
    for name, src in lavfi.items():
        for k in (1, 2):
            path = d / f"{name}{k}.wav"
            ffmpeg("-f", "lavfi", "-t", "10", "-i", src.format(s=k, f=29 + 2 * k), str(path))
            out[f"{name}{k}"] = path
    for k in (1, 2):  # gusting wind: brown noise, low-passed, its level swinging ~20 dB
        path = d / f"wind{k}.wav"
        vol = f"volume='0.35+0.3*sin(2*PI*0.{2 + k}*t)+0.15*sin(2*PI*0.8*t+{k})':eval=frame"
        ffmpeg("-f", "lavfi", "-t", "10", "-i", f"anoisesrc=c=brown:r=44100:a=0.6:seed={k + 20}",
               "-af", f"{vol},lowpass=f=600", str(path))  # fmt: skip
        out[f"wind{k}"] = path
    voices = sm.talk(d, [("ru", 0), ("uk", 3), ("ru", 1)], 1.0, 5.0)
    out["speech"] = sm.soundtrack(d / "speech.wav", voices, 16.0, bursts=[7.0, 7.5])
    return out


def test_quiet_and_steady_sound_is_left_out_and_never_matches(sounds: dict[str, Path]) -> None:
    quiet = [n for n in sounds if n != "speech"]
    prints = {n: read_sound(sounds[n], CFG, 30).prints for n in quiet}
    for name, (p,) in prints.items():
        assert len(p) >= 55 and not p.mask.any(), name  # fingerprinted, none of it matched
    # without the rule these would "match": their bits lean the same way (see informative.py)
    loose = dataclasses.replace(CFG, min_level_db=-200.0, min_flux_db=0.0)
    index = build(Path("unused"), [(i, p) for i, n in enumerate(quiet) for p in prints[n]])
    assert len(index) == 0
    names = ["silence1", "silence2", "white1", "white2"]
    raw = {n: read_sound(sounds[n], loose, 30).prints for n in names}
    unruled = build(Path("unused"), [(i, p) for i, n in enumerate(names) for p in raw[n]])
    for a, b in (("silence2", "silence1"), ("white2", "white1")):  # bit errors 0.00 and 0.15
        false = search_sound(unruled, raw[a], loose, exclude=names.index(a))
        assert [names[v.other_clip_id] for v in false] == [b], "the rule must be needed"


def test_speech_and_bursts_are_kept(sounds: dict[str, Path]) -> None:
    read = read_sound(sounds["speech"], CFG, 30)
    [p] = read.prints
    times = p.times()
    speaking = (times >= 1.5) & (times <= 5.5)
    assert p.mask[speaking].mean() > 0.9
    [track] = read.info.tracks
    assert track.fingerprint == "made" and track.items == len(p) and track.channels == 2
    assert track.informative == int(p.mask.sum()) > 0.6 * len(p)
    assert abs(track.decoded_s - 16.0) < 0.05 and track.sample_rate == 44100


def test_rates_layouts_and_codecs_give_the_same_fingerprint(
    sounds: dict[str, Path], tmp_path: Path
) -> None:
    """8 kHz and 96 kHz, mono and 5.1, AAC 64k and Opus: each fingerprints, and matches the
    original (bit error < 0.2), with its facts."""
    src = sounds["speech"]
    [base] = read_sound(src, CFG, 30).prints
    index = build(Path("unused"), [(1, base)])
    variants = {
        "rate8k.wav": ["-ar", "8000", "-ac", "1"],
        "rate96k.flac": ["-ar", "96000"],
        "surround51.mka": ["-af", "pan=5.1|FL=c0|FR=c1|FC=c0|LFE=c1|BL=c0|BR=c1", "-c:a", "ac3"],
        "aac64.m4a": ["-c:a", "aac", "-b:a", "64k"],
        "opus.ogg": ["-c:a", "libopus", "-b:a", "32k"],
    }
    for name, args in variants.items():
        ffmpeg("-i", str(src), *args, str(tmp_path / name))
        read = read_sound(tmp_path / name, CFG, 30)
        [track] = read.info.tracks
        assert track.fingerprint == "made", name
        [vote] = search_sound(index, read.prints, CFG, exclude=None)
        assert vote.bit_error < 0.2 and vote.score > 0.8, (name, vote)
    facts = read_sound(tmp_path / "surround51.mka", CFG, 30).info.tracks[0]
    assert facts.channels == 6 and facts.codec == "ac3" and facts.channel_layout.startswith("5.1")
    assert read_sound(tmp_path / "rate8k.wav", CFG, 30).info.tracks[0].sample_rate == 8000


def test_bad_sound_gives_an_anomaly_never_a_failure(
    sounds: dict[str, Path], shared_media: Path, tmp_path: Path
) -> None:
    video = ["-f", "lavfi", "-t", "4", "-i", sm.picture(3)]
    x264 = ["-c:v", "libx264", "-preset", "ultrafast"]
    ffmpeg(*video, *x264, str(tmp_path / "silent_film.mp4"))
    with wave.open(str(tmp_path / "zero.wav"), "wb") as w:  # a track with no sample at all
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(44100)
    ffmpeg(*video, "-i", str(tmp_path / "zero.wav"), *x264, "-c:a", "copy",
           str(tmp_path / "zero.mkv"))  # fmt: skip
    cases = {
        "no track": (tmp_path / "silent_film.mp4", "no_sound"),
        "header only": (shared_media / "QuickTime.mov", "sound_undecodable"),
        "0.5 s": (shared_media / "Sony_ILCE-7M3_A7M3.mts", "sound_too_short"),
        "quiet room": (shared_media / "cup.mp4", "sound_quiet"),
    }
    for label, (path, code) in cases.items():
        info = read_sound(path, CFG, 30).info
        codes = [a.code for a in sound_anomalies(info, CFG)]
        assert code in codes, (label, codes)
    zero = read_sound(tmp_path / "zero.mkv", CFG, 30).info
    assert not zero.fingerprinted and sound_anomalies(zero, CFG), zero


def test_six_hours_of_sound_stream_through_and_a_cap_cuts_them(tmp_path: Path) -> None:
    """A 6 h track (silent FLAC, 4 MB) is decoded in bounded memory; `max_duration_s` cuts it
    (here at 5 min, so the test stays short) with an anomaly saying so."""
    path = tmp_path / "six_hours.mka"
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono", "-t", "21600", "-c:a", "flac",
           str(path))  # fmt: skip
    cfg = dataclasses.replace(CFG, max_duration_s=300.0)
    read = read_sound(path, cfg, 30)
    [track] = read.info.tracks
    assert track.truncated and abs(track.decoded_s - 300.0) < 0.1
    assert track.duration_s is not None and track.duration_s > 21000
    codes = [a.code for a in sound_anomalies(read.info, cfg)]
    assert "sound_truncated" in codes and "sound_quiet" in codes
    assert len(read.prints[0]) == pytest.approx((300.0 - 2.72) / ITEM_S, abs=3)


def test_timing_tracks_still_and_screen_recording_anomalies() -> None:
    speech = SoundTrack(0, 1, "aac", 2, start_s=0.0, duration_s=60.0, items=460, informative=400)
    base = SoundInfo((speech,), picture_start_s=0.0, picture_duration_s=60.0, picture_still=False)
    assert sound_anomalies(base, CFG) == []
    late = dataclasses.replace(speech, start_s=2.0, duration_s=58.0)
    early = dataclasses.replace(speech, duration_s=50.0)
    dub = dataclasses.replace(speech, order=1, index=2, language="rus", title="dub")
    checks = {
        "sound_starts_late": dataclasses.replace(base, tracks=(late,)),
        "sound_ends_early": dataclasses.replace(base, tracks=(early,)),
        "sound_outlasts_picture": dataclasses.replace(base, picture_duration_s=40.0),
        "several_sound_tracks": dataclasses.replace(base, tracks=(speech, dub)),
        "sound_over_still": dataclasses.replace(base, picture_still=True),
        "sound_on_screen_recording": dataclasses.replace(base, screen_recording="ReplayKit"),
    }
    for code, info in checks.items():
        found = sound_anomalies(info, CFG)
        assert [a.code for a in found] == [code], (code, found)
    [late_one] = sound_anomalies(checks["sound_starts_late"], CFG)
    assert "2.00 s after the picture" in late_one.message
    meta = Metadata(software="Screen Recorder 2.1 (com.apple.screenrecording)")
    assert screen_recording_clue(meta) == meta.software
    assert screen_recording_clue(Metadata(software="Lavf59.27.100")) is None


def test_shared_media_with_sound(shared_media: Path, tools: None) -> None:
    """The real clips' tracks as ffprobe and the truth file say; Big Buck Bunny's music and
    effects fingerprint, the quiet room of cup.mp4 does not."""
    bunny = read_sound(shared_media / "big_buck_bunny_0_30.webm", CFG, 30)
    [t] = bunny.info.tracks
    assert (t.codec, t.channels, t.sample_rate) == ("vorbis", 2, 44100)
    assert t.fingerprint == "made" and 0 < t.informative < t.items
    assert abs(t.decoded_s - 30.0) < 0.1 and bunny.info.picture_start_s == pytest.approx(0.003)
    fire = read_sound(shared_media / "fire2.mp4", CFG, 30).info
    assert fire.tracks[0].fingerprint == "too_short" and fire.tracks[0].channels == 1
    gps = read_sound(shared_media / "with-gps.mov", CFG, 30).info  # two data tracks: not sound
    assert len(gps.tracks) == 1 and gps.tracks[0].codec == "aac"
    assert read_sound(shared_media / "counter.mp4", CFG, 30).info.tracks == ()
    # a track starting after the picture, as a camera's does: Sony's starts 0.08 s before it
    sony = read_sound(shared_media / "Sony_ILCE-7M3_A7M3.mts", CFG, 30).info
    assert sony.tracks[0].start_s == pytest.approx(1.04) and sony.picture_start_s == 1.12
    assert np.isclose(sony.picture_duration_s or 0, 0.42)


def test_a_photograph_with_sound_laid_over_it_is_said(
    sounds: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Triage of a still image looped into a video under speech: the keyframe decode's
    thumbnails never change, so `sound_over_still`; the same speech under moving footage
    does not say it. Both clips carry their sound facts in the store."""
    from osint_video.config import load_config
    from osint_video.pipeline import TriageRequest, triage
    from osint_video.workspace import Workspace

    photo = tmp_path / "photo.png"
    ffmpeg("-f", "lavfi", "-i", sm.picture(5), "-frames:v", "1", str(photo))
    still = tmp_path / "still.mp4"
    ffmpeg("-loop", "1", "-framerate", "10", "-i", str(photo), "-i", str(sounds["speech"]),
           "-t", "10", *sm.X264, "-c:a", "aac", str(still))  # fmt: skip
    moving = sm.clip(tmp_path / "moving.mp4", sounds["speech"], 10.0, seed=5)
    monkeypatch.setenv("OSINT_VIDEO__OCR__ENABLED", "false")
    ws = Workspace.open(load_config(home=tmp_path / "ws", environ={}))
    try:
        found = {}
        for path in (still, moving):
            out = triage(ws, TriageRequest(path))
            clip = ws.cases.record(out.clip_id or 0)
            found[path.stem] = (clip.sound, {a.code for a in clip.anomalies})
    finally:
        ws.close()
    sound, codes = found["still"]
    assert sound is not None and sound.picture_still is True and "sound_over_still" in codes
    sound, codes = found["moving"]
    assert sound is not None and sound.picture_still is False and "sound_over_still" not in codes
    assert sound.tracks[0].fingerprint == "made" and sound.tracks[0].informative > 0

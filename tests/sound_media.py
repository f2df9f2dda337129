"""Generated footage with real speech, for the sound tests and the bench.

Speech is espeak-ng's (Russian and Ukrainian voices), laid over a pink-noise bed with short
bursts (shots: 0.25 s of white noise fading out), under a picture of Conway's game of life
(lavfi `life`, a seed per clip: textured, moving, and unrelated between seeds). Transforms as
a desk meets them: a 9:16 centre crop, picture-in-picture at 40 % inside other footage, a
voice-over at -6 dB on top, AAC 64 kb/s and Opus re-encodes, an excerpt, a compilation, the
sound replaced. Everything is small (320x180, 10 fps) so a test generates its clips in
seconds.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from synth import run_tool

RU = [
    "Внимание, колонна на дороге. Повторяю, колонна техники движется к мосту со стороны Суджи.",
    "Всем укрыться в подвалах и не выходить до отбоя тревоги, это не учения.",
    "Сейчас слышны выстрелы в районе элеватора, над полем работает вертолёт.",
    "У переправы горит грузовик, дым поднимается над заводом, пожарные не могут подъехать.",
    "Мы находимся на окраине посёлка, слева от нас позиции, справа лесополоса.",
    "Только что здесь прошла колонна бронетехники, мы насчитали не менее десяти машин.",
    "Жители собираются у школы, автобусы для эвакуации обещали прислать к вечеру.",
    "Связь пропадает каждые несколько минут, электричества нет со вчерашнего дня.",
    "На въезде в город поставили новый блокпост, документы проверяют у всех.",
    "Ночью был сильный обстрел, пострадали два жилых дома на улице Ленина.",
    "Военные просят не снимать технику и не публиковать видео в социальных сетях.",
    "Мост через реку разрушен, переправляться приходится на лодках у старой мельницы.",
    "В больнице не хватает лекарств, врачи работают третьи сутки без отдыха.",
]
UK = [
    "Увага, повітряна тривога. Усім негайно пройти до укриття.",
    "Над містом збито дві ракети, уламки впали на околиці.",
    "Рятувальники працюють на місці, інформація про постраждалих уточнюється.",
    "Не публікуйте фото та відео з місць влучань, це допомагає ворогу.",
    "Зранку на трасі утворився затор, транспорт пропускають по одній смузі.",
    "Волонтери привезли воду, хліб і генератори до пункту незламності.",
    "Черговий обстріл почався о п'ятій ранку, світла немає у трьох районах.",
    "Мешканців просять зарядити телефони та мати запас питної води.",
    "Біля вокзалу сталася пожежа, на місці працюють шість пожежних розрахунків.",
    "Школи сьогодні працюють дистанційно, дитячі садки зачинені.",
    "Поліція перекрила центральну вулицю, рух транспорту обмежено до вечора.",
    "Евакуаційний потяг вирушить о шостій вечора з першої платформи.",
    "Енергетики відновили живлення лікарні, ремонт мереж триває.",
]


def have_espeak() -> bool:
    return shutil.which("espeak-ng") is not None


def speech(folder: Path, lang: str, k: int, speed: int = 150, pitch: int = 50) -> Path:
    """Utterance `k` of a language, as a WAV: sentence k of its list, and past the end of the
    list the same sentences faster and higher (another cycle, another sound). Different k,
    different sound: no two utterances share a sentence at one speed and pitch."""
    texts = RU if lang == "ru" else UK
    cycle, i = divmod(k, len(texts))
    speed, pitch = speed + 12 * cycle, min(99, pitch + 9 * cycle)
    out = folder / f"say-{lang}-{i}-{speed}-{pitch}.wav"
    if not out.exists():
        voice = ["-v", lang, "-s", str(speed), "-p", str(pitch)]
        run_tool(["espeak-ng", *voice, "-w", str(out), texts[i]])
    return out


def talk(folder: Path, ks: Sequence[tuple[str, int]], start: float, every: float) -> list:
    """Utterances (language, k) one after another from `start`, one every `every` seconds."""
    return [(speech(folder, lang, k), start + n * every) for n, (lang, k) in enumerate(ks)]


def soundtrack(
    path: Path,
    voices: Sequence[tuple[Path, float]],
    duration: float,
    *,
    seed: int = 1,
    bursts: Sequence[float] = (),
    bed: float = 0.03,
) -> Path:
    """A stereo 44.1 kHz WAV: a pink-noise bed, each voice from its start (s), bursts."""
    inputs = ["-f", "lavfi", "-i", f"anoisesrc=d={duration}:c=pink:r=22050:a={bed}:seed={seed}"]
    chains, labels = [], ["[0]"]
    for i, (wav, at) in enumerate(voices):
        inputs += ["-i", str(wav)]
        chains.append(f"[{i + 1}]aresample=22050,adelay={int(at * 1000)}[v{i}]")
        labels.append(f"[v{i}]")
    if bursts:
        n = len(voices) + 1
        inputs += ["-f", "lavfi", "-i", f"anoisesrc=d=0.25:c=white:r=22050:a=0.8:seed={seed + 7}"]
        split = "".join(f"[b{j}]" for j in range(len(bursts)))
        chains.append(f"[{n}]afade=t=out:st=0.02:d=0.2,asplit={len(bursts)}{split}")
        for j, at in enumerate(bursts):
            chains.append(f"[b{j}]adelay={int(at * 1000)}[d{j}]")
            labels.append(f"[d{j}]")
    graph = ";".join(
        [*chains, f"{''.join(labels)}amix=inputs={len(labels)}:normalize=0:duration=first[out]"]
    )
    run_tool(["ffmpeg", "-y", "-v", "error", *inputs, "-filter_complex", graph, "-map", "[out]",
          "-ar", "44100", "-ac", "2", "-t", str(duration), str(path)])  # fmt: skip
    return path


BRIGHT = ["#ffffff", "#ffd700", "#00ffff", "#ff69b4", "#7fff00", "#ff8c00", "#87cefa", "#ee82ee"]


def picture(seed: int, size: tuple[int, int] = (320, 180), fps: int = 10) -> str:
    """A lavfi source: the game of life from `seed` (its own colours per seed)."""
    w, h = size
    life = f"life=s={w // 2}x{h // 2}:seed={seed}:ratio=0.2:mold=20:r={fps}"
    colour = f"life_color={BRIGHT[seed % len(BRIGHT)]}"  # on black: always textured
    return f"{life}:{colour},scale={w}:{h}:flags=neighbor,format=yuv420p"


X264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "20"]


def clip(
    path: Path,
    audio: Path | None,
    duration: float,
    seed: int,
    *,
    size: tuple[int, int] = (320, 180),
    audio_args: Sequence[str] = ("-c:a", "aac", "-b:a", "128k"),
) -> Path:
    """Footage of `duration` s: the picture from `seed`, with `audio` (None: no sound)."""
    argv = ["ffmpeg", "-y", "-v", "error", "-f", "lavfi", "-t", str(duration), "-i",
            picture(seed, size)]  # fmt: skip
    if audio is not None:
        argv += ["-i", str(audio), "-map", "0:v", "-map", "1:a", *audio_args, "-shortest"]
    run_tool([*argv, *X264, "-t", str(duration), str(path)])
    return path


def crop_9_16(src: Path, dst: Path) -> Path:
    """The vertical repost: the centre 9:16 of a 16:9 picture, sound kept (re-encoded)."""
    vf = "crop=trunc(ih*9/16/2)*2:ih,scale=180:320"
    run_tool(["ffmpeg", "-y", "-v", "error", "-i", str(src), "-vf", vf, *X264, "-c:a", "aac",
          "-b:a", "128k", str(dst)])  # fmt: skip
    return dst


def pip_40(src: Path, dst: Path, seed: int) -> Path:
    """Picture-in-picture: the clip at 40 % of the frame inside other footage (a broadcast),
    its sound kept."""
    graph = f"{picture(seed)}[bg];[0:v]scale=128:72[in];[bg][in]overlay=x=170:y=20:shortest=1[v]"
    run_tool(["ffmpeg", "-y", "-v", "error", "-i", str(src), "-filter_complex", graph,
              "-map", "[v]", "-map", "0:a", *X264, "-c:a", "aac", "-b:a", "128k", "-shortest",
              str(dst)])  # fmt: skip
    return dst


def voice_over(src: Path, dst: Path, voice: Path, at: float = 1.0) -> Path:
    """A commentator on top of the original sound, 6 dB below full level."""
    graph = (
        f"[1:a]aresample=44100,pan=stereo|c0=c0|c1=c0,adelay={int(at * 1000)}|"
        f"{int(at * 1000)},volume=-6dB[vo];[0:a][vo]amix=inputs=2:normalize=0:duration=first[a]"
    )
    run_tool(["ffmpeg", "-y", "-v", "error", "-i", str(src), "-i", str(voice), "-filter_complex",
          graph, "-map", "0:v", "-map", "[a]", "-c:v", "copy", "-c:a", "aac", "-b:a", "128k",
          str(dst)])  # fmt: skip
    return dst


def reencode(src: Path, dst: Path, codec: str) -> Path:
    """The sound re-encoded (AAC 64 kb/s, or Opus 32 kb/s in Matroska), picture kept."""
    audio = ["-c:a", "aac", "-b:a", "64k"] if codec == "aac" else ["-c:a", "libopus", "-b:a", "32k"]
    run_tool(["ffmpeg", "-y", "-v", "error", "-i", str(src), "-c:v", "copy", *audio, str(dst)])
    return dst


def excerpt(src: Path, dst: Path, start: float, length: float) -> Path:
    """`length` s from `start` (re-encoded, so the cut falls between sub-fingerprints)."""
    run_tool(["ffmpeg", "-y", "-v", "error", "-ss", str(start), "-i", str(src), "-t", str(length),
          *X264, "-c:a", "aac", "-b:a", "128k", str(dst)])  # fmt: skip
    return dst


def compilation(parts: Sequence[Path], dst: Path) -> Path:
    """The parts one after the other (same size, with sound)."""
    inputs = [a for p in parts for a in ("-i", str(p))]
    labels = "".join(f"[{i}:v][{i}:a]" for i in range(len(parts)))
    graph = f"{labels}concat=n={len(parts)}:v=1:a=1[v][a]"
    run_tool(["ffmpeg", "-y", "-v", "error", *inputs, "-filter_complex", graph, "-map", "[v]",
          "-map", "[a]", *X264, "-c:a", "aac", "-b:a", "128k", str(dst)])  # fmt: skip
    return dst


def replace_sound(src: Path, dst: Path, audio: Path) -> Path:
    """The same picture with other sound (gunfire over quiet footage, old audio on new)."""
    run_tool(["ffmpeg", "-y", "-v", "error", "-i", str(src), "-i", str(audio), "-map", "0:v",
          "-map", "1:a", "-c:v", "copy", "-c:a", "aac", "-b:a", "128k", "-shortest",
          str(dst)])  # fmt: skip
    return dst

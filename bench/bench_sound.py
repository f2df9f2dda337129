"""Bench for "Seen before" by sound (issue 17): per transform, recall and false matches of the
picture alone, the sound alone and both together (the desk's decision), a false-match row over
the unrelated pairs, the picture/sound disagreement signals, and what fingerprinting costs
against a whole triage. Run by `bench/bench_match.py` (its sound rows) or on its own:
`.venv/bin/python bench/bench_sound.py [--quick]`.

Footage is generated (tests/sound_media.py): 60 s originals with espeak-ng speech (Russian and
Ukrainian) over a noise bed with bursts under a game-of-life picture, plus Big Buck Bunny's
30 s of music and effects from ../shared/media. The archive also holds distractors: other
speech by the same voices (hard negatives: one synthesiser) and quiet clips (noise beds,
gusting wind, an engine, silence). Transforms as a desk meets them: 9:16 centre crop,
picture-in-picture at 40 %, voice-over at -6 dB, AAC 64 kb/s, Opus 32 kb/s, a 10 s excerpt,
the 60 s clip inside a 10 min compilation, the sound replaced.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

import sound_media as sm  # noqa: E402

from osint_video.config import MatchingConfig, ProbeConfig, SoundConfig, load_config  # noqa: E402
from osint_video.matching.index import fingerprint_entries  # noqa: E402
from osint_video.matching.match import fingerprint_video  # noqa: E402
from osint_video.matching.reframe import reframed  # noqa: E402
from osint_video.matching.senses import Other, disagreements, merge  # noqa: E402
from osint_video.matching.sound_index import build  # noqa: E402
from osint_video.matching.sound_match import search_sound  # noqa: E402
from osint_video.media.probe import probe_file  # noqa: E402
from osint_video.media.seek import grey_at  # noqa: E402
from osint_video.sound.fingerprint import read_sound  # noqa: E402

MEDIA = REPO.parent / "shared" / "media"
OUT = REPO / "bench" / "out" / "sound"
LENGTH = 60.0
TRANSFORMS = (
    "crop_9_16",
    "pip_40",
    "voice_over",
    "aac_64k",
    "opus",
    "excerpt_10s",
    "in_compilation_10min",
    "sound_replaced",
)


@dataclass
class Clip:
    path: Path
    fps: list
    prints: list


def _clip(path: Path, mcfg: MatchingConfig, scfg: SoundConfig) -> Clip:
    media = probe_file(path, "video", ProbeConfig()).media
    return Clip(path, fingerprint_video(path, media, mcfg), list(read_sound(path, scfg, 60).prints))


def _source(k: int) -> Path:
    path = OUT / f"source{k}.mp4"
    if not path.exists():
        said = [(lang, 3 * k + n) for n in range(3) for lang in ("ru", "uk")]  # utterances 0-23
        wav = sm.soundtrack(
            OUT / f"source{k}.wav",
            sm.talk(OUT, said, 2.0, 10.0),
            LENGTH,
            seed=k + 1,
            bursts=[7.5 + k, 8.1 + k, 37.0],
        )
        sm.clip(path, wav, LENGTH, seed=100 + k)
    return path


def _distractors(n: int) -> list[Path]:
    """Other speech by the same voices, and quiet clips (noise, wind, engine, silence)."""
    out = []
    quiet = {
        0: "anoisesrc=c=pink:r=44100:a=0.05:seed=91",
        1: "anoisesrc=c=brown:r=44100:a=0.5:seed=92,lowpass=f=600,"
        "volume='0.4+0.3*sin(2*PI*0.3*t)':eval=frame",
        2: "aevalsrc='0.3*sin(2*PI*33*t)+0.2*sin(2*PI*66*t)+0.1*sin(2*PI*99*t)':s=44100",
        3: "anullsrc=r=44100:cl=stereo",
    }
    for j in range(n):
        path = OUT / f"distractor{j}.mp4"
        if not path.exists():
            wav = OUT / f"distractor{j}.wav"
            if j in quiet:
                subprocess.run(
                    [
                        "ffmpeg",
                        "-v",
                        "error",
                        "-y",
                        "-f",
                        "lavfi",
                        "-t",
                        "30",
                        "-i",
                        quiet[j],
                        "-ac",
                        "2",
                        str(wav),
                    ],
                    check=True,
                )
            else:
                said = [("ru", 30 + j), ("uk", 30 + j), ("ru", 45 + j)]  # utterances 30-56
                sm.soundtrack(wav, sm.talk(OUT, said, 1.0, 9.0), 30.0, seed=50 + j, bursts=[12.0])
            sm.clip(path, wav, 30.0, seed=300 + j)
        out.append(path)
    return out


def _variant(src: Path, name: str, k: int) -> Path | None:
    stem = f"{src.stem}.{name}"
    out = {
        "crop_9_16": lambda: sm.crop_9_16(src, OUT / f"{stem}.mp4"),
        "pip_40": lambda: sm.pip_40(src, OUT / f"{stem}.mp4", seed=500 + k),
        "voice_over": lambda: sm.voice_over(src, OUT / f"{stem}.mkv", sm.speech(OUT, "uk", 60 + k)),
        "aac_64k": lambda: sm.reencode(src, OUT / f"{stem}.mkv", "aac"),
        "opus": lambda: sm.reencode(src, OUT / f"{stem}.mkv", "opus"),
        "excerpt_10s": lambda: sm.excerpt(src, OUT / f"{stem}.mp4", 17.3, 10.0),
        "sound_replaced": lambda: sm.replace_sound(src, OUT / f"{stem}.mkv", _other_sound(k)),
    }
    remuxed = name in ("voice_over", "aac_64k", "opus", "sound_replaced")  # picture copied
    made = OUT / f"{stem}{'.mkv' if remuxed else '.mp4'}"
    return made if made.exists() else out[name]()


def _other_sound(k: int) -> Path:
    wav = OUT / f"replacement{k}.wav"
    if not wav.exists():
        said = [("uk", 70 + k), ("ru", 70 + k), ("uk", 80 + k)]  # utterances 70-89
        sm.soundtrack(wav, sm.talk(OUT, said, 3.0, 18.0), LENGTH, seed=700 + k, bursts=[10.0])
    return wav


def _compilation(sources: list[Path]) -> tuple[Path, dict[int, float]]:
    """A 10 min compilation: fillers around the sources; where each source starts in it."""
    path = OUT / f"compilation_10min_{len(sources)}.mp4"
    fillers = []
    for j in range(10 - len(sources)):
        f = OUT / f"filler{j}.mp4"
        if not f.exists():
            said = [("ru", 90 + j), ("uk", 90 + j)]  # utterances 90-99
            wav = sm.soundtrack(
                OUT / f"filler{j}.wav", sm.talk(OUT, said, 2.0, 25.0), LENGTH, seed=800 + j
            )
            sm.clip(f, wav, LENGTH, seed=900 + j)
        fillers.append(f)
    order: list[Path] = []
    starts = {}
    for i in range(10):
        if i % 3 == 1 and len(starts) < len(sources):
            starts[len(starts)] = i * LENGTH
            order.append(sources[len(starts) - 1])
        else:
            order.append(fillers.pop())
    if not path.exists():
        sm.compilation(order, path)
    return path, starts


def prepare(quick: bool) -> dict[str, Any]:
    OUT.mkdir(parents=True, exist_ok=True)
    mcfg, scfg = MatchingConfig(), SoundConfig()
    n = 3 if quick else 8
    generated = [_source(k) for k in range(n)]
    sources = [*generated, MEDIA / "big_buck_bunny_0_30.webm"]
    archive = {i: _clip(p, mcfg, scfg) for i, p in enumerate(sources)}
    for j, p in enumerate(_distractors(6 if quick else 12)):
        archive[100 + j] = _clip(p, mcfg, scfg)
    comp, starts = _compilation(generated[: 1 if quick else 3])
    queries = []
    for name in TRANSFORMS:
        if name == "in_compilation_10min":
            queries.append((name, comp, set(starts), starts))
            continue
        for i, src in enumerate(sources):
            queries.append((name, _variant(src, name, i), {i}, None))
    return {"archive": archive, "queries": queries, "mcfg": mcfg, "scfg": scfg}


def _reframe(paths: dict[int, Path], query: Path):
    def check(other: int, r: dict[str, Any]) -> bool:
        length = r["this_end_s"] - r["this_start_s"]
        ours = [r["this_start_s"] + length * f for f in (0.25, 0.5, 0.75)]
        shift = r["other_start_s"] - r["this_start_s"]
        return reframed(grey_at(query, ours), grey_at(paths[other], [t + shift for t in ours]))

    return check


def picture_search(archive: dict[int, Clip], mcfg: MatchingConfig):
    """The picture's exact search over the archive clips' fingerprints, in memory: `fps ->
    votes`. Written for both index designs (before and after issue 16's segments)."""
    import importlib

    from osint_video.matching import match as picture

    memory = getattr(picture, "MemoryIndex", None)
    if memory is None:  # the index before segments
        from osint_video.matching.index import ArchiveIndex

        parts = zip(*(fingerprint_entries(k, c.fps) for k, c in archive.items()), strict=True)
        old = ArchiveIndex(OUT, *[np.concatenate(a) for a in parts])
        return lambda fps: picture.vote(old, fps, mcfg, exclude=None)
    concat = importlib.import_module("osint_video.matching.segments").concat
    new = memory(concat([fingerprint_entries(k, c.fps) for k, c in archive.items()]))
    return lambda fps: new.vote(fps, mcfg, None)


def evaluate(setup: dict[str, Any]) -> dict[str, Any]:
    archive, mcfg, scfg = setup["archive"], setup["mcfg"], setup["scfg"]
    picture_votes = picture_search(archive, mcfg)
    sindex = build(OUT, [(k, p) for k, c in archive.items() for p in c.prints])
    paths = {k: c.path for k, c in archive.items()}
    rows: dict[str, dict[str, Any]] = {}
    for name, path, truth, starts in setup["queries"]:
        q = _clip(path, mcfg, scfg)
        pvotes = picture_votes(q.fps)
        svotes = search_sound(sindex, q.prints, scfg, exclude=None)
        picture = [
            {
                "clip_id": v.other_clip_id,
                "ranges": [c.as_range() for c in v.clusters],
                "keyframe_pairs": v.frames,
                "score": v.score,
            }
            for v in pvotes
        ]
        facts = {
            v.other_clip_id: dict.fromkeys(
                (
                    "sha256",
                    "filename",
                    "case",
                    "source_url",
                    "earliest_acquired_at",
                    "earliest_created_at",
                )
            )
            for v in svotes
        }
        others = {k: Other(k, None, c.prints, c.fps) for k, c in archive.items()}
        merged = disagreements(
            merge(picture, svotes, facts),
            q.prints,
            q.fps,
            others,
            scfg,
            mcfg,
            _reframe(paths, path),
        )
        found = {
            "picture": {v.other_clip_id for v in pvotes},
            "sound": {v.other_clip_id for v in svotes},
            "both": {e["clip_id"] for e in merged},
        }
        r = rows.setdefault(
            name,
            {
                "pairs": 0,
                "unrelated": 0,
                "modality": defaultdict(int),
                "sound_differs": 0,
                "picture_differs": 0,
                **{f"{s}_{x}": 0 for s in found for x in ("hits", "false")},
            },
        )
        for sense, got in found.items():
            r[f"{sense}_hits"] += len(got & truth)
            r[f"{sense}_false"] += len(got - truth)
            r.setdefault("false_pairs", []).extend(
                (sense, path.name, paths[k].name) for k in got - truth
            )
            r.setdefault("missed", []).extend((sense, path.name) for k in truth - got)
        r["pairs"] += len(truth)
        r["unrelated"] += len(archive) - len(truth)
        for e in merged:
            if e["clip_id"] in truth:
                r.setdefault("bit_errors", []).extend(x["bit_error"] for x in e["sound_ranges"])
                r.setdefault("differs_at", []).extend(x["bit_error"] for x in e["sound_differs"])
                r["modality"][e["modality"]] += 1
                r["sound_differs"] += bool(e["sound_differs"])
                r["picture_differs"] += bool(e["picture_differs"])
        if starts:
            r["compilation_ranges"] = [
                (e["clip_id"], e["sound_ranges"][:1]) for e in merged if e["clip_id"] in truth
            ]
    return rows


def cost(size: tuple[int, int] = (1280, 720)) -> dict[str, float]:
    """CPU and wall time of fingerprinting a 60 s clip's stereo sound against its whole triage
    (one process: the CPU of ffmpeg, fpcalc and the decoders included)."""
    from osint_video.pipeline import TriageRequest, triage
    from osint_video.workspace import Workspace

    path = OUT / "cost_60s_720p.mp4"
    if not path.exists():
        sm.clip(path, _source(0).with_suffix(".wav"), LENGTH, seed=42, size=size)

    def cpu() -> float:
        me = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime

    c0, w0 = cpu(), time.perf_counter()
    read_sound(path, SoundConfig(), 60)
    sound_cpu, sound_wall = cpu() - c0, time.perf_counter() - w0
    with tempfile.TemporaryDirectory() as home:
        ws = Workspace.open(load_config(home=home, environ={}))
        stages: dict[str, float] = defaultdict(float)
        last = ["", time.perf_counter()]

        def progress(stage: str, _f: float) -> None:
            now = time.perf_counter()
            stages[last[0]] += now - last[1]
            last[:] = [stage, now]

        c0, w0 = cpu(), time.perf_counter()
        triage(ws, TriageRequest(path), progress)
        total_cpu, total_wall = cpu() - c0, time.perf_counter() - w0
        ws.close()
    return {
        "sound_cpu_s": round(sound_cpu, 3),
        "sound_wall_s": round(sound_wall, 3),
        "triage_cpu_s": round(total_cpu, 2),
        "triage_wall_s": round(total_wall, 2),
        "share_cpu": round(sound_cpu / total_cpu, 4),
        "steps_wall_s": {k: round(v, 3) for k, v in stages.items() if k},
    }


def print_rows(rows: dict[str, Any]) -> None:
    print(
        f"{'transform':22} {'pairs':>5} {'picture':>8} {'sound':>8} {'both':>8}"
        f"   {'false p/s/b':>14}  modality of true pairs (picture/sound/both)  differs s/p"
    )
    tot = defaultdict(int)
    for name, r in rows.items():
        rec = {s: r[f"{s}_hits"] / r["pairs"] for s in ("picture", "sound", "both")}
        m = r["modality"]
        print(
            f"{name:22} {r['pairs']:5} {rec['picture']:8.2f} {rec['sound']:8.2f} "
            f"{rec['both']:8.2f}   {r['picture_false']:4}/{r['sound_false']}/{r['both_false']}"
            f"{'':6}{m.get('picture', 0):3}/{m.get('sound', 0)}/{m.get('both', 0):<27}"
            f"{r['sound_differs']}/{r['picture_differs']}"
        )
        for k in ("picture_false", "sound_false", "both_false", "unrelated"):
            tot[k] += r[k]
    print(
        f"false matches over {tot['unrelated']} unrelated pairs: picture {tot['picture_false']}, "
        f"sound {tot['sound_false']}, both {tot['both_false']} (target 0)"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="3 generated sources, 6 distractors")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    t0 = time.perf_counter()
    setup = prepare(args.quick)
    print(
        f"sound bench: {len(setup['archive'])} archive clips, {len(setup['queries'])} queries, "
        f"prepared in {time.perf_counter() - t0:.0f} s"
    )
    rows = evaluate(setup)
    print_rows(rows)
    for name, r in rows.items():
        if "compilation_ranges" in r:
            print(f"{name}: {r['compilation_ranges']}")
        for pair in r.get("false_pairs", []):
            print(f"false match ({name}): {pair}")
        errs, differs = r.get("bit_errors") or [0.0], r.get("differs_at") or []
        print(
            f"{name}: sound bit error of true ranges {min(errs):.3f}-{max(errs):.3f}"
            + (f"; sound_differs at {min(differs):.3f}-{max(differs):.3f}" if differs else "")
        )
        missed = [m for m in r.get("missed", []) if name != "sound_replaced" or m[0] != "sound"]
        for m in missed:
            print(f"missed ({name}): {m}")
    c = cost()
    print(
        f"cost, 60 s 720p clip with stereo sound: fingerprinting {c['sound_cpu_s']} s CPU "
        f"({c['sound_wall_s']} s wall) of triage's {c['triage_cpu_s']} s CPU "
        f"({c['triage_wall_s']} s wall): {100 * c['share_cpu']:.1f} % (target <= 5 %); "
        f"steps (wall): {c['steps_wall_s']}"
    )
    print(f"bench_sound: {time.perf_counter() - t0:.0f} s in total")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "cost": c}, indent=1, default=dict))


if __name__ == "__main__":
    main()

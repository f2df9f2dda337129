"""Seen before by sound, end to end through the CLI (issue 17): generated footage with real
speech (espeak-ng, Russian and Ukrainian) over noise and bursts; the reposts a desk meets (a 9:16
centre crop, picture-in-picture at 40 %, a voice-over at -6 dB, AAC 64 kb/s and Opus re-encodes,
an excerpt, a compilation, the sound replaced, other footage under the same sound) are each
matched with `modality` and ranges in both clips; a sound-only match is never a duplicate;
where picture and sound disagree the clip says so, in the report and in the verdict task."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sound_media as sm
from conftest import missing

from osint_video.annotate.push import metadata_summary
from osint_video.config import load_config
from osint_video.report.markdown import render_markdown
from osint_video.report.text import seen_before_line
from osint_video.report.validation import validate_report
from osint_video.workspace import Workspace

CLI = [sys.executable, "-m", "osint_video.cli"]
LENGTH = 20.0  # seconds of the original
EXCERPT = (6.3, 10.0)  # start, length: cut between two sub-fingerprints (0.124 s apart)


def run(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "OSINT_VIDEO_HOME": str(home),
        "OSINT_VIDEO_OPERATOR": "tester",
        "OSINT_VIDEO__OCR__ENABLED": "false",  # not what this file tests; saves time
        "OSINT_VIDEO__WORKER__TRIAGE_PROCESSES": "1",  # clips matched in the order given
    }
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=600)


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """An archive with an original and an unrelated clip, then every repost triaged."""
    for tool, package in (("fpcalc", "libchromaprint-tools"), ("espeak-ng", "espeak-ng")):
        if shutil.which(tool) is None:
            missing(f"the {tool} binary (Debian package {package})")
    d = tmp_path_factory.mktemp("footage")
    said = [("ru", 0), ("uk", 0), ("ru", 1), ("uk", 1)]
    a = sm.soundtrack(d / "a.wav", sm.talk(d, said, 0.5, 5.0), LENGTH, seed=1,
                      bursts=[8.0, 8.6, 17.0])  # fmt: skip
    other = [("uk", 2), ("ru", 2), ("uk", 3), ("ru", 3)]
    b = sm.soundtrack(d / "b.wav", sm.talk(d, other, 0.5, 5.0), LENGTH, seed=2, bursts=[4.0])
    c = sm.soundtrack(d / "c.wav", sm.talk(d, [("ru", 4), ("uk", 4)], 2.0, 8.0), LENGTH, seed=3)
    fill = [
        sm.soundtrack(d / f"f{k}.wav", sm.talk(d, [("uk", 5 + k), ("ru", 5 + k)], 1.0, 8.0),
                      LENGTH, seed=4 + k)
        for k in (0, 1)
    ]  # fmt: skip
    orig = sm.clip(d / "original.mp4", a, LENGTH, seed=1)
    files = {
        "original": orig,
        "unrelated": sm.clip(d / "unrelated.mp4", b, LENGTH, seed=2),
        "crop_9_16": sm.crop_9_16(orig, d / "vertical.mp4"),
        "pip_40": sm.pip_40(orig, d / "broadcast.mp4", seed=6),
        "voice_over": sm.voice_over(orig, d / "commented.mp4", sm.speech(d, "ru", 7)),
        "aac_64k": sm.reencode(orig, d / "aac64.mp4", "aac"),
        "opus": sm.reencode(orig, d / "opus.mkv", "opus"),
        "excerpt": sm.excerpt(orig, d / "excerpt.mp4", *EXCERPT),
        "compilation": sm.compilation(
            [sm.clip(d / f"fill{k}.mp4", fill[k], LENGTH, seed=7 + k) for k in (0, 1)][:1]
            + [orig]
            + [sm.clip(d / "fill1.mp4", fill[1], LENGTH, seed=8)],
            d / "compilation.mp4",
        ),
        "replaced": sm.replace_sound(orig, d / "replaced.mp4", c),
        "same_sound": sm.clip(d / "same_sound.mp4", a, LENGTH, seed=9),
    }
    home = d / "ws"
    first = run(home, "triage", str(orig), str(files["unrelated"]), "--case", "kursk", "--json")
    assert first.returncode == 0, first.stderr
    rest = [str(p) for k, p in files.items() if k not in ("original", "unrelated")]
    proc = run(home, "triage", *rest, "--case", "kursk", "--json")
    assert proc.returncode == 0, proc.stderr
    reports = [json.loads(line) for line in (first.stdout + proc.stdout).splitlines()]
    by_name = {k: next(r for r in reports if r["input"] == str(p)) for k, p in files.items()}
    return {"home": home, "reports": by_name, "stderr": proc.stderr, "files": files}


def _to_original(desk: dict[str, Any], name: str) -> dict[str, Any]:
    original = desk["reports"]["original"]["clip"]["id"]
    [m] = [m for m in desk["reports"][name]["matches"] if m["clip_id"] == original]
    return m


def _close(r: dict[str, float], this: tuple[float, float], other: tuple[float, float]) -> bool:
    got = (r["this_start_s"], r["this_end_s"], r["other_start_s"], r["other_end_s"])
    want = (*this, *other)
    return all(abs(g - w) <= 0.6 for g, w in zip(got, want, strict=True))


@pytest.mark.parametrize("name", ["crop_9_16", "pip_40"])
def test_reframed_reposts_are_found_by_their_sound(desk: dict[str, Any], name: str) -> None:
    """The picture hashes miss these; the sound finds them, and a look at the pictures says
    they are the original reframed: `both`, with the ranges of each sense."""
    m = _to_original(desk, name)
    assert m["modality"] == "both" and m["picture_reframed"] is True
    assert m["keyframe_pairs"] == 0  # the picture hashes alone did not match
    [r] = m["sound_ranges"]
    assert _close(r, (0.0, LENGTH), (0.0, LENGTH)) and r["bit_error"] < 0.1
    assert m["picture_ranges"] and not m["sound_differs"] and not m["picture_differs"]
    assert not [a for a in desk["reports"][name]["anomalies"] if "differs" in a["code"]]


@pytest.mark.parametrize("name", ["voice_over", "aac_64k", "opus"])
def test_same_footage_new_sound_encoding_matches_both_ways(desk: dict[str, Any], name: str) -> None:
    m = _to_original(desk, name)
    assert m["modality"] == "both" and m["keyframe_pairs"] >= 3
    assert m["sound_bit_error"] < (0.15 if name == "voice_over" else 0.06)
    assert sum(r["this_end_s"] - r["this_start_s"] for r in m["sound_ranges"]) > 0.7 * LENGTH
    assert not m["sound_differs"] and not m["picture_differs"]


def test_an_excerpt_and_a_compilation_give_ranges_in_both_clips(desk: dict[str, Any]) -> None:
    start, length = EXCERPT
    m = _to_original(desk, "excerpt")
    [r] = m["sound_ranges"]
    assert m["modality"] == "both"
    assert _close(r, (0.0, length), (start, start + length)), r
    m = _to_original(desk, "compilation")
    [r] = m["sound_ranges"]
    assert m["modality"] == "both"
    assert _close(r, (LENGTH, 2 * LENGTH), (0.0, LENGTH)), r
    # the original's report names both in seen_later, with the senses
    home = desk["home"]
    later = json.loads(run(home, "report", "1", "--format", "json").stdout)["seen_later"]
    assert {e["filename"]: e["modality"] for e in later}["compilation.mp4"] == "both"


def test_replaced_sound_is_a_disagreement(desk: dict[str, Any]) -> None:
    """The picture is the original's, the sound is not: `sound_differs`, naming the clip and
    the range, in the report and the annotators' verdict task."""
    rep = desk["reports"]["replaced"]
    m = _to_original(desk, "replaced")
    assert m["modality"] == "picture"
    [r] = m["sound_differs"]
    assert _close(r, (0.0, LENGTH), (0.0, LENGTH)) and r["bit_error"] >= 0.35
    original = desk["reports"]["original"]["clip"]["id"]
    named = f"clip {original} (original.mp4)"
    [a] = [a for a in rep["anomalies"] if a["code"] == "sound_differs" and named in a["message"]]
    assert "The picture at 00:00.0-00:19." in a["message"], a
    # every earlier copy of the picture says the same (re-encodes, the voice-over...)
    assert len([a for a in rep["anomalies"] if a["code"] == "sound_differs"]) >= 3
    ws = Workspace.open(load_config(home=desk["home"], environ={}))
    try:
        summary = metadata_summary(ws.cases.record(rep["clip"]["id"]), "kursk")
    finally:
        ws.close()
    assert "Disagreement: The picture at 00:00.0-" in summary
    assert f"clip {original} (picture)" in summary and "Sound: aac 2 ch 44100 Hz, made" in summary


def test_same_sound_other_footage_shares_sound_and_is_never_a_duplicate(
    desk: dict[str, Any],
) -> None:
    rep = desk["reports"]["same_sound"]
    m = _to_original(desk, "same_sound")
    assert m["modality"] == "sound" and m["picture_ranges"] == [] and m["keyframe_pairs"] == 0
    [r] = m["picture_differs"]
    assert _close(r, (0.0, LENGTH), (0.0, LENGTH))
    assert rep["duplicate_of_clip"] is None  # same case, whole clip: still no duplicate link
    assert "picture_differs" in [a["code"] for a in rep["anomalies"]]
    assert desk["reports"]["aac_64k"]["duplicate_of_clip"] == 1  # the same footage is linked
    line = seen_before_line(rep)  # what triage prints under the clip's line
    assert line is not None and line.startswith("shares sound with: clip 1 (original.mp4)")
    assert "(sound only: not the same footage)" in line
    assert "(picture and sound)" in (seen_before_line(desk["reports"]["opus"]) or "")
    md = render_markdown(rep)
    assert "| sound only (shares sound with) |" in md
    html = (desk["home"] / rep["derived"]["html_report"]).read_text()
    assert "shares sound with" in html and 'id="sound"' in html


def test_unrelated_clips_never_match_and_reports_validate(desk: dict[str, Any]) -> None:
    original = desk["reports"]["original"]["clip"]["id"]
    unrelated = desk["reports"]["unrelated"]
    assert all(m["clip_id"] != original for m in unrelated["matches"])
    for name, rep in desk["reports"].items():
        validate_report({k: v for k, v in rep.items() if k not in ("input", "error")})
        assert all(m["clip_id"] != unrelated["clip"]["id"] for m in rep["matches"]), name
    sound = desk["reports"]["original"]["sound"]
    [t] = sound["tracks"]
    assert t["fingerprint"] == "made" and t["informative"] > 0.8 * t["items"]
    assert sound["picture_still"] is False and sound["picture_duration_s"] == pytest.approx(20.0)


def test_sound_steps_are_in_custody(desk: dict[str, Any]) -> None:
    rep = desk["reports"]["crop_9_16"]
    actions = [e["action"] for e in rep["custody"]]
    assert actions.index("sound_fingerprinted") < actions.index("matched")
    assert (
        actions.index("matched")
        < actions.index("sound_matched")
        < actions.index("report_generated")
    )
    [made] = [e["details"] for e in rep["custody"] if e["action"] == "sound_fingerprinted"]
    assert made["algorithm"] == "chromaprint:2" and made["tools"]["fpcalc"].startswith("1.")
    [t] = made["tracks"]
    assert len(t["values_sha256"]) == 64 and t["informative"] > 0
    [found] = [e["details"] for e in rep["custody"] if e["action"] == "sound_matched"]
    assert found["by_modality"]["both"] >= 1 and found["parameters"]["probe_bits"] == 1


def test_match_reads_a_new_file_without_writing(desk: dict[str, Any], tmp_path: Path) -> None:
    home = desk["home"]
    query = sm.excerpt(desk["files"]["crop_9_16"], tmp_path / "vertical_excerpt.mp4", 3.0, 9.0)
    before = (home / "cases.sqlite").stat().st_mtime_ns
    proc = run(home, "match", str(query), "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    m = next(m for m in out["matches"] if m["filename"] == "original.mp4")
    assert m["modality"] == "both" and m["picture_reframed"]
    assert _close(m["sound_ranges"][0], (0.0, 9.0), (3.0, 12.0))
    assert (home / "cases.sqlite").stat().st_mtime_ns == before
    text = run(home, "match", str(query)).stdout
    assert "original.mp4" in text and "  sound: 00:03" in text


def test_the_web_desk_shows_which_senses_agree(desk: dict[str, Any]) -> None:
    """The clip page names the senses of each match with the ranges of each and where they
    disagree; a sound-only match reads "shares sound with" and never joins the footage's card
    on the board (the same footage, re-encoded or with its sound replaced, does)."""
    from webdesk import add_users, login, serving

    home = desk["home"]
    add_users(home)
    ids = {k: r["clip"]["id"] for k, r in desk["reports"].items()}
    original = ids["original"]
    with serving(load_config(home=home, environ=dict(os.environ))) as (base, _app):
        ed = login(base, "ed")
        same = ed.get(f"/clips/{ids['same_sound']}").text
        assert f'Shares sound with: <a href="/clips/{original}">' in same
        assert 'data-modality="sound"' in same and "sound only: not the same footage" in same
        assert re.search(r'class="sound"><span class="what">sound</span> <span class="range">'
                         r"00:00–00:(19|20) there ~ 00:00–00:(19|20) here", same)  # fmt: skip
        assert '<span class="what">picture differs</span>' in same
        assert "Seen before:" not in same and ", duplicate" not in same
        replaced = ed.get(f"/clips/{ids['replaced']}").text
        assert f'Seen before: <a href="/clips/{original}">' in replaced
        assert '<li class="differs"><span class="what">sound differs</span>' in replaced
        crop = ed.get(f"/clips/{ids['crop_9_16']}").text
        assert "picture and sound agree (the picture reframed" in crop
        first = ed.get(f"/clips/{original}").text  # the later clips, in its own terms
        assert f'Shares sound with (later): <a href="/clips/{ids["same_sound"]}">' in first
        assert f'Seen later: <a href="/clips/{ids["replaced"]}">' in first
        # "Match again" matches by both senses, as `match` does: the sound-only match stays
        assert ed.post(f"/clips/{ids['same_sound']}/match").status_code == 303
        again = ed.get(f"/clips/{ids['same_sound']}").text
        assert f'Shares sound with: <a href="/clips/{original}">' in again
        assert re.findall(r"<b>(\w+)</b> by ed", again.split("<h2>Custody</h2>")[1])[-3:] == [
            "matched",
            "sound_matched",
            "report_generated",
        ]
        board = ed.get("/", params={"sort": "oldest"}).text
        leads = [int(x) for x in re.findall(r'<li class="card[^"]*" data-clip="(\d+)"', board)]
        assert original in leads and ids["same_sound"] in leads  # separate cards
        assert ids["replaced"] not in leads and ids["aac_64k"] not in leads  # copies

"""End to end through the real CLI: real ffmpeg, real SQLite, real files; no mocks."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from osint_video.config import load_config
from osint_video.report.validation import validate_report
from osint_video.sample import FLASH_FRAME, make_repost, make_sample
from osint_video.store.evidence import sha256_file
from osint_video.workspace import Workspace

CLI = [sys.executable, "-m", "osint_video.cli"]


def run(home: Path, *args: str, check: bool | None = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OSINT_VIDEO_HOME": str(home), "OSINT_VIDEO_OPERATOR": "tester"}
    proc = subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=300)
    if check is True:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_sample(tmp_path_factory.mktemp("sample") / "sudzha sample.mp4")


@pytest.fixture(scope="module")
def triaged(sample: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    home = tmp_path_factory.mktemp("ws")
    proc = run(
        home,
        "triage",
        str(sample),
        "--case",
        "kursk",
        "--source-url",
        "https://example.org/1",
        "--note",
        "from channel X",
        "--json",
    )
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1
    return home, json.loads(lines[0])


def test_triage_report_is_complete_and_valid(sample: Path, triaged: tuple[Path, dict]) -> None:
    home, rep = triaged
    report_only = {k: v for k, v in rep.items() if k not in ("input", "error")}
    validate_report(report_only)
    assert rep["error"] is None and rep["status"] == "processed"
    assert rep["clip"]["sha256"] == sha256_file(sample)
    assert rep["clip"]["kind"] == "video" and rep["clip"]["filename"] == "sudzha sample.mp4"
    assert rep["media"]["width"] == 640 and rep["media"]["height"] == 360
    assert rep["media"]["duration_s"] == pytest.approx(12.0, abs=0.1)
    loc = rep["metadata"]["location"]
    assert (loc["lat"], loc["lon"]) == (pytest.approx(51.193), pytest.approx(35.271))
    assert rep["metadata"]["creation_time"].startswith("2024-08-14T09:12:30")
    assert {a["code"] for a in rep["anomalies"]} >= {"reencoded"}
    starts = [s["start_frame"] for s in rep["shots"]]
    assert len(starts) == 4
    assert all(abs(a - b) <= 1 for a, b in zip(starts, [0, 75, 150, 240], strict=True))
    assert FLASH_FRAME not in starts
    acq = rep["acquisitions"][0]
    assert (acq["case"], acq["operator"], acq["note"]) == ("kursk", "tester", "from channel X")
    actions = [e["action"] for e in rep["custody"]]
    assert actions[:9] == [
        "acquired",
        "status_changed",
        "probed",
        "stripped",
        "keyframes_extracted",
        "hashed",
        "text_read",
        "sound_fingerprinted",
        "status_changed",
    ]
    moves = [
        (e["details"]["from"], e["details"]["to"]) for e in (rep["custody"][1], rep["custody"][8])
    ]
    assert moves == [("queued", "processing"), ("processing", "processed")]
    for kf in rep["keyframes"]:
        assert kf["hashes"]["phash"].startswith("phash:64:")
        assert (home / kf["path"]).is_file()
    for key in ("stripped_copy", "contact_sheet", "html_report"):
        assert (home / rep["derived"][key]).is_file()


def test_original_preserved_read_only(sample: Path, triaged: tuple[Path, dict]) -> None:
    home, rep = triaged
    sha = rep["clip"]["sha256"]
    held = home / "evidence" / "sha256" / sha[:2] / sha[2:4] / sha
    assert sha256_file(held) == sha == sha256_file(sample)
    assert not held.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)


def test_same_bytes_again_is_second_acquisition(
    sample: Path, triaged: tuple[Path, dict], tmp_path: Path
) -> None:
    home, rep = triaged
    copy = tmp_path / "renamed.mp4"
    shutil.copyfile(sample, copy)
    again = json.loads(run(home, "triage", str(copy), "--case", "other", "--json").stdout)
    assert again["clip"]["id"] == rep["clip"]["id"]
    assert [a["case"] for a in again["acquisitions"]] == ["kursk", "other"]
    assert again["keyframes"] == rep["keyframes"]
    listing = json.loads(run(home, "queue", "list", "--json").stdout)
    assert len(listing) == 1 and listing[0]["cases"] == ["kursk", "other"]


def test_report_by_sha_prefix(triaged: tuple[Path, dict]) -> None:
    home, rep = triaged
    proc = run(home, "report", rep["clip"]["sha256"][:8], "--format", "json")
    assert json.loads(proc.stdout)["clip"]["id"] == rep["clip"]["id"]
    html_path = Path(run(home, "report", str(rep["clip"]["id"])).stdout.strip())
    html = html_path.read_text()
    assert "<script" not in html.lower() and "sudzha sample.mp4" in html
    bad = run(home, "report", "ffffffffff", check=False)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def _bad_inputs(folder: Path, shared_media: Path, sample: Path) -> dict[str, str]:
    """Names -> expected fate ('ok', 'failed' = recorded as failed, 'rejected' = not recorded)."""
    folder.mkdir()
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "notes.txt").write_text("not a video\n")
    data = sample.read_bytes()
    (folder / "truncated.mp4").write_bytes(data[: len(data) // 3])
    shutil.copyfile(shared_media / "QuickTime.mov", folder / "QuickTime.mov")
    (folder / "sub").mkdir()
    shutil.copyfile(shared_media / "Apple_iPhone_4.jpg", folder / "sub" / "фото с пробелом.jpg")
    shutil.copyfile(shared_media / "counter.mp4", folder / "-leading dash.mp4")
    shutil.copyfile(shared_media / "cup.mp4", folder / "new\nline.mp4")
    unknown = bytearray(data)
    entry = unknown.find(b"avc1", unknown.find(b"moov"))  # the stsd sample entry, not the brand
    unknown[entry : entry + 4] = b"zzzz"
    (folder / "unknown codec.mp4").write_bytes(bytes(unknown))
    (folder / "dangling").symlink_to(folder / "gone.mp4")
    return {
        "empty.mp4": "rejected",
        "notes.txt": "rejected",
        "truncated.mp4": "rejected",
        "QuickTime.mov": "failed",
        "фото с пробелом.jpg": "ok",
        "-leading dash.mp4": "ok",
        "new\nline.mp4": "ok",
        "unknown codec.mp4": "failed",
        "dangling": "rejected",
    }


def test_bad_inputs_each_get_one_line_and_others_go_on(
    tmp_path: Path, shared_media: Path, sample: Path
) -> None:
    home = tmp_path / "ws"
    fates = _bad_inputs(tmp_path / "in", shared_media, sample)
    before = {p: sha256_file(p) for p in (tmp_path / "in").rglob("*") if p.is_file()}
    proc = run(
        home,
        "triage",
        "--json",
        "--",
        str(tmp_path / "in"),
        str(tmp_path / "absent.mp4"),
        check=False,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    expected_errors = sum(1 for f in fates.values() if f != "ok") + 1
    assert len(errors) == expected_errors, proc.stderr
    assert any("absent.mp4" in e and "no such file" in e for e in errors)
    out = {Path(o["input"]).name: o for o in map(json.loads, proc.stdout.splitlines())}
    assert len(out) == len(fates) + 1
    for name, fate in fates.items():
        item = out[name]
        if fate == "ok":
            assert item["error"] is None and item["status"] == "processed", item.get("error")
        elif fate == "failed":
            assert item["status"] == "failed" and "keyframe" in item["error"], item["error"]
        else:
            assert item["status"] == "rejected" and item["error"]
    assert "unsupported video codec" in out["unknown codec.mp4"]["error"]
    qt = out["QuickTime.mov"]
    assert qt["metadata"]["creation_time"].startswith("2005-08-11T14:03:54")
    assert qt["keyframes"] == [] and "no_decodable_frames" in {a["code"] for a in qt["anomalies"]}
    listing = json.loads(run(home, "queue", "list", "--json").stdout)
    statuses = sorted(r["status"] for r in listing)
    assert statuses == ["failed", "failed", "processed", "processed", "processed"]
    held = list((home / "evidence").rglob("*"))
    assert len([p for p in held if p.is_file()]) == 5
    assert before == {p: sha256_file(p) for p in before}


def test_crash_leftover_processing_is_resumed(tmp_path: Path, shared_media: Path) -> None:
    from osint_video.config import load_config
    from osint_video.workspace import Workspace

    home = tmp_path / "ws"
    clip = shared_media / "counter.mp4"
    run(home, "triage", str(clip))
    ws = Workspace.open(load_config(home=home, environ={}))
    ws.cases.set_status(1, "processing")
    ws.close()
    rep = json.loads(run(home, "triage", str(clip), "--json").stdout)
    assert rep["status"] == "processed" and rep["clip"]["id"] == 1
    assert len(rep["acquisitions"]) == 2


def test_still_image(tmp_path: Path, shared_media: Path) -> None:
    rep = json.loads(
        run(tmp_path / "ws", "triage", str(shared_media / "Apple_iPhone_4.jpg"), "--json").stdout
    )
    assert rep["clip"]["kind"] == "image" and len(rep["keyframes"]) == 1
    assert rep["metadata"]["location"]["lat"] == pytest.approx(41.853, abs=1e-4)
    assert rep["metadata"]["make"] == "Apple" and rep["shots"] == []


@pytest.mark.parametrize("cmd", [[], ["triage"], ["queue"], ["queue", "list"], ["report"]])
def test_every_command_has_help_with_example(tmp_path: Path, cmd: list[str]) -> None:
    proc = run(tmp_path, *cmd, "--help")
    assert "Example" in proc.stdout, proc.stdout


def test_every_subcommand_help_has_an_example_and_shows_config_sections(cli) -> None:
    """Walk the whole command tree in process; "[section] key" in a help text must show as
    written (rich markup would swallow an unescaped "[annotate]")."""
    import typer

    from osint_video.cli import app

    def leaves(cmd, path):
        subs = getattr(cmd, "commands", None)
        if not subs:
            yield path
            return
        for name, sub in subs.items():
            yield from leaves(sub, [*path, name])

    paths = list(leaves(typer.main.get_command(app), []))
    assert len(paths) >= 20
    helps = {}
    for path in paths:
        rc, out, _err = cli(*path, "--help")
        assert rc == 0 and "Example" in out, path
        helps[" ".join(path)] = " ".join(out.split())
    assert "[annotate] listen_port" in helps["annotate listen"]
    assert "[worker] concurrency" in helps["worker"]


LOADED = (
    "import sys\n"
    "from osint_video import cli\n"
    "sys.argv = ['osint-video', *sys.argv[1:]]\n"
    "try:\n"
    "    cli.main()\n"
    "except SystemExit:\n"
    "    pass\n"
    "print(' '.join(sorted(m for m in sys.modules if '.' not in m)), file=sys.stderr)\n"
)


@pytest.mark.parametrize(
    ("args", "absent"),
    [
        (["--help"], {"av", "numpy", "sqlalchemy", "PIL"}),
        (["queue", "--help"], {"av", "numpy", "sqlalchemy", "PIL"}),
        (["queue", "list"], {"av", "numpy", "PIL", "cv2", "imagehash"}),
    ],
)
def test_commands_load_only_what_they_use(tmp_path: Path, args: list[str], absent: set) -> None:
    """Help and listing start without the pipeline's libraries (0.9 s -> 0.25 s for --help)."""
    proc = subprocess.run(
        [sys.executable, "-c", LOADED, "--home", str(tmp_path / "ws"), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    loaded = set(proc.stderr.strip().splitlines()[-1].split())
    assert "osint_video" in loaded and "typer" in loaded, proc.stderr[-2000:]
    assert loaded.isdisjoint(absent), loaded & absent


def test_reupload_is_seen_before_and_linked_as_duplicate(sample: Path, tmp_path: Path) -> None:
    home = tmp_path / "ws"
    run(home, "triage", str(sample), "--case", "kursk")
    copy = make_repost(sample, tmp_path / "reupload.mp4")
    rep = json.loads(run(home, "triage", str(copy), "--case", "kursk", "--json").stdout)
    [match] = rep["matches"]
    assert match["clip_id"] == 1 and match["keyframe_pairs"] >= 3
    assert match["mirrored"] is True  # make_repost flips the picture
    assert rep["duplicate_of_clip"] == 1
    listing = {r["id"]: r for r in json.loads(run(home, "queue", "list", "--json").stdout)}
    assert listing[2]["duplicate_of"] == 1 and listing[1]["duplicate_of"] is None
    assert "dup of #1" in run(home, "queue", "list").stdout
    html = (home / rep["derived"]["html_report"]).read_text()
    assert html.count('class="match-thumb" src="data:image/jpeg;base64,') == 2  # there and here
    assert html.count(">mirrored</span>") == 1
    # the original's report on disk now names its repost (rewritten once, with a custody event)
    ws = Workspace.open(load_config(home=home, environ={}))
    original = ws.cases.load(1)
    ws.close()
    first = json.loads((home / original.derived["report_json"]).read_text())
    [later] = first["seen_later"]
    assert later["clip_id"] == 2 and later["duplicate"] and later["score"] == match["score"]
    assert later["mirrored"] is True
    assert ">mirrored</span>" in (home / original.derived["html_report"]).read_text()
    assert later["ranges"][0]["this_start_s"] == match["ranges"][0]["other_start_s"]
    validate_report(first)
    rewrites = [e for e in original.custody if e.action == "report_generated"]
    assert len(rewrites) == 2  # its own, then once for the repost
    shown = run(home, "match", "2").stdout
    assert re.search(
        r"^clip 1 sudzha sample\.mp4 .* mirrored\n  first acquired \d{4}-\d\d-\d\dT", shown, re.M
    )
    again = run(home, "triage", str(copy)).stderr  # the terminal says it at once
    ws = Workspace.open(load_config(home=home, environ={}))
    after = [e for e in ws.cases.load(1).custody if e.action == "report_generated"]
    ws.close()
    assert len(after) == len(rewrites)  # nothing new to say: not rewritten again
    assert re.search(
        r"\n    seen before: clip 1 \(sudzha sample\.mp4\), acquired \d+ s earlier.*; this "
        r"clip is it mirrored \(flipped left to right\)",
        again,
    )


@pytest.mark.parametrize(
    "args",
    [
        ("triage", "--bogus", "x.mp4"),
        ("labelstudio", "start", "--port", "1"),
        ("queue", "status"),
        ("annotate", "push", "--nope"),
    ],
)
def test_usage_errors_say_what_is_wrong_without_a_traceback(home: Path, args: tuple) -> None:
    proc = run(home, *args, check=None)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "Error: " in proc.stderr
    assert f"Try 'osint-video {' '.join(a for a in args[:2] if not a.startswith('-'))}" in (
        proc.stderr
    )

"""The signer's C2PA thumbnail is kept at triage as a derived file: reports show it from there
(never opening the evidence), `verify` vouches for it, and a clip without it says why."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from c2pa_files import plain, signed, tampered

from osint_video.config import load_config
from osint_video.media.credentials import signed_thumbnail
from osint_video.pipeline import STEPS, TriageRequest, intake, process_clip
from osint_video.steps.credentials import C2paThumbnail
from osint_video.workspace import Workspace

AS_SIGNED_IMG = '<dt>As signed</dt><dd><img class="match-thumb" src="data:image/jpeg;base64,'
AS_SIGNED_NOTE = '<dt>As signed</dt><dd class="c2pa-thumb-note">no thumbnail shown: '
CLI = Callable[..., tuple[int, str, str]]


def _triage(cli: CLI, *files: Path) -> list[dict[str, Any]]:
    rc, out, err = cli("triage", *map(str, files), "--json")
    assert rc == 0, err
    return [json.loads(line) for line in out.strip().splitlines()]


def _events(report: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [e for e in report["custody"] if e["action"] == action]


def _html(home: Path, report: dict[str, Any]) -> str:
    return (home / report["derived"]["html_report"]).read_text()


def test_kept_verbatim_recorded_and_shown(tmp_path: Path, home: Path, cli: CLI) -> None:
    bad = tampered(signed(tmp_path / "shot.jpg", "digitalCapture", "cam"), tmp_path / "x.jpg")
    video = signed(tmp_path / "clip.mp4", "digitalCapture", "cam")  # embeds no thumbnail
    changed, clip, unsigned = _triage(cli, bad, video, plain(tmp_path / "plain.jpg"))
    rel = changed["derived"]["c2pa_thumbnail"]
    assert rel == f"derived/{changed['clip']['sha256']}/c2pa_thumbnail.jpg"
    kept = (home / rel).read_bytes()
    assert kept == signed_thumbnail(bad)  # the embedded bytes, not re-encoded
    [event] = _events(changed, "c2pa_thumbnail_extracted")
    assert event["details"]["outputs"] == {"c2pa_thumbnail.jpg": hashlib.sha256(kept).hexdigest()}
    assert "c2pa-python" in event["details"]["tools"]
    assert AS_SIGNED_IMG in _html(home, changed) and f"<code>{rel}</code>" in _html(home, changed)
    # credentials without a thumbnail: looked for (an event without outputs), nothing shown
    [looked] = _events(clip, "c2pa_thumbnail_extracted")
    assert looked["details"]["outputs"] == {} and clip["derived"]["c2pa_thumbnail"] is None
    assert "<dt>As signed</dt>" not in _html(home, clip)
    # no credentials: the step does not run
    assert not _events(unsigned, "c2pa_thumbnail_extracted")
    assert unsigned["derived"]["c2pa_thumbnail"] is None
    assert "<dt>As signed</dt>" not in _html(home, unsigned)


def test_verify_vouches_for_it(tmp_path: Path, home: Path, cli: CLI) -> None:
    bad = tampered(signed(tmp_path / "shot.jpg", "digitalCapture", "cam"), tmp_path / "x.jpg")
    [changed] = _triage(cli, bad)
    clip_id, rel = str(changed["clip"]["id"]), changed["derived"]["c2pa_thumbnail"]
    rc, out, err = cli("verify", clip_id, "--json")
    assert rc == 0, out + err
    files = {f["relpath"]: f for f in json.loads(out)["clips"][0]["files"]}
    assert (files[rel]["status"], files[rel]["action"]) == ("ok", "c2pa_thumbnail_extracted")
    (home / rel).write_bytes(b"\xff\xd8\xff another picture")
    rc, out, _err = cli("verify", clip_id, "--json")
    files = {f["relpath"]: f for f in json.loads(out)["clips"][0]["files"]}
    assert rc != 0 and files[rel]["status"] == "differs"


def test_reports_never_open_the_evidence(tmp_path: Path, home: Path, cli: CLI) -> None:
    """With the evidence original gone, the report still shows the picture as signed."""
    bad = tampered(signed(tmp_path / "shot.jpg", "digitalCapture", "cam"), tmp_path / "x.jpg")
    [changed] = _triage(cli, bad)
    evidence = home / changed["clip"]["evidence_path"]
    away = evidence.rename(tmp_path / "away")
    try:
        for fmt in ("html", "pdf"):
            rc, out, err = cli("report", str(changed["clip"]["id"]), "--format", fmt)
            assert rc == 0, err
        assert AS_SIGNED_IMG in _html(home, changed)
    finally:
        away.rename(evidence)


def test_a_clip_triaged_before_it_was_kept_says_so(tmp_path: Path, home: Path, cli: CLI) -> None:
    """Processed without the step (as by an older version): no picture, a line saying why,
    and no reading of the evidence to make up for it."""
    bad = tampered(signed(tmp_path / "shot.jpg", "digitalCapture", "cam"), tmp_path / "x.jpg")
    older = tuple(s for s in STEPS if not isinstance(s, C2paThumbnail))
    ws = Workspace.open(load_config(home=home))
    try:
        taken = intake(ws, TriageRequest(bad))
        assert process_clip(ws, taken.clip_id, steps=older).error is None
        html = (home / (ws.cases.record(taken.clip_id).derived.html_report or "")).read_text()
    finally:
        ws.close()
    assert AS_SIGNED_NOTE + "not kept: this clip was triaged before" in html
    assert AS_SIGNED_IMG not in html


def test_a_limit_hit_is_recorded_and_said(tmp_path: Path, home: Path) -> None:
    """Read bounded like the probe's parsers: out of time, the step's failure is a custody
    event and a line in the report, not the clip's error."""
    bad = tampered(signed(tmp_path / "shot.jpg", "digitalCapture", "cam"), tmp_path / "x.jpg")
    cfg = load_config(home=home)
    hurried = dataclasses.replace(
        cfg, probe=dataclasses.replace(cfg.probe, parse_time_limit_s=1e-9)
    )
    ws = Workspace.open(cfg)
    try:
        taken = intake(ws, TriageRequest(bad))
    finally:
        ws.close()
    ws = Workspace.open(hurried)
    try:
        out = process_clip(ws, taken.clip_id, probe=taken.probe)
        record = ws.cases.record(taken.clip_id)
    finally:
        ws.close()
    assert out.status == "processed" and out.error is None
    [failed] = [e for e in record.custody if e.action == "c2pa_thumbnail_failed"]
    assert failed.details["error"] == "the C2PA thumbnail was not read: time limit (1e-09 s)"
    html = (home / (record.derived.html_report or "")).read_text()
    assert AS_SIGNED_NOTE + "not read at triage: the C2PA thumbnail was not read: time" in html

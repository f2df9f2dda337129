"""`verify` re-hashes originals and every derived file and names what differs; it never repairs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from custody_helpers import clip_sha, copy_workspace, make_workspace, run, sql


@pytest.fixture(scope="module")
def honest(tmp_path_factory: pytest.TempPathFactory, shared_media: Path) -> Path:
    home = tmp_path_factory.mktemp("honest") / "ws"
    make_workspace(home, shared_media)
    return home


@pytest.fixture
def ws(honest: Path, tmp_path: Path) -> Path:
    return copy_workspace(honest, tmp_path / "ws")


def verify_json(home: Path, *args: str, rc: int) -> dict:
    proc = run(home, "verify", *args, "--json", check=False)
    assert proc.returncode == rc, proc.stdout + proc.stderr
    return json.loads(proc.stdout)


def bad_files(result: dict) -> dict[str, dict]:
    return {f["relpath"]: f for c in result["clips"] for f in c["files"] if f["status"] != "ok"}


def test_honest_workspace_every_file_checked(honest: Path) -> None:
    result = verify_json(honest, "--all", rc=0)
    files = {f["relpath"] for c in result["clips"] for f in c["files"]}
    sha = clip_sha(honest, 1)
    for name in (
        "report.json",
        "report.html",
        "contact_sheet.jpg",
        "report.json.sig",
        "stripped.mov",
    ):
        assert f"derived/{sha}/{name}" in files
    assert f"evidence/sha256/{sha[:2]}/{sha[2:4]}/{sha}" in files
    keyframes = [f for f in files if f.startswith(f"derived/{sha}/keyframes/")]
    (n,) = sql(honest, "SELECT count(*) FROM keyframes WHERE clip_id=1")[0]
    assert len(keyframes) == n > 0
    assert result["bytes_hashed"] > 400_000


def test_one_flipped_byte_in_an_original_is_named(ws: Path) -> None:
    sha = clip_sha(ws, 1)
    original = ws / f"evidence/sha256/{sha[:2]}/{sha[2:4]}/{sha}"
    os.chmod(original, 0o600)
    data = bytearray(original.read_bytes())
    data[len(data) // 2] ^= 0x01
    original.write_bytes(bytes(data))
    result = verify_json(ws, "1", rc=1)
    bad = bad_files(result)
    assert list(bad) == [f"evidence/sha256/{sha[:2]}/{sha[2:4]}/{sha}"]
    entry = bad[next(iter(bad))]
    assert entry["status"] == "differs" and entry["action"] == "acquired" and entry["seq"] == 1
    assert original.read_bytes() == bytes(data)  # never repaired
    text = run(ws, "verify", "1", check=False).stdout
    assert "differs" in text and "custody event 1 (acquired)" in text


def test_deleted_keyframe_is_named_with_its_event(ws: Path) -> None:
    sha = clip_sha(ws, 1)
    (path,) = sql(ws, 'SELECT path FROM keyframes WHERE clip_id=1 ORDER BY "index" LIMIT 1')[0]
    (ws / path).unlink()
    bad = bad_files(verify_json(ws, sha[:8], rc=1))
    assert list(bad) == [path]
    assert bad[path]["status"] == "missing" and bad[path]["action"] == "keyframes_extracted"


def test_changed_stripped_copy_and_report_are_named(ws: Path) -> None:
    sha = clip_sha(ws, 2)
    d = ws / "derived" / sha
    (d / "stripped.mp4").write_bytes(b"not the stripped copy")
    report = json.loads((d / "report.json").read_text())
    report["status"] = "verified"
    (d / "report.json").write_text(json.dumps(report, indent=2))
    result = verify_json(ws, "--all", rc=1)
    bad = bad_files(result)
    assert set(bad) == {f"derived/{sha}/stripped.mp4", f"derived/{sha}/report.json"}
    assert bad[f"derived/{sha}/report.json"]["action"] == "report_generated"
    clip2 = next(c for c in result["clips"] if c["clip_id"] == 2)
    assert any("bad signature" in p for p in clip2["problems"])
    assert next(c for c in result["clips"] if c["clip_id"] == 1)["ok"]


def test_unrecorded_keyframe_row_is_named(ws: Path) -> None:
    sql(ws, "UPDATE keyframes SET path = path || '.x' WHERE clip_id=1 AND \"index\"=0")
    result = verify_json(ws, "1", rc=1)
    assert any("no hash in any custody event" in p for p in result["clips"][0]["problems"])


def test_verify_argument_errors(honest: Path) -> None:
    assert run(honest, "verify", check=False).returncode != 0
    assert run(honest, "verify", "ffff0000", check=False).returncode != 0

"""Signed reports: anyone checks them with no workspace; one changed character fails."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from custody_helpers import clip_sha, make_workspace, run

from osint_video.custody.signing import (
    init_keys,
    load_private,
    sign_report,
    signature_block,
    verify_report_file,
)
from osint_video.errors import InputError


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory, shared_media: Path) -> Path:
    home = tmp_path_factory.mktemp("desk") / "ws"
    make_workspace(home, shared_media)
    return home


@pytest.fixture
def published(desk: Path, tmp_path: Path) -> tuple[Path, Path]:
    """report.json + .sig and desk.pub as a reader receives them, far from the workspace."""
    out = tmp_path / "published"
    out.mkdir()
    run(desk, "report", "1", "--format", "json", "--out", str(out / "report.json"))
    pub = out / "desk.pub"
    pub.write_bytes((desk / "keys" / "desk.pub").read_bytes())
    return out / "report.json", pub


def reader(tmp_path: Path, *args: str) -> tuple[int, dict, str]:
    """verify-report with a workspace that does not exist (and must not be created)."""
    nowhere = tmp_path / "no-workspace"
    proc = run(nowhere, "verify-report", *args, "--json", check=False, cwd=tmp_path)
    assert not nowhere.exists()
    return proc.returncode, json.loads(proc.stdout), proc.stderr


def test_keys_init_private_key_stays_private(desk: Path) -> None:
    key = desk / "keys" / "desk.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    pem = key.read_text()
    assert "PRIVATE KEY" in pem
    body = "".join(pem.splitlines()[1:-1])
    for path in desk.rglob("*"):
        if path.is_file() and path != key and path.suffix in (".json", ".html", ".sig", ".jsonl"):
            assert body not in path.read_text(errors="replace"), path
    again = run(desk, "keys", "init", check=False)
    assert again.returncode != 0 and "already exists" in again.stderr
    assert key.read_text() == pem


def test_report_carries_fingerprint(desk: Path) -> None:
    report = json.loads((desk / "derived" / clip_sha(desk, 1) / "report.json").read_text())
    sig = report["signature"]
    assert sig["algorithm"] == "Ed25519" and sig["signed_file"] == "report.json.sig"
    pub_check = verify_report_file(
        desk / "derived" / clip_sha(desk, 1) / "report.json", key_path=desk / "keys" / "desk.pub"
    )
    assert pub_check.ok and pub_check.pinned and pub_check.fingerprint == sig["key_fingerprint"]


def test_pinned_report_verifies_without_workspace(
    published: tuple[Path, Path], tmp_path: Path
) -> None:
    report, pub = published
    rc, result, _ = reader(tmp_path, str(report), "--key", str(pub))
    assert rc == 0 and result["ok"] and result["pinned"]
    data = json.loads(report.read_text())
    head = data["custody_head"]
    assert (head["seq"], head["hash"]) == (data["custody"][-1]["seq"], data["custody"][-1]["hash"])
    assert result["custody_heads"] == [
        {"clip_sha256": data["clip"]["sha256"], **head, "recorded": True}
    ]
    assert result["timestamp"] is None
    text = run(tmp_path / "nowhere", "verify-report", str(report), cwd=tmp_path).stdout
    assert f"custody head: event {head['seq']} {head['hash']}" in text and "no timestamp" in text


def test_unpinned_report_says_so(published: tuple[Path, Path], tmp_path: Path) -> None:
    report, _ = published
    rc, result, err = reader(tmp_path, str(report))
    assert rc == 0 and result["ok"] and not result["pinned"]
    assert "unpinned" in result["warnings"][0] and "unpinned" in err


def test_one_changed_character_fails(published: tuple[Path, Path], tmp_path: Path) -> None:
    report, pub = published
    text = report.read_text()
    i = text.index('"filename": "with-gps.mov"') + len('"filename": "w')
    report.write_text(text[:i] + "X" + text[i + 1 :])
    rc, result, _ = reader(tmp_path, str(report), "--key", str(pub))
    assert rc == 1 and any("bad signature" in p for p in result["problems"])


def test_reindented_report_still_verifies(published: tuple[Path, Path], tmp_path: Path) -> None:
    """The signature covers the canonical form: whitespace is not content."""
    report, pub = published
    report.write_text(json.dumps(json.loads(report.read_text()), indent=None))
    assert reader(tmp_path, str(report), "--key", str(pub))[0] == 0


def test_edited_custody_in_report_fails_twice(published: tuple[Path, Path], tmp_path: Path) -> None:
    report, pub = published
    data = json.loads(report.read_text())
    data["custody"][0]["actor"] = "mallory"
    report.write_text(json.dumps(data))
    rc, result, _ = reader(tmp_path, str(report), "--key", str(pub))
    assert rc == 1
    assert any("bad signature" in p for p in result["problems"])
    assert any("custody event 1: edited" in p for p in result["problems"])


def test_report_signed_by_another_key(published: tuple[Path, Path], tmp_path: Path) -> None:
    report, pub = published
    data = json.loads(report.read_text())
    data["status"] = "verified"  # the forger's edit, re-signed with the forger's key
    forger = load_private(init_keys(tmp_path / "forger").private_path.parent)
    assert forger is not None
    data["signature"] = signature_block(forger)
    report.write_text(json.dumps(data, indent=2))
    report.with_name("report.json.sig").write_text(sign_report(data, forger))
    rc, result, _ = reader(tmp_path, str(report), "--key", str(pub))
    assert rc == 1 and "signed by another key" in result["problems"][0]
    rc, result, _ = reader(tmp_path, str(report))  # unpinned: only says it is unpinned
    assert rc == 0 and not result["pinned"]


def test_missing_signature_file(published: tuple[Path, Path], tmp_path: Path) -> None:
    report, pub = published
    report.with_name("report.json.sig").unlink()
    rc, result, _ = reader(tmp_path, str(report), "--key", str(pub))
    assert rc == 1 and "unsigned" in result["problems"][0]


def test_report_of_a_desk_without_key_is_unsigned(tmp_path: Path, shared_media: Path) -> None:
    home = tmp_path / "ws"
    make_workspace(home, shared_media, keys=False)
    report = home / "derived" / clip_sha(home, 1) / "report.json"
    assert json.loads(report.read_text())["signature"] is None
    assert not report.with_name("report.json.sig").exists()
    rc, result, _ = reader(tmp_path, str(report))
    assert rc == 1 and result["problems"][0].startswith("unsigned")


def test_bad_inputs(tmp_path: Path, published: tuple[Path, Path]) -> None:
    report, _ = published
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    assert run(tmp_path / "none", "verify-report", str(junk), check=False).returncode != 0
    not_a_key = tmp_path / "k.pub"
    not_a_key.write_text("hello")
    proc = run(
        tmp_path / "none", "verify-report", str(report), "--key", str(not_a_key), check=False
    )
    assert proc.returncode != 0 and "not a public key" in proc.stderr
    with pytest.raises(InputError):
        verify_report_file(tmp_path / "absent.json")


def test_case_report_json_is_signed(desk: Path, tmp_path: Path) -> None:
    out = tmp_path / "case.json"
    run(desk, "report", "--case", "kursk", "--format", "json", "--out", str(out))
    check = verify_report_file(out, key_path=desk / "keys" / "desk.pub")
    assert check.ok, check.problems
    assert os.path.exists(str(out) + ".sig")

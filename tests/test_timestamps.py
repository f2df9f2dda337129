"""RFC 3161 timestamps of signed reports, from a real `openssl ts` responder on 127.0.0.1."""

from __future__ import annotations

import json
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from custody_helpers import clip_sha, make_workspace, run, sql, titled_clip
from tsaserver import Tsa, make_ca, tsa_server


@pytest.fixture(scope="module")
def tsa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tsa]:
    if shutil.which("openssl") is None:
        pytest.fail("openssl is missing")
    with tsa_server(tmp_path_factory.mktemp("tsa")) as server:
        yield server


def configure(home: Path, url: str, ca: Path | str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(
        f'[custody]\ntsa_url = "{url}"\ntsa_ca_file = "{ca}"\ntsa_timeout_s = 5.0\n'
    )


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory, shared_media: Path, tsa: Tsa) -> Path:
    home = tmp_path_factory.mktemp("stamped") / "ws"
    configure(home, tsa.url, tsa.ca)
    make_workspace(home, shared_media)
    return home


def report_of(home: Path, clip_id: int) -> Path:
    return home / "derived" / clip_sha(home, clip_id) / "report.json"


def published(desk: Path, tmp_path: Path, clip_id: int = 1) -> Path:
    """report.json, .sig and .tsr as a reader receives them."""
    src = report_of(desk, clip_id)
    out = tmp_path / f"sent{clip_id}"
    out.mkdir()
    for name in ("report.json", "report.json.sig", "report.json.tsr"):
        shutil.copyfile(src.with_name(name), out / name)
    return out / "report.json"


def check(tmp_path: Path, report: Path, *args: str) -> tuple[int, dict, str]:
    proc = run(tmp_path / "nowhere", "verify-report", str(report), "--json", *args, check=False)
    assert "Traceback" not in proc.stderr
    return proc.returncode, json.loads(proc.stdout), proc.stderr


def last_report_event(home: Path, clip_id: int) -> dict:
    (details,) = sql(
        home,
        "SELECT details FROM custody_events WHERE clip_id=? AND action='report_generated' "
        "ORDER BY seq DESC LIMIT 1",
        clip_id,
    )[0]
    return json.loads(details)


def test_signed_report_is_timestamped_and_recorded(desk: Path, tsa: Tsa, tmp_path: Path) -> None:
    token = report_of(desk, 1).with_name("report.json.tsr")
    assert token.is_file() and 1000 < token.stat().st_size < 10_000
    details = last_report_event(desk, 1)
    stamp = details["timestamp"]
    assert stamp["tsa_url"] == tsa.url and stamp["file"] == "report.json.tsr"
    assert any(k.endswith("/report.json.tsr") for k in details["outputs"])  # re-hashed by verify
    assert run(desk, "verify", "--all").returncode == 0
    report = published(desk, tmp_path)
    rc, result, _ = check(tmp_path, report, "--tsa-ca", str(tsa.ca))
    assert rc == 0, result
    assert result["timestamp"]["time"] == stamp["time"]
    assert "osint-video test TSA" in result["timestamp"]["tsa"]
    text = run(tmp_path / "nowhere", "verify-report", str(report), "--tsa-ca", str(tsa.ca)).stdout
    assert f"timestamp: {stamp['time']} by " in text


def test_report_out_carries_its_token(desk: Path, tsa: Tsa, tmp_path: Path) -> None:
    out = tmp_path / "sent.json"
    run(desk, "report", "1", "--format", "json", "--out", str(out))
    assert (tmp_path / "sent.json.tsr").is_file()
    rc, result, _ = check(tmp_path, out, "--tsa-ca", str(tsa.ca))
    assert rc == 0 and result["timestamp"]["file"] == "sent.json.tsr"


def test_token_of_another_report_fails(desk: Path, tsa: Tsa, tmp_path: Path) -> None:
    report = published(desk, tmp_path, 1)
    other = report_of(desk, 2).with_name("report.json.tsr")
    shutil.copyfile(other, report.with_name("report.json.tsr"))
    rc, result, _ = check(tmp_path, report, "--tsa-ca", str(tsa.ca))
    assert rc == 1 and result["timestamp"] is None
    assert any("timestamp" in p and "imprint mismatch" in p for p in result["problems"]), result


def test_tampered_token_fails(desk: Path, tsa: Tsa, tmp_path: Path) -> None:
    """The time inside the token moved a year back: the TSA's signature no longer holds."""
    report = published(desk, tmp_path)
    token = report.with_name("report.json.tsr")
    data = token.read_bytes()
    at = data.index(b"\x18\x0f") + 2  # GeneralizedTime, 15 bytes: YYYYMMDDHHMMSSZ
    year = int(data[at : at + 4])
    token.write_bytes(data[:at] + str(year - 1).encode() + data[at + 4 :])
    rc, result, _ = check(tmp_path, report, "--tsa-ca", str(tsa.ca))
    assert rc == 1 and any(p.startswith("timestamp:") for p in result["problems"]), result
    token.write_bytes(b"\x30\x03\x02\x01\x00")  # not a token at all
    rc, result, _ = check(tmp_path, report, "--tsa-ca", str(tsa.ca))
    assert rc == 1 and any(p.startswith("timestamp:") for p in result["problems"]), result


def test_token_from_an_untrusted_tsa_fails(desk: Path, tmp_path: Path) -> None:
    make_ca(tmp_path / "other")
    report = published(desk, tmp_path)
    rc, result, _ = check(tmp_path, report, "--tsa-ca", str(tmp_path / "other" / "ca.pem"))
    assert rc == 1 and any("certificate verify error" in p for p in result["problems"]), result


def test_report_without_token_verifies_and_says_so(desk: Path, tmp_path: Path) -> None:
    report = published(desk, tmp_path)
    report.with_name("report.json.tsr").unlink()
    rc, result, _ = check(tmp_path, report)
    assert rc == 0 and result["ok"] and result["timestamp"] is None
    text = run(tmp_path / "nowhere", "verify-report", str(report)).stdout
    assert "no timestamp" in text


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_tsa_down_is_recorded_and_not_fatal(tmp_path: Path, tsa: Tsa) -> None:
    home = tmp_path / "ws"
    configure(home, f"http://127.0.0.1:{closed_port()}/tsr", tsa.ca)
    run(home, "keys", "init")
    clip = titled_clip(tmp_path / "clip.mp4", "plain")
    proc = run(home, "triage", str(clip))
    assert "Traceback" not in proc.stderr
    report = report_of(home, 1)
    assert report.is_file() and report.with_name("report.json.sig").is_file()
    assert not report.with_name("report.json.tsr").exists()
    stamp = last_report_event(home, 1)["timestamp"]
    assert "error" in stamp and "did not answer" in stamp["error"] and "file" not in stamp
    assert run(home, "verify", "--all").returncode == 0
    assert "no timestamp" in run(home, "verify-report", str(report)).stdout


def test_stale_token_removed_when_the_tsa_is_down(desk: Path, tmp_path: Path) -> None:
    """A report re-signed while the TSA is down must not keep the old token beside it."""
    home = tmp_path / "ws"
    shutil.copytree(desk, home, symlinks=True)
    configure(home, f"http://127.0.0.1:{closed_port()}/tsr", "")
    run(home, "report", "1", "--format", "json")
    assert not report_of(home, 1).with_name("report.json.tsr").exists()
    assert run(home, "verify", "--all").returncode == 0

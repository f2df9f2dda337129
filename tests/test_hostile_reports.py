"""`verify-report` on reports crafted to stall or crash it: one line, exit code 2, under 2 s
of CPU (wall time is checked too, loosely: the test machine is shared).

Each file is thrown at the real CLI in a subprocess (the way a reader runs it), next to a report
that is well formed and signed, so every case differs from a valid report by the one thing it
tests. The work must be bounded by the file's own size whatever it states.
"""

from __future__ import annotations

import base64
import json
import os
import random
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from custody_helpers import run

from osint_video.custody.chain import GENESIS, event_hash
from osint_video.custody.reportfile import nesting_depth
from osint_video.custody.signing import init_keys, load_private, sign_report, signature_block
from osint_video.models import CustodyEvent

SHA = "ab" * 32
BUDGET_S = 2.0
MB = 1_000_000


def chain(n: int) -> list[dict[str, Any]]:
    out, prev = [], GENESIS
    for seq in range(1, n + 1):
        ev = CustodyEvent(seq, "2026-01-01T00:00:00.000000Z", "ana", f"step{seq}", {"n": seq}, prev)
        digest = event_hash(SHA, ev)
        out.append({**ev.__dict__, "hash": digest})
        prev = digest
    return out


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> Any:
    found = load_private(init_keys(tmp_path_factory.mktemp("desk") / "keys").private_path.parent)
    assert found is not None
    return found


def signed(key: Any, **extra: Any) -> dict[str, Any]:
    custody = chain(4)
    report = {
        "schema_version": "1.4",
        "clip": {"sha256": SHA, "filename": "x.mp4"},
        "custody": custody,
        "custody_head": {k: custody[-1][k] for k in ("seq", "hash", "at")},
        **extra,
    }
    report["signature"] = signature_block(key)
    return report


def verify_report(tmp_path: Path, report: Path, *args: str) -> tuple[int, str, str, float]:
    """Run the CLI; returns the CPU seconds it used (the work, whatever else loads the
    machine) after checking that its wall time shows no wait (a FIFO, a lock, a network)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = run(tmp_path / "no-workspace", "verify-report", str(report), *args, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert wall < 5 * BUDGET_S, f"{report.name}: {wall:.1f} s wall, {cpu:.1f} s CPU"
    return proc.returncode, proc.stdout, proc.stderr, cpu


def write(folder: Path, data: bytes, sig: bytes | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "report.json"
    path.write_bytes(data)
    if sig is not None:
        (folder / "report.json.sig").write_bytes(sig)
    return path


def dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


def mutated(change: Callable[[dict[str, Any]], None]) -> Callable[[Any], bytes]:
    def build(key: Any) -> bytes:
        report = signed(key)
        change(report)
        return dumps(report)

    return build


def setter(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """Set report[a][b]... where `path` is 'a.b.0.c'."""

    def change(report: dict[str, Any]) -> None:
        keys: list[Any] = [int(k) if k.isdigit() else k for k in path.split(".")]
        node: Any = report
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value

    return change


def padding(key: Any) -> bytes:
    """9.9 MB of valid JSON that is no report: a million small objects (the slowest to parse)."""
    unit = b'{"a":1},'
    body = unit * ((int(9.9 * MB) - 20) // len(unit))
    return b'{"padding":[' + body + b'{"a":1}]}'


def text_with(old: str, new: str) -> Callable[[Any], bytes]:
    def build(key: Any) -> bytes:
        text = json.dumps(signed(key))
        assert old in text
        return text.replace(old, new, 1).encode()

    return build


HOSTILE: dict[str, Callable[[Any], bytes]] = {
    "huge seq": mutated(setter("custody.1.seq", 1_000_000_000)),
    "huge head seq": mutated(setter("custody_head.seq", 1_000_000_000)),
    "NaN": text_with('"n": 2', '"n": NaN'),
    "Infinity": text_with('"n": 2', '"n": Infinity'),
    "-Infinity": text_with('"n": 2', '"n": -Infinity'),
    "1e999": text_with('"n": 2', '"n": 1e999'),
    "5000-digit integer": text_with('"n": 2', '"n": ' + "9" * 5000),
    "100k [": lambda key: b"[" * 100_000,
    "100k [ inside a report": text_with('"n": 2', '"n": ' + "[" * 100_000),
    "balanced nesting 150 deep": text_with('"n": 2', '"n": ' + "[" * 150 + "]" * 150),
    "10 MB of [": lambda key: b"[" * (int(9.9 * MB)),
    "unterminated string of escaped quotes": lambda key: b'{"a":"' + b'\\"' * (4 * MB),
    "custody not a list": mutated(setter("custody", {"0": 1})),
    "event not a dict": mutated(setter("custody.0", "acquired")),
    "event details not a dict": mutated(setter("custody.0.details", [])),
    "hash not a string": mutated(setter("custody.0.hash", 12)),
    "hash not hex": mutated(setter("custody.0.hash", "z" * 64)),
    "prev_hash a list": mutated(setter("custody.1.prev_hash", [])),
    "seq a float": mutated(setter("custody.0.seq", 1.0)),
    "seq a bool": mutated(setter("custody.0.seq", True)),
    "seq a string": mutated(setter("custody.0.seq", "1")),
    "seq negative": mutated(setter("custody.0.seq", -1)),
    "at a number": mutated(setter("custody.0.at", 0)),
    "action null": mutated(setter("custody.0.action", None)),
    "clip not an object": mutated(setter("clip", "x")),
    "clip sha256 not a string": mutated(setter("clip.sha256", 7)),
    "custody_head not an object": mutated(setter("custody_head", [1])),
    "custody_head hash a number": mutated(setter("custody_head.hash", 1)),
    "signature not an object": mutated(setter("signature", "Ed25519")),
    "signature algorithm RSA": mutated(setter("signature.algorithm", "RSA")),
    "public key 33 bytes": mutated(
        setter("signature.public_key", base64.b64encode(b"\x02" * 33).decode())
    ),
    "public key not base64": mutated(setter("signature.public_key", "!!")),
    "fingerprint 10 MB": mutated(setter("signature.key_fingerprint", "sha256:" + "a" * 5 * MB)),
    "report_type not case": mutated(setter("report_type", ["case"])),
    "case clips not a list": lambda key: dumps({"report_type": "case", "clips": {}}),
    "case clip not an object": lambda key: dumps({"report_type": "case", "clips": [3]}),
    "duplicate keys": lambda key: b'{"clip": {"sha256": "' + SHA.encode() + b'"}, "clip": {}}',
    "invalid UTF-8": lambda key: dumps(signed(key)).replace(b"x.mp4", b"x\xff.mp4"),
    "byte order mark": lambda key: b"\xef\xbb\xbf" + dumps(signed(key)),
    "empty file": lambda key: b"",
    "only whitespace": lambda key: b" \n\t ",
    "a JSON array": lambda key: b"[]",
    "a JSON number": lambda key: b"1",
    "9.9 MB of valid JSON padding": padding,
    "over the size cap": lambda key: b" " * (10 * MB + 1),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_report_is_one_line_exit_2(key: Any, tmp_path: Path, name: str) -> None:
    data = HOSTILE[name](key)
    report = write(tmp_path / "r", data, b"A" * 86 + b"==\n")
    rc, out, err, seconds = verify_report(tmp_path, report)
    assert rc == 2, (name, rc, out[:500], err[:500])
    assert "Traceback" not in err and out == ""
    assert len(err.strip().splitlines()) == 1 and len(err) < 400, err[:1000]
    assert seconds < BUDGET_S, f"{name}: {seconds:.2f} s"


@pytest.mark.parametrize(
    "sig",
    [
        pytest.param(bytes(random.Random(1).randrange(256) for _ in range(88)), id="garbage"),
        pytest.param(base64.b64encode(b"\x01" * 63) + b"\n", id="63 bytes"),
        pytest.param(base64.b64encode(b"\x01" * 65) + b"\n", id="65 bytes"),
        pytest.param(b"not base64 at all\n", id="not base64"),
        pytest.param(b"A" * 2000, id="2 kB"),
        pytest.param("é".encode() * 44, id="not ascii"),
    ],
)
def test_hostile_signature_file(key: Any, tmp_path: Path, sig: bytes) -> None:
    report = write(tmp_path / "r", dumps(signed(key)), sig)
    rc, out, err, seconds = verify_report(tmp_path, report)
    assert rc == 2 and out == "" and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1 and "signature file" in err
    assert seconds < BUDGET_S


@pytest.mark.parametrize("kind", ["fifo", "directory", "device", "absent"])
def test_report_that_is_no_file(tmp_path: Path, kind: str) -> None:
    """A FIFO would block a plain open() until someone writes to it; /dev/zero never ends."""
    path = tmp_path / "report.json"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    elif kind == "device":
        path = Path("/dev/zero")
    rc, out, err, seconds = verify_report(tmp_path, path)
    assert rc == 2 and out == "" and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err and seconds < BUDGET_S


def test_key_of_another_type_is_exit_2(key: Any, tmp_path: Path) -> None:
    data = dumps(signed(key))
    report = write(tmp_path / "r", data, sign_report(json.loads(data), key).encode())
    ec_pub = tmp_path / "ec.pub"
    ec_pub.write_bytes(
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    rc, out, err, _ = verify_report(tmp_path, report, "--key", str(ec_pub))
    assert rc == 2 and out == "" and "not an Ed25519 public key" in err
    assert len(err.strip().splitlines()) == 1


def test_honest_base_report_verifies(key: Any, tmp_path: Path) -> None:
    """The battery's base is valid: each hostile case fails for what it changed, nothing else."""
    report_data = signed(key)
    report = write(tmp_path / "r", dumps(report_data), sign_report(report_data, key).encode())
    rc, out, err, seconds = verify_report(tmp_path, report)
    assert rc == 0, out + err
    assert "custody head: event 4" in out and "no timestamp" in out


def test_large_valid_report_checked_in_time(key: Any, tmp_path: Path) -> None:
    """9.9 MB that is a well-formed signed report (padding in an extra key) is fully checked:
    parsed, canonicalised, signature and chain, within the same budget."""
    unit = {"a": 1}
    report_data = signed(key, padding=[unit] * ((int(9.9 * MB) - 2000) // 8))
    data = json.dumps(report_data, separators=(",", ":")).encode()
    assert 9.5 * MB < len(data) < 10 * MB
    report = write(tmp_path / "r", data, sign_report(report_data, key).encode())
    rc, out, err, seconds = verify_report(tmp_path, report)
    assert rc == 0 and out.startswith("VALID"), out + err
    assert seconds < BUDGET_S, f"{seconds:.2f} s"


def test_report_with_every_event_broken_is_bounded(key: Any, tmp_path: Path) -> None:
    """A well-shaped report whose events are all broken: checked (exit 1), in time."""
    report_data = signed(key)
    for e in report_data["custody"]:
        e["actor"] = "mallory"
    report = write(tmp_path / "r", dumps(report_data), sign_report(report_data, key).encode())
    rc, out, _, seconds = verify_report(tmp_path, report)
    assert rc == 1 and "custody event 1: edited" in out and seconds < BUDGET_S


def test_size_cap_is_config(key: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    report_data = signed(key)
    report = write(tmp_path / "r", dumps(report_data), sign_report(report_data, key).encode())
    assert verify_report(tmp_path, report)[0] == 0
    monkeypatch.setenv("OSINT_VIDEO__CUSTODY__MAX_REPORT_MB", "0.0001")
    rc, _, err, _ = verify_report(tmp_path, report)
    assert rc == 2 and "over the 100-byte limit" in err


def reference_depth(data: bytes) -> int:
    """Depth by walking byte by byte (a quote after an odd run of backslashes is escaped)."""
    depth = deepest = 0
    inside, run_ = False, 0
    for c in data:
        if c == 0x5C:
            run_ += 1
            continue
        odd, run_ = run_ % 2 == 1, 0
        if c == 0x22 and not odd:
            inside = not inside
        elif not inside and c in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        elif not inside and c in b"]}":
            depth -= 1
    return deepest


def test_nesting_depth_matches_a_byte_walk() -> None:
    rng = random.Random(13)
    for _ in range(3000):
        data = bytes(rng.choice(b'[]{}"\\a') for _ in range(rng.randint(0, 40)))
        assert nesting_depth(data) == reference_depth(data), data
    real = json.dumps({"a": [{"b": '[[[{{{\\"]]'}, [[]]]}).encode()
    assert nesting_depth(real) == 4 == reference_depth(real)

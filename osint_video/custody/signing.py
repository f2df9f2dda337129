"""Ed25519 signatures on report.json, checkable by anyone with no workspace.

The desk key lives in WORKSPACE/keys/desk.key (PKCS#8 PEM, mode 0600); it is never printed
and never put in a report. desk.pub (SubjectPublicKeyInfo PEM) is what the desk publishes.

A report carries `signature: {algorithm, public_key, key_fingerprint, signed_file}`; the
detached signature (base64 of the 64-byte Ed25519 signature, one line) sits next to it in
`report.json.sig` and covers the canonical form of the whole report (`chain.canonical_bytes`),
so re-indenting report.json keeps it valid while any change to a key or value breaks it. The
embedded public key lets anyone check that the report was not changed since it was signed,
but proves nothing about WHO signed it: only a pinned key (`--key desk.pub`) does that.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..errors import InputError, MalformedReport, ReportError
from ..models import CustodyEvent
from .chain import canonical_bytes, check_chain
from .reportfile import KEY_MAX_BYTES, read_bounded, read_report, read_signature, short

ALGORITHM = "Ed25519"
KEY_NAME, PUB_NAME = "desk.key", "desk.pub"
DEFAULT_MAX_REPORT_BYTES = 10_000_000  # [custody] max_report_mb


@dataclass(frozen=True)
class KeyInfo:
    """Where a desk key pair is and how readers recognise it."""

    private_path: Path
    public_path: Path
    fingerprint: str


def raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def fingerprint(key: Ed25519PublicKey) -> str:
    """`sha256:<hex>` of the 32 raw public key bytes."""
    return "sha256:" + hashlib.sha256(raw_public(key)).hexdigest()


def init_keys(keys_dir: Path) -> KeyInfo:
    """Create the desk key pair; refuses to replace an existing key (reports signed with it
    could no longer be checked against a new one).

    Raises:
        InputError: a key already exists.
    """
    priv_path, pub_path = keys_dir / KEY_NAME, keys_dir / PUB_NAME
    if priv_path.exists() or pub_path.exists():
        raise InputError(f"a desk key already exists in {keys_dir}: not replacing it")
    keys_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(keys_dir, 0o700)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(priv_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    pub = key.public_key()
    pub_path.write_bytes(
        pub.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return KeyInfo(priv_path, pub_path, fingerprint(pub))


def load_private(keys_dir: Path) -> Ed25519PrivateKey | None:
    """The desk's private key, or None when `keys init` was never run."""
    path = keys_dir / KEY_NAME
    if not path.is_file():
        return None
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise ReportError(f"the desk key {path} cannot be read: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ReportError(f"the desk key {path} is not an Ed25519 key")
    return key


def load_public(path: Path) -> Ed25519PublicKey:
    """A public key from a PEM file (or a file holding the base64 of its 32 raw bytes).

    Raises:
        MalformedReport: unreadable, too large, or not an Ed25519 public key (exit code 2:
            nothing could be checked against it).
    """
    data = read_bounded(path, KEY_MAX_BYTES, "public key")
    try:
        if b"BEGIN" in data:
            key = serialization.load_pem_public_key(data)
        else:
            key = Ed25519PublicKey.from_public_bytes(base64.b64decode(data.strip(), validate=True))
    except (ValueError, TypeError, binascii.Error, UnsupportedAlgorithm) as exc:
        raise MalformedReport(f"{path} is not a public key: {short(str(exc), 120)}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise MalformedReport(f"{path} is not an Ed25519 public key ({type(key).__name__})")
    return key


def signature_block(key: Ed25519PrivateKey, signed_file: str = "report.json") -> dict[str, str]:
    """The `signature` entry of a report signed with `key` (public facts only)."""
    pub = key.public_key()
    return {
        "algorithm": ALGORITHM,
        "public_key": base64.b64encode(raw_public(pub)).decode("ascii"),
        "key_fingerprint": fingerprint(pub),
        "signed_file": f"{signed_file}.sig",
    }


def sign_report(report: dict[str, Any], key: Ed25519PrivateKey) -> str:
    """The detached signature (base64 line) of a report that already holds its signature block."""
    return base64.b64encode(key.sign(canonical_bytes(report))).decode("ascii") + "\n"


@dataclass(frozen=True)
class ReportCheck:
    """The outcome of `verify-report`; `ok` only when every problem list is empty.

    `heads` are the custody heads the report commits to ({clip_sha256, seq, hash, at,
    recorded}: recorded is False when a report older than schema 1.4 only implies it by its last
    event); `timestamp` is the checked RFC 3161 token ({file, time, tsa, serial}) or None.
    """

    report: str
    fingerprint: str | None
    pinned: bool
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    heads: list[dict[str, Any]] = field(default_factory=list)
    timestamp: dict[str, str] | None = None
    kind: str = "clip"  # or "case"

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_json(self) -> dict[str, Any]:
        return {
            "report": self.report,
            "ok": self.ok,
            "pinned": self.pinned,
            "key_fingerprint": self.fingerprint,
            "problems": self.problems,
            "warnings": self.warnings,
            "custody_heads": self.heads,
            "timestamp": self.timestamp,
        }


UNPINNED = (
    "key unpinned: checked against the key inside the report, which anyone re-signing an "
    "edited report could replace; pass --key desk.pub from the desk to know who signed it"
)


def verify_report_file(
    path: Path,
    *,
    key_path: Path | None = None,
    sig_path: Path | None = None,
    max_bytes: int = DEFAULT_MAX_REPORT_BYTES,
    tsa_ca: str = "",
    timestamps: bool = True,
) -> ReportCheck:
    """Check a published report.json on its own: signature, key, custody chain and head, and
    its RFC 3161 timestamp. The work is bounded by the file's size (see `reportfile`).

    Args:
        path: the report.json file.
        key_path: the desk's published desk.pub; without it the embedded key is used and the
            result says the key is unpinned.
        sig_path: the detached signature (default: `<report>.sig` beside it).
        max_bytes: larger report files are refused before they are read.
        tsa_ca: the TSA's CA certificate (PEM) the timestamp must chain to (empty: the
            system's trusted certificates).
        timestamps: check the timestamp token beside the signature (`verify` does not: it
            re-hashes the token instead).

    Returns:
        A ReportCheck naming every problem found.

    Raises:
        MalformedReport: the report, its signature file or the key cannot be read as what they
            claim to be (too large, not strict JSON, wrong types): nothing was checked.
    """
    pinned = load_public(key_path) if key_path is not None else None
    report = read_report(path, max_bytes)
    return check_report(report, path, pinned, sig_path, tsa_ca, timestamps)


def check_report(
    report: dict[str, Any],
    path: Path,
    pinned: Ed25519PublicKey | None = None,
    sig_path: Path | None = None,
    tsa_ca: str = "",
    timestamps: bool = True,
) -> ReportCheck:
    """`verify_report_file` for a report already read by `reportfile.read_report`.

    Raises:
        MalformedReport: the signature file is not one Ed25519 signature.
    """
    sig_path = sig_path or path.with_name(path.name + ".sig")
    signature = read_signature(sig_path)
    block = report.get("signature")
    problems = _chain_problems(report)
    heads = report_heads(report)
    kind = "case" if report.get("report_type") == "case" else "clip"
    if block is None:
        problems.insert(0, "unsigned: the report has no signature block")
        return ReportCheck(str(path), None, False, problems, heads=heads, kind=kind)
    key, key_problems = _pick_key(block, pinned)
    problems[:0] = key_problems
    if key is not None:
        problems[:0] = _signature_problems(report, key, signature, sig_path)
    warnings = [] if pinned else [UNPINNED]
    stamp = None
    if timestamps and signature is not None:
        stamp = _timestamp(sig_path, tsa_ca, problems, warnings)
    fp = block["key_fingerprint"]
    return ReportCheck(str(path), fp, pinned is not None, problems, warnings, heads, stamp, kind)


def _pick_key(
    block: dict[str, Any], pinned: Ed25519PublicKey | None
) -> tuple[Ed25519PublicKey | None, list[str]]:
    """The key to check the signature with: the pinned one, else the embedded one (which must
    match the fingerprint the report declares). Shapes are checked already."""
    declared = block["key_fingerprint"]
    if pinned is not None:
        if fingerprint(pinned) != declared:
            why = (
                f"signed by another key: the report names {declared}, the key given is "
                f"{fingerprint(pinned)}"
            )
            return None, [why]
        return pinned, []
    try:
        embedded = Ed25519PublicKey.from_public_bytes(base64.b64decode(block["public_key"]))
    except ValueError:
        raise MalformedReport("signature.public_key is not an Ed25519 public key") from None
    if fingerprint(embedded) != declared:
        return None, ["the embedded public key does not match the declared fingerprint"]
    return embedded, []


def _signature_problems(
    report: dict[str, Any], key: Ed25519PublicKey, signature: bytes | None, sig: Path
) -> list[str]:
    if signature is None:
        return [f"unsigned: no signature file {sig.name} beside the report"]
    try:
        key.verify(signature, canonical_bytes(report))
    except InvalidSignature:
        return [
            "bad signature: the report was changed after it was signed (or signed by another key)"
        ]
    return []


def _chain_problems(report: dict[str, Any]) -> list[str]:
    """The custody chain carried in a clip report must hold on its own, and its declared head
    must be its last event. Shapes are checked already (`reportfile.shape_problem`)."""
    if report.get("report_type") == "case":
        return []  # a case report summarises clips; each clip's report carries its chain
    sha = report["clip"]["sha256"]
    events = [CustodyEvent.from_report(e) for e in report["custody"]]
    found = [f"custody event {p.seq}: {p.kind}: {p.message}" for p in check_chain(sha, events)]
    head, last = report.get("custody_head"), max(events, key=lambda e: e.seq, default=None)
    if head is not None and (
        last is None or (head["seq"], head["hash"], head["at"]) != (last.seq, last.hash, last.at)
    ):
        ends = f"event {last.seq} ({last.hash})" if last else "no event"
        found.append(
            f"custody_head names event {head['seq']} ({head['hash']}) but the custody log in "
            f"the report ends at {ends}"
        )
    return found


def report_heads(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The custody heads a (shape-checked) report commits to, one per clip it covers."""
    if report.get("report_type") == "case":
        return [
            _head(c["sha256"], c["custody_head"], True)
            for c in report["clips"]
            if c.get("custody_head")
        ]
    sha, head = report["clip"]["sha256"], report.get("custody_head")
    if head is not None:
        return [_head(sha, head, True)]
    last = max(report["custody"], key=lambda e: e["seq"], default=None)
    if last is None or last.get("hash") is None:
        return []
    return [_head(sha, last, False)]


def _head(sha: str, entry: dict[str, Any], recorded: bool) -> dict[str, Any]:
    """Only the fields a head has (a hostile report may add megabytes beside them)."""
    return {
        "clip_sha256": sha,
        "seq": entry["seq"],
        "hash": entry["hash"],
        "at": entry["at"],
        "recorded": recorded,
    }


def _timestamp(
    sig_path: Path, tsa_ca: str, problems: list[str], warnings: list[str]
) -> dict[str, str] | None:
    """Check the RFC 3161 token beside the signature, when there is one."""
    from .timestamp import TimestampError, check_stamp, token_path

    token = token_path(sig_path)
    if not token.exists():
        return None
    if shutil.which("openssl") is None:
        warnings.append(f"timestamp {token.name} not checked: openssl is not installed")
        return None
    try:
        stamp = check_stamp(token, sig_path, tsa_ca)
    except (TimestampError, OSError) as exc:
        problems.append(f"timestamp: {exc}")
        return None
    return {"file": token.name, "time": stamp.time, "tsa": stamp.tsa, "serial": stamp.serial}

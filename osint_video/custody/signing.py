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
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..errors import InputError, ReportError
from .chain import Event, canonical_bytes, check_chain

ALGORITHM = "Ed25519"
KEY_NAME, PUB_NAME = "desk.key", "desk.pub"


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
        InputError: unreadable, or not an Ed25519 public key.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the key {path}: {exc.strerror or exc}") from None
    try:
        if b"BEGIN" in data:
            key = serialization.load_pem_public_key(data)
        else:
            key = Ed25519PublicKey.from_public_bytes(base64.b64decode(data.strip(), validate=True))
    except (ValueError, TypeError, binascii.Error) as exc:
        raise InputError(f"{path} is not a public key: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise InputError(f"{path} is not an Ed25519 public key")
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
    """The outcome of `verify-report`; `ok` only when every problem list is empty."""

    report: str
    fingerprint: str | None
    pinned: bool
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

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
        }


def verify_report_file(
    path: Path, *, key_path: Path | None = None, sig_path: Path | None = None
) -> ReportCheck:
    """Check a published report.json on its own: signature, key, and its custody chain.

    Args:
        path: the report.json file.
        key_path: the desk's published desk.pub; without it the embedded key is used and the
            result says the key is unpinned.
        sig_path: the detached signature (default: `<report>.sig` beside it).

    Returns:
        A ReportCheck naming every problem found.

    Raises:
        InputError: the report cannot be read or is not JSON.
    """
    report = _read_json(path)
    sig_path = sig_path or path.with_name(path.name + ".sig")
    block = report.get("signature") if isinstance(report.get("signature"), dict) else None
    fp = block.get("key_fingerprint") if block else None
    problems = _chain_problems(report)
    if block is None:
        problems.insert(0, "unsigned: the report has no signature block")
        return ReportCheck(str(path), None, False, problems)
    key, pinned, key_problems = _pick_key(block, key_path)
    problems[:0] = key_problems
    if key is not None:
        problems[:0] = _signature_problems(report, key, sig_path)
    warnings = (
        []
        if pinned
        else [
            "key unpinned: checked against the key inside the report, which anyone re-signing an "
            "edited report could replace; pass --key desk.pub from the desk to know who signed it"
        ]
    )
    return ReportCheck(str(path), fp, pinned, problems, warnings)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise InputError(f"{path} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InputError(f"{path} is not a report (not a JSON object)")
    return data


def _pick_key(
    block: dict[str, Any], key_path: Path | None
) -> tuple[Ed25519PublicKey | None, bool, list[str]]:
    declared = block.get("key_fingerprint")
    try:
        embedded = Ed25519PublicKey.from_public_bytes(base64.b64decode(block["public_key"]))
    except (KeyError, ValueError, TypeError, binascii.Error):
        embedded = None
    if key_path is not None:
        pinned = load_public(key_path)
        if fingerprint(pinned) != declared:
            return (
                None,
                True,
                [
                    f"signed by another key: the report names {declared}, the key given is "
                    f"{fingerprint(pinned)}"
                ],
            )
        return pinned, True, []
    if embedded is None:
        return None, False, ["the embedded public key is unreadable"]
    if fingerprint(embedded) != declared:
        return None, False, ["the embedded public key does not match the declared fingerprint"]
    return embedded, False, []


def _signature_problems(report: dict[str, Any], key: Ed25519PublicKey, sig: Path) -> list[str]:
    try:
        signature = base64.b64decode(sig.read_text("ascii").strip(), validate=True)
    except FileNotFoundError:
        return [f"unsigned: no signature file {sig.name} beside the report"]
    except (OSError, ValueError, binascii.Error) as exc:
        return [f"the signature file {sig.name} is unreadable: {exc}"]
    try:
        key.verify(signature, canonical_bytes(report))
    except InvalidSignature:
        return [
            "bad signature: the report was changed after it was signed (or signed by another key)"
        ]
    return []


def _chain_problems(report: dict[str, Any]) -> list[str]:
    """The custody chain carried in a clip report must hold on its own too."""
    if report.get("report_type") == "case":
        return []  # a case report summarises clips; each clip's report carries its chain
    custody = report.get("custody")
    sha = (report.get("clip") or {}).get("sha256")
    if not isinstance(custody, list) or not isinstance(sha, str):
        return ["the report has no custody log or clip sha256"]
    try:
        events = [Event.from_report(e) for e in custody]
    except (KeyError, TypeError, ValueError) as exc:
        return [f"custody entry malformed: {exc}"]
    return [f"custody event {p.seq}: {p.kind}: {p.message}" for p in check_chain(sha, events)]

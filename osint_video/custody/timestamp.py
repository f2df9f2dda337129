"""RFC 3161 timestamps of signed reports, from a timestamping authority (TSA) the desk chooses.

Our own signature says who signed a report; a TSA's token says when, which the desk's own clock
cannot prove. As in auto-archiver, the token covers the signature: its message imprint is the
SHA-256 of `report.json.sig` exactly as written, so anyone can check it with no workspace
(`openssl ts -verify -data report.json.sig -in report.json.tsr -CAfile tsa-ca.pem`). The token
(the TSA's whole TimeStampResp, DER) is kept as `report.json.tsr` beside the signature, and the
`report_generated` custody event names it with its hash.

OpenSSL builds the request and checks the answer (`openssl ts`): the request carries a nonce
and asks for the TSA's certificate; the answer must be granted, match our imprint and nonce,
and chain to the configured CA (or the system's trusted certificates). A TSA that is down,
slow or wrong is a `TimestampError` the caller records; it never stops a report.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..config import CustodyConfig
from ..errors import OsintVideoError

TOKEN_SUFFIX = ".tsr"
TOKEN_MAX_BYTES = 256 * 1024  # a token with a certificate chain weighs a few kB
OPENSSL_TIMEOUT_S = 20.0
log = logging.getLogger(__name__)


class TimestampError(OsintVideoError):
    """No timestamp could be obtained or checked (TSA down, bad answer, openssl missing)."""


@dataclass(frozen=True)
class Stamp:
    """A checked timestamp token: where it is, the time the TSA vouches for, who signed it."""

    token: Path
    time: str
    tsa: str
    serial: str


def token_path(sig_path: Path) -> Path:
    """`report.json.sig` -> `report.json.tsr`."""
    return sig_path.with_name(sig_path.name.removesuffix(".sig") + TOKEN_SUFFIX)


def imprint(sig_path: Path) -> str:
    """SHA-256 (hex) of the signature file: what the token covers."""
    return hashlib.sha256(sig_path.read_bytes()).hexdigest()


def request_stamp(sig_path: Path, url: str, ca_file: str, timeout_s: float) -> Stamp:
    """Ask the TSA at `url` for a token over `sig_path`, check it, save it beside the signature.

    Args:
        sig_path: the detached signature file just written.
        url: the TSA (HTTP POST, application/timestamp-query).
        ca_file: the TSA's CA certificate (PEM); empty: the system's trusted certificates.
        timeout_s: how long to wait for the TSA.

    Returns:
        The token, checked (granted, our imprint and nonce, chains to the CA).

    Raises:
        TimestampError: the TSA is unreachable or slow, or its answer does not check out.
    """
    out = token_path(sig_path)
    with tempfile.TemporaryDirectory(prefix="osint-video-tsa-") as tmp:
        query = Path(tmp) / "request.tsq"
        _openssl(["-query", "-digest", imprint(sig_path), "-sha256", "-cert", "-out", str(query)])
        answer = Path(tmp) / "answer.tsr"
        answer.write_bytes(_post(url, query.read_bytes(), timeout_s))
        _verify(["-queryfile", str(query), "-in", str(answer)], ca_file, "the TSA's answer")
        stamp = describe(answer)
        partial = out.with_name(f".{out.name}.partial")
        shutil.copyfile(answer, partial)
        partial.replace(out)
    return Stamp(out, stamp.time, stamp.tsa, stamp.serial)


def stamp_outcome(sig_path: Path, custody: CustodyConfig) -> dict[str, Any]:
    """Timestamp a signature as `[custody]` says, for the custody record; never raises.

    A TSA that is down, slow or wrong leaves the report signed but without a token: the error
    is returned (and logged) for the `report_generated` event, and verify-report says
    "no timestamp".
    """
    start = time.perf_counter()
    out: dict[str, Any] = {"tsa_url": custody.tsa_url}
    try:
        stamp = request_stamp(sig_path, custody.tsa_url, custody.tsa_ca_file, custody.tsa_timeout_s)
    except TimestampError as exc:
        log.warning("no timestamp for %s: %s", sig_path.name, exc)
        return {**out, "error": str(exc)}
    seconds = round(time.perf_counter() - start, 3)
    return {
        **out,
        "file": stamp.token.name,
        "time": stamp.time,
        "tsa": stamp.tsa,
        "seconds": seconds,
    }


def check_stamp(token: Path, sig_path: Path, ca_file: str) -> Stamp:
    """Check a saved token against the signature file beside it.

    Raises:
        TimestampError: the token is unreadable, for other data, altered, or not from a TSA
            that chains to `ca_file` (empty: the system's trusted certificates).
    """
    size = token.stat().st_size
    if size > TOKEN_MAX_BYTES:
        raise TimestampError(f"{token.name} is {size:,} bytes: not a timestamp token")
    _verify(["-digest", imprint(sig_path), "-in", str(token)], ca_file, token.name)
    return describe(token)


def describe(token: Path) -> Stamp:
    """Time, TSA name and serial number of a token, as `openssl ts -reply -text` prints them."""
    text = _openssl(["-reply", "-in", str(token), "-text"])
    status = _field(text, "Status")
    if status is None or not status.startswith("Granted"):
        raise TimestampError(f"{token.name}: the TSA did not grant a timestamp ({status})")
    when = _field(text, "Time stamp")
    if when is None:
        raise TimestampError(f"{token.name}: no time in the token")
    tsa = (_field(text, "TSA") or "unnamed TSA").removeprefix("DirName:")
    return Stamp(token, _iso(when), tsa, _field(text, "Serial number") or "")


def _post(url: str, body: bytes, timeout_s: float) -> bytes:
    if not url.startswith(("http://", "https://")):
        raise TimestampError(f"[custody] tsa_url {url!r} is not an http(s) URL")
    req = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/timestamp-query"}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:  # noqa: S310 - desk's TSA
            data = resp.read(TOKEN_MAX_BYTES + 1)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise TimestampError(f"the TSA {url} did not answer: {reason}") from None
    if len(data) > TOKEN_MAX_BYTES:
        raise TimestampError(f"the TSA {url} answered more than {TOKEN_MAX_BYTES:,} bytes")
    return data


def _verify(args: list[str], ca_file: str, what: str) -> None:
    trust = _trust_args(ca_file)
    try:
        _openssl(["-verify", *args, *trust])
    except TimestampError as exc:
        hint = "" if ca_file else " (no TSA CA given: checked against the system's certificates)"
        raise TimestampError(f"{what} does not verify: {exc}{hint}") from None


def _trust_args(ca_file: str) -> list[str]:
    if ca_file:
        if not Path(ca_file).is_file():
            raise TimestampError(f"the TSA CA file {ca_file} does not exist")
        return ["-CAfile", ca_file]
    paths = ssl.get_default_verify_paths()
    if paths.cafile:
        return ["-CAfile", paths.cafile]
    if paths.capath:
        return ["-CApath", paths.capath]
    raise TimestampError("no TSA CA file given and no system certificates found")


def _openssl(args: list[str]) -> str:
    """Run `openssl ts ARGS`; its first error line becomes the TimestampError."""
    exe = shutil.which("openssl")
    if exe is None:
        raise TimestampError("openssl is not installed (needed for RFC 3161 timestamps)")
    try:
        proc = subprocess.run(
            [exe, "ts", *args], capture_output=True, timeout=OPENSSL_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        raise TimestampError(f"openssl ts took over {OPENSSL_TIMEOUT_S:.0f} s") from None
    out = proc.stdout.decode("utf-8", "replace")
    if proc.returncode != 0 or "Verification: FAILED" in out:
        raise TimestampError(_reason(proc.stderr.decode("utf-8", "replace")))
    return out


def _reason(stderr: str) -> str:
    """The reason in openssl's first error line (`...:ts_check_imprints:message imprint
    mismatch:../crypto/...`, `...:Verify error:self-signed certificate`)."""
    errors = [x for x in stderr.splitlines() if ":error:" in x]
    errors.sort(key=lambda x: "time stamp routines" not in x)  # the TSA-level reason first
    for line in errors:
        if ":error:" in line:
            parts = line.split(":")
            reason = parts[5] if len(parts) > 5 else line.strip()
            if "Verify error:" in line:
                reason += ": " + line.split("Verify error:", 1)[1].strip()
            return reason
    lines = [x for x in stderr.splitlines() if x.strip() and "Using configuration" not in x]
    return lines[0].strip() if lines else "openssl ts failed"


def _field(text: str, name: str) -> str | None:
    match = re.search(rf"^{re.escape(name)}: *(.+)$", text, re.MULTILINE)
    return match.group(1).strip() if match else None


def _iso(when: str) -> str:
    """`Dec  5 18:32:33.5 2026 GMT` -> `2026-12-05T18:32:33.500000Z`."""
    parts = when.split()
    if len(parts) != 5:
        raise TimestampError(f"unreadable time in the token: {when[:60]}")
    fmt = "%b %d %H:%M:%S.%f %Y" if "." in parts[2] else "%b %d %H:%M:%S %Y"
    try:
        dt = datetime.strptime(" ".join(parts[:4]), fmt).replace(tzinfo=UTC)
    except ValueError:
        raise TimestampError(f"unreadable time in the token: {when[:60]}") from None
    return dt.isoformat(timespec="microseconds").replace("+00:00", "Z")

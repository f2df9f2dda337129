"""Library entry points behind `keys init`, `verify` and `verify-report` (text and JSON)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import Config
from .signing import KeyInfo, ReportCheck, init_keys, verify_report_file

if TYPE_CHECKING:  # the workspace (SQLAlchemy) is not imported by verify-report: it needs none
    from .verify import VerifyRun

SHOWN_HEADS = 20  # custody heads listed in text; --json lists them all


def init_desk_keys(cfg: Config) -> KeyInfo:
    """Create WORKSPACE/keys/desk.key (0600) and desk.pub; refuses to replace a key."""
    from ..workspace import Workspace

    ws = Workspace.open(cfg)
    try:
        return init_keys(ws.home / "keys")
    finally:
        ws.close()


def verify_clips(cfg: Config, ref: str | None, against: list[Path] | None = None) -> VerifyRun:
    """Verify one clip (`ref`) or every clip (None: also files that belong to no clip,
    `strays.find_strays`), also against the custody heads of signed reports published out of
    the workspace (`against`). Read-only."""
    from ..workspace import Workspace
    from .strays import find_strays
    from .verify import verify

    ws = Workspace.open(cfg)
    try:
        if ref:
            return verify(ws, [ws.cases.resolve(ref)], against or [])
        run = verify(ws, [c.id for c in ws.cases.list_clips()], against or [])
        found = find_strays(ws)
        return dataclasses.replace(run, strays=found.problems, stray_warnings=found.warnings)
    finally:
        ws.close()


def check_report(cfg: Config, path: Path, key: Path | None, tsa_ca: Path | None) -> ReportCheck:
    """`verify-report`: a published report checked with no workspace ([custody] settings)."""
    custody = cfg.custody
    return verify_report_file(
        path,
        key_path=key,
        max_bytes=int(custody.max_report_mb * 1_000_000),
        tsa_ca=str(tsa_ca) if tsa_ca else custody.tsa_ca_file,
    )


def run_json(run: VerifyRun) -> dict[str, Any]:
    return {
        "ok": run.ok,
        "problems": run.problems,
        "clips": [c.as_json() for c in run.clips],
        "strays": run.strays,
        "stray_warnings": run.stray_warnings,
        "bytes_hashed": run.bytes_hashed,
        "seconds": round(run.seconds, 3),
    }


def run_lines(run: VerifyRun) -> list[str]:
    """One line per clip, then one per problem, then the throughput."""
    lines = []
    for c in run.clips:
        lines.append(f"{'ok' if c.ok else 'FAILED'}: clip {c.id_text()}")
        lines += [f"  {m}" for m in c.messages()]
        lines += [f"  warning: {w}" for w in c.warnings]
    lines += [f"FAILED: {p}" for p in run.problems]
    lines += [f"FAILED: {s}" for s in run.strays]
    lines += [f"warning: {w}" for w in run.stray_warnings]
    mb = run.bytes_hashed / 1e6
    rate = mb / run.seconds if run.seconds > 0 else 0.0
    bad = sum(1 for c in run.clips if not c.ok)
    strays = f", {len(run.strays)} file(s) of no clip" if run.strays else ""
    lines.append(
        f"{len(run.clips)} clip(s), {bad} with differences{strays}; {mb:.1f} MB re-hashed in "
        f"{run.seconds:.2f} s ({rate:.0f} MB/s)"
    )
    return lines


def report_lines(check: ReportCheck) -> list[str]:
    head = "VALID" if check.ok else "INVALID"
    who = f"key {check.fingerprint}" if check.fingerprint else "no key"
    pin = "pinned" if check.pinned else "unpinned"
    lines = [f"{head}: {check.report} ({who}, {pin})"]
    lines += _head_lines(check.heads, check.kind == "case")
    if check.fingerprint and not any(p.startswith("timestamp:") for p in check.problems):
        lines.append(_stamp_line(check.timestamp))
    lines += [f"  {p}" for p in check.problems]
    return lines + [f"  warning: {w}" for w in check.warnings]


def _head_lines(heads: list[dict[str, Any]], case: bool) -> list[str]:
    """The custody heads the report commits to (one for a clip report, one per clip of a case)."""
    if not heads:
        return ["  custody head: none recorded"]
    if not case:
        h = heads[0]
        how = "" if h["recorded"] else " (its last custody event: the report predates custody_head)"
        return [f"  custody head: event {h['seq']} {h['hash']} at {h['at']}{how}"]
    lines = [
        f"  custody head: clip {h['clip_sha256'][:12]} event {h['seq']} {h['hash']}"
        for h in heads[:SHOWN_HEADS]
    ]
    if len(heads) > SHOWN_HEADS:
        lines.append(f"  … and {len(heads) - SHOWN_HEADS} more custody heads (--json lists all)")
    return lines


def _stamp_line(stamp: dict[str, str] | None) -> str:
    if stamp is None:
        return "  no timestamp (no RFC 3161 token beside the signature)"
    by = f"{stamp['tsa']}, serial {stamp['serial']}"
    return f"  timestamp: {stamp['time']} by {by} ({stamp['file']})"

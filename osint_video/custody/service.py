"""Library entry points behind `keys init`, `verify` and `verify-report` (text and JSON)."""

from __future__ import annotations

import dataclasses
from typing import Any

from ..config import Config
from ..workspace import Workspace
from .signing import KeyInfo, ReportCheck, init_keys
from .strays import find_strays
from .verify import VerifyRun, verify


def init_desk_keys(cfg: Config) -> KeyInfo:
    """Create WORKSPACE/keys/desk.key (0600) and desk.pub; refuses to replace a key."""
    ws = Workspace.open(cfg)
    try:
        return init_keys(ws.home / "keys")
    finally:
        ws.close()


def verify_clips(cfg: Config, ref: str | None) -> VerifyRun:
    """Verify one clip (`ref`) or every clip (None: also files that belong to no clip,
    `strays.find_strays`). Read-only."""
    ws = Workspace.open(cfg)
    try:
        if ref:
            return verify(ws, [ws.cases.resolve(ref)])
        run = verify(ws, [c.id for c in ws.cases.list_clips()])
        found = find_strays(ws)
        return dataclasses.replace(run, strays=found.problems, stray_warnings=found.warnings)
    finally:
        ws.close()


def run_json(run: VerifyRun) -> dict[str, Any]:
    return {
        "ok": run.ok,
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
    lines += [f"  {p}" for p in check.problems]
    return lines + [f"  warning: {w}" for w in check.warnings]

"""Custody heads committed to by signed reports, and a clip's log checked against them.

A log cut at its end still forms a valid chain, and whoever can cut the database can cut the
journal beside it too. What they cannot reach is a signed report already handed on: it carries
the head of the chain when it was signed (`custody_head`: seq, hash, at; covered by the
signature), so a log that no longer reaches that event, or holds another hash at its seq, was
cut or rewritten. `verify` checks each clip against the heads of the signed reports in the
workspace (the clip's report.json, the case reports in WORKSPACE/reports) and of any published
copy given with `--against`. Only reports whose signature holds under the desk's key count.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import MalformedReport
from ..models import CustodyEvent
from ..workspace import Workspace
from .chain import GENESIS, ChainProblem
from .signing import fingerprint, load_private, verify_report_file


@dataclass(frozen=True)
class Commitment:
    """A head a signed report committed to: the clip's event `seq` had hash `hash`."""

    source: str
    seq: int
    hash: str


@dataclass
class SignedHeads:
    """Heads per clip sha256 from signed reports, and what was wrong with the reports."""

    heads: dict[str, list[Commitment]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def check_commitments(
    events: Sequence[CustodyEvent], found: Iterable[Commitment]
) -> list[ChainProblem]:
    """The log against heads signed reports committed to: shorter, or another hash there.

    Returns:
        One problem per broken commitment, naming the seq and both hashes.
    """
    have = {e.seq: e.hash for e in events}
    last = max(have, default=0)
    last_hash = have.get(last) or GENESIS
    out = []
    for c in found:
        if c.seq not in have:
            if c.seq > last:
                why = (
                    f"the log ends at event {last} ({last_hash}) but the signed report "
                    f"{c.source} committed to event {c.seq} ({c.hash})"
                )
                out.append(ChainProblem(last + 1, "truncated", why))
            continue  # a hole inside the log: check_chain names it
        if have[c.seq] != c.hash:
            why = (
                f"event {c.seq} is {have[c.seq]} in the log but the signed report {c.source} "
                f"committed to {c.hash}"
            )
            out.append(ChainProblem(c.seq, "diverged", why))
    return out


def signed_heads(ws: Workspace, against: Sequence[Path], clips: set[str]) -> SignedHeads:
    """Heads from the workspace's signed case reports and from published copies (`against`).

    Args:
        ws: the workspace (its desk key says which signatures count).
        against: reports published out of the workspace; a malformed one stops the run.
        clips: sha256 of the clips being verified.

    Raises:
        MalformedReport: a report given with `--against` cannot be read as a report.
    """
    out = SignedHeads()
    key = load_private(ws.home / "keys")
    desk = fingerprint(key.public_key()) if key is not None else None
    max_bytes = int(ws.config.custody.max_report_mb * 1_000_000)
    for path in sorted((ws.home / "reports").glob("*.json")):
        try:
            _collect(out, path, ws.rel(path), desk, max_bytes, clips, given=False)
        except MalformedReport as exc:
            out.problems.append(f"{ws.rel(path)}: {exc}")
    for path in against:
        _collect(out, path, str(path), desk, max_bytes, clips, given=True)
    return out


def _collect(
    out: SignedHeads,
    path: Path,
    name: str,
    desk: str | None,
    max_bytes: int,
    clips: set[str],
    *,
    given: bool,
) -> None:
    check = verify_report_file(path, max_bytes=max_bytes, timestamps=False)
    if check.fingerprint is None and not given:
        return  # an unsigned report in the workspace commits to nothing
    if check.fingerprint is None or check.fingerprint != desk:
        who = check.fingerprint or "no key"
        out.problems.append(f"{name}: not signed by this desk's key ({who}): its heads not used")
        return
    if not check.ok:
        out.problems.append(f"{name}: {check.problems[0]}: its custody heads were not used")
        return
    mine = [h for h in check.heads if h["clip_sha256"] in clips]
    if given and not mine:
        out.problems.append(f"{name}: commits to no custody head of the clips verified here")
    for h in mine:
        commit = Commitment(name, h["seq"], h["hash"])
        out.heads.setdefault(h["clip_sha256"], []).append(commit)

"""`verify`: re-hash the evidence and every derived file, and check each custody chain.

Read-only by design: it names what differs (which file, which custody event recorded the hash it
no longer has, where the chain breaks) and never repairs anything; the desk decides what to do.

Where the expected hashes come from:
- the original: the clip's SHA-256 (its name in the evidence store), recorded by `acquired`;
- derived files: the `outputs` of custody events ({name or workspace path: sha256}); a later
  event recording the same file wins, and files recorded before the latest processing run
  (`probed` event) are superseded because that run replaced the derived folder; likewise each
  `report_generated` event lists every report file it left (a timestamp token removed because
  the TSA was down when the report was re-signed is no longer expected);
- every keyframe row must point at a file some event recorded;
- the chain is checked on its own, then against the journal and the clip's own report.json
  (outside records of its hashes: a log cut at its end is only visible against those), and
  against the custody heads signed reports committed to (`heads`: the case reports in the
  workspace and published copies given with `--against`), which whoever cuts the log and the
  journal cannot rewrite.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import MalformedReport
from ..models import CustodyEvent
from ..store.evidence import sha256_file
from ..workspace import Workspace
from .chain import ChainProblem, check_chain, check_head
from .heads import Commitment, SignedHeads, check_commitments, signed_heads
from .reportfile import read_report
from .signing import check_report, load_private

HASH_THREADS = 2  # files hashed at once; more only helps on fast SSDs with many cores


@dataclass(frozen=True)
class Expected:
    """A file whose hash a custody event recorded."""

    relpath: str
    sha256: str
    seq: int
    action: str


@dataclass(frozen=True)
class FileCheck:
    """One file re-hashed: status is ok, missing or differs."""

    relpath: str
    status: str
    expected: str
    actual: str | None
    seq: int
    action: str

    def message(self) -> str:
        where = f"recorded by custody event {self.seq} ({self.action})"
        if self.status == "missing":
            return f"{self.relpath}: missing ({where})"
        return f"{self.relpath}: differs: sha256 {self.actual} but {self.expected} {where}"


@dataclass(frozen=True)
class ClipCheck:
    """Everything `verify` found for one clip; `ok` when nothing differs."""

    clip_id: int
    sha256: str
    files: list[FileCheck]
    chain: list[ChainProblem]
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    bytes_hashed: int = 0

    @property
    def ok(self) -> bool:
        return not self.chain and not self.problems and all(f.status == "ok" for f in self.files)

    def id_text(self) -> str:
        return f"{self.clip_id} ({self.sha256[:12]})"

    def messages(self) -> list[str]:
        out = [f.message() for f in self.files if f.status != "ok"]
        out += [f"custody event {p.seq}: {p.kind}: {p.message}" for p in self.chain]
        return out + self.problems

    def as_json(self) -> dict[str, Any]:
        return {
            "clip_id": self.clip_id,
            "sha256": self.sha256,
            "ok": self.ok,
            "files": [f.__dict__ for f in self.files],
            "chain": [p.__dict__ for p in self.chain],
            "problems": self.messages(),
            "warnings": self.warnings,
        }


def expected_files(
    sha256: str, evidence_rel: str, events: Iterable[CustodyEvent]
) -> list[Expected]:
    """The files a clip's custody log vouches for, with the hash and event of each."""
    events = list(events)
    acquired = next((e.seq for e in events if e.action == "acquired"), 0)
    out: dict[str, Expected] = {evidence_rel: Expected(evidence_rel, sha256, acquired, "acquired")}
    for ev in events:
        if ev.action == "probed":
            out = {k: v for k, v in out.items() if v.action == "acquired"}
        elif ev.action == "report_generated":
            # each lists every report file it left: a stale timestamp token is gone for good
            out = {k: v for k, v in out.items() if v.action != "report_generated"}
        outputs = ev.details.get("outputs")
        if ev.action == "acquired" or not isinstance(outputs, dict):
            continue
        for name, digest in outputs.items():
            if isinstance(digest, str) and len(digest) == 64:
                rel = _resolve(sha256, ev.action, str(name))
                out[rel] = Expected(rel, digest, ev.seq, ev.action)
    return list(out.values())


def _resolve(sha256: str, action: str, name: str) -> str:
    """Events name outputs by workspace path, or by bare file name inside the clip's folder."""
    if "/" in name:
        return name
    if action.startswith("keyframes"):
        return f"derived/{sha256}/keyframes/{name}"
    return f"derived/{sha256}/{name}"


@dataclass(frozen=True)
class ClipFacts:
    """What verify needs of one clip, read in bulk (a few queries for any number of clips)."""

    clip_id: int
    sha256: str
    evidence_path: str
    keyframes: list[tuple[int, str]]
    events: list[CustodyEvent]


def _load_facts(ws: Workspace, clip_ids: list[int]) -> list[ClipFacts]:
    from sqlalchemy import select

    from ..store.schema import ClipRow, KeyframeRow

    wanted = set(clip_ids)
    with ws.cases.session() as ses:
        clips = {
            cid: (sha, ev)
            for cid, sha, ev in ses.execute(
                select(ClipRow.id, ClipRow.sha256, ClipRow.evidence_path)
            )
            if cid in wanted
        }
        kfs: dict[int, list[tuple[int, str]]] = {}
        for cid, index, path in ses.execute(
            select(KeyframeRow.clip_id, KeyframeRow.index, KeyframeRow.path)
        ):
            if cid in wanted:
                kfs.setdefault(cid, []).append((index, path))
    events = ws.cases.custody_for([c for c in clip_ids if c in clips])
    return [
        ClipFacts(cid, clips[cid][0], clips[cid][1], kfs.get(cid, []), events[cid])
        for cid in clip_ids
        if cid in clips
    ]


def _hash(home: Path, relpath: str) -> tuple[str | None, int]:
    path = home / relpath
    if not path.is_file():
        return None, 0
    return sha256_file(path), path.stat().st_size


def _check(exp: Expected, actual: str | None) -> FileCheck:
    if actual is None:
        return FileCheck(exp.relpath, "missing", exp.sha256, None, exp.seq, exp.action)
    status = "ok" if actual == exp.sha256 else "differs"
    return FileCheck(exp.relpath, status, exp.sha256, actual, exp.seq, exp.action)


def _clip_check(
    ws: Workspace,
    facts: ClipFacts,
    hashed: dict[str, tuple[str | None, int]],
    journal: Any,
    signed: SignedHeads,
) -> ClipCheck:
    plan = expected_files(facts.sha256, facts.evidence_path, facts.events)
    files = [_check(exp, hashed[exp.relpath][0]) for exp in plan]
    total = sum(hashed[exp.relpath][1] for exp in plan)
    recorded = {f.relpath for f in files}
    problems = [
        f"{path}: keyframe {index} has no hash in any custody event"
        for index, path in facts.keyframes
        if path not in recorded
    ]
    chain = check_chain(facts.sha256, facts.events)
    warnings: list[str] = []
    commits = signed.heads.get(facts.sha256, [])
    chain += _anchors(ws, facts, journal.get(facts.sha256), commits, problems, warnings)
    return ClipCheck(facts.clip_id, facts.sha256, files, _dedupe(chain), problems, warnings, total)


def _anchors(
    ws: Workspace,
    facts: ClipFacts,
    journal: dict[int, str] | None,
    commits: list[Commitment],
    problems: list[str],
    warnings: list[str],
) -> list[ChainProblem]:
    """The chain against the journal, the heads signed reports committed to, and the clip's
    report.json (its heads and hashes, and that report's signature)."""
    sha, events = facts.sha256, facts.events
    found: list[ChainProblem] = []
    if ws.cases.journal is not None:
        found += check_head(events, journal or {})
        unjournaled = [e.seq for e in events if e.seq not in (journal or {})]
        if unjournaled:
            warnings.append(f"events {unjournaled} are not in the custody journal")
    report = ws.derived_dir(sha) / "report.json"
    if not report.is_file():
        return check_commitments(events, commits) + found
    own = _own_report(ws, report, problems)
    if own is not None:
        commits = [*own[0], *commits]
        found += check_head(events, own[1])
    return check_commitments(events, commits) + found


def _own_report(
    ws: Workspace, report: Path, problems: list[str]
) -> tuple[list[Commitment], dict[int, str]] | None:
    """The head and event hashes the clip's own report.json records (when its signature holds
    under the desk's key, its head counts as a signed commitment)."""
    name = ws.rel(report)
    max_bytes = int(ws.config.custody.max_report_mb * 1_000_000)
    try:
        data = read_report(report, max_bytes)
        check = check_report(data, report, timestamps=False)
    except MalformedReport as exc:
        problems.append(f"{name}: unreadable: {exc}")
        return None
    hashes = {int(e["seq"]): str(e["hash"]) for e in data.get("custody") or [] if e.get("hash")}
    if check.fingerprint is None:
        return [], hashes
    key = load_private(ws.home / "keys")
    ours = key is not None and check.fingerprint == _fp(key)
    if key is not None and not ours:
        problems.append(f"{name}: signed by another key than the desk's")
    problems += [f"{name}: {p}" for p in check.problems]
    if not (ours and check.ok):
        return [], hashes
    return [Commitment(name, h["seq"], h["hash"]) for h in check.heads], hashes


def _fp(key: Any) -> str:
    from .signing import fingerprint

    return fingerprint(key.public_key())


def _dedupe(problems: list[ChainProblem]) -> list[ChainProblem]:
    seen, out = set(), []
    for p in sorted(problems, key=lambda p: p.seq):
        if (p.seq, p.kind) not in seen:
            seen.add((p.seq, p.kind))
            out.append(p)
    return out


@dataclass(frozen=True)
class VerifyRun:
    """A whole `verify` run: per-clip results and the throughput of re-hashing."""

    clips: list[ClipCheck]
    seconds: float
    problems: list[str] = field(default_factory=list)  # signed reports that could not be used
    # `verify --all` only (custody/strays.py): files of no clip (fail), work files (warnings)
    strays: list[str] = field(default_factory=list)
    stray_warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and not self.strays and all(c.ok for c in self.clips)

    @property
    def bytes_hashed(self) -> int:
        return sum(c.bytes_hashed for c in self.clips)


def verify(ws: Workspace, clip_ids: Iterable[int], against: Sequence[Path] = ()) -> VerifyRun:
    """Verify the given clips (read-only). Files are hashed on a small thread pool: hashlib
    releases the GIL, so reading and hashing overlap.

    Args:
        ws: the workspace.
        clip_ids: the clips to verify.
        against: signed reports published out of the workspace, whose custody heads the logs
            must still reach.

    Returns:
        A VerifyRun; `ok` is False when any file or chain differs.

    Raises:
        MalformedReport: a report given in `against` cannot be read as a report.
    """
    start = time.perf_counter()
    journal = ws.cases.journal_heads()
    facts = _load_facts(ws, list(clip_ids))
    signed = signed_heads(ws, against, {f.sha256 for f in facts})
    paths = sorted(
        {e.relpath for f in facts for e in expected_files(f.sha256, f.evidence_path, f.events)}
    )
    workers = max(1, min(HASH_THREADS, os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:
        hashed = dict(zip(paths, pool.map(lambda p: _hash(ws.home, p), paths), strict=True))
    results = [_clip_check(ws, f, hashed, journal, signed) for f in facts]
    return VerifyRun(results, time.perf_counter() - start, signed.problems)

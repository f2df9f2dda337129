"""`verify`: re-hash the evidence and every derived file, and check each custody chain.

Read-only by design: it names what differs (which file, which custody event recorded the hash it
no longer has, where the chain breaks) and never repairs anything; the desk decides what to do.

Where the expected hashes come from:
- the original: the clip's SHA-256 (its name in the evidence store), recorded by `acquired`;
- derived files: the `outputs` of custody events ({name or workspace path: sha256}); a later
  event recording the same file wins, and files recorded before the latest processing run
  (`probed` event) are superseded because that run replaced the derived folder;
- every keyframe row must point at a file some event recorded;
- the chain is checked on its own, then against the journal and the clip's own report.json
  (outside records of its hashes: a log cut at its end is only visible against those).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..store.evidence import sha256_file
from ..workspace import Workspace
from .chain import ChainProblem, Event, check_chain, check_head
from .signing import load_private, verify_report_file

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


def expected_files(sha256: str, evidence_rel: str, events: Iterable[Event]) -> list[Expected]:
    """The files a clip's custody log vouches for, with the hash and event of each."""
    events = list(events)
    acquired = next((e.seq for e in events if e.action == "acquired"), 0)
    out: dict[str, Expected] = {evidence_rel: Expected(evidence_rel, sha256, acquired, "acquired")}
    for ev in events:
        if ev.action == "probed":
            out = {k: v for k, v in out.items() if v.action == "acquired"}
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
    events: list[Event]


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
    ws: Workspace, facts: ClipFacts, hashed: dict[str, tuple[str | None, int]], journal: Any
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
    chain += _anchors(ws, facts.sha256, facts.events, journal.get(facts.sha256), problems, warnings)
    return ClipCheck(facts.clip_id, facts.sha256, files, _dedupe(chain), problems, warnings, total)


def _anchors(
    ws: Workspace,
    sha: str,
    events: list[Event],
    journal: dict[int, str] | None,
    problems: list[str],
    warnings: list[str],
) -> list[ChainProblem]:
    """The chain against the journal and the clip's report.json (and that report's signature)."""
    found: list[ChainProblem] = []
    if ws.cases.journal is not None:
        found += check_head(events, journal or {})
        unjournaled = [e.seq for e in events if e.seq not in (journal or {})]
        if unjournaled:
            warnings.append(f"events {unjournaled} are not in the custody journal")
    report = ws.derived_dir(sha) / "report.json"
    if report.is_file():
        found += check_head(events, _report_hashes(report, problems))
        if (report.with_name("report.json.sig")).is_file():
            key = load_private(ws.home / "keys")
            check = verify_report_file(report)
            if key is not None and check.fingerprint != _fp(key):
                problems.append(f"{ws.rel(report)}: signed by another key than the desk's")
            problems += [f"{ws.rel(report)}: {p}" for p in check.problems]
    return found


def _fp(key: Any) -> str:
    from .signing import fingerprint

    return fingerprint(key.public_key())


def _report_hashes(report: Path, problems: list[str]) -> dict[int, str]:
    try:
        data = json.loads(report.read_text("utf-8"))
        return {int(e["seq"]): str(e["hash"]) for e in data["custody"] if e.get("hash")}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        problems.append(f"{report.name}: unreadable: {exc}")
        return {}


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
    # `verify --all` only (custody/strays.py): files of no clip (fail), work files (warnings)
    strays: list[str] = field(default_factory=list)
    stray_warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.clips) and not self.strays

    @property
    def bytes_hashed(self) -> int:
        return sum(c.bytes_hashed for c in self.clips)


def verify(ws: Workspace, clip_ids: Iterable[int]) -> VerifyRun:
    """Verify the given clips (read-only). Files are hashed on a small thread pool: hashlib
    releases the GIL, so reading and hashing overlap.

    Returns:
        A VerifyRun; `ok` is False when any file or chain differs.
    """
    start = time.perf_counter()
    journal = ws.cases.journal_heads()
    facts = _load_facts(ws, list(clip_ids))
    paths = sorted(
        {e.relpath for f in facts for e in expected_files(f.sha256, f.evidence_path, f.events)}
    )
    workers = max(1, min(HASH_THREADS, os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:
        hashed = dict(zip(paths, pool.map(lambda p: _hash(ws.home, p), paths), strict=True))
    results = [_clip_check(ws, f, hashed, journal) for f in facts]
    return VerifyRun(results, time.perf_counter() - start)

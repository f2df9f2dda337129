"""The custody log as a hash chain: canonical form, event hashes, and checking a chain.

Each event's `hash` is SHA-256 over the canonical JSON of {clip_sha256, seq, at, actor, action,
details, prev_hash}; `prev_hash` is the previous event's hash (GENESIS for the first). Editing,
deleting or reordering any event therefore breaks the chain at a place we can name. Everything
needed to recompute a hash is in report.json too, so a reader can check the chain of a published
report without our database.

Canonical JSON: keys sorted, no whitespace, UTF-8 (not ASCII-escaped), Python's float repr.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..lossless import to_bytes
from ..models import CustodyEvent

GENESIS = "0" * 64
# How far from its place a moved event's original seq is searched for (each try is one hash):
# the search is bounded by this window, never by a seq the log states.
_RESEQ_SLACK = 64
# A chain broken everywhere (a forged log of thousands of events) is named up to here, then cut.
MAX_PROBLEMS = 20


def canonical_bytes(value: Any) -> bytes:
    """The one byte form that is hashed and signed (sorted keys, compact, UTF-8)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def normalise(details: Mapping[str, Any]) -> dict[str, Any]:
    """Details as they will read back from the database (tuples become lists, keys strings)."""
    out: dict[str, Any] = json.loads(canonical_bytes(dict(details)))
    return out


def public_path(path: str) -> dict[str, str]:
    """A path fit for a published record: its file name, and a SHA-256 of the full path.

    Absolute paths tell a reader the operator's home directory and folder names; the name is
    what a reader needs, and a desk that kept the full path can still prove it matches.
    The hash is over the path's own bytes: its UTF-8, or for a name that is not UTF-8 the
    bytes it had on disk (`lossless.to_bytes`); the name keeps them too (surrogateescape).
    """
    name = path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    return {"name": name, "path_sha256": hashlib.sha256(to_bytes(path)).hexdigest()}


# Absolute paths an event may record, and the keys of their public form.
_PATH_KEYS = {
    "source_path": ("source_name", "source_path_sha256"),
    "link_target": ("link_target_name", "link_target_path_sha256"),
}


def redact_details(details: Mapping[str, Any]) -> dict[str, Any]:
    """Event details with `source_path` replaced by `source_name` + `source_path_sha256` (and a
    symbolic link's `link_target` by `link_target_name` + `link_target_path_sha256`)."""
    out = dict(details)
    for key, (name_key, sha_key) in _PATH_KEYS.items():
        src = out.pop(key, None)
        if isinstance(src, str):
            pub = public_path(src)
            out[name_key], out[sha_key] = pub["name"], pub["path_sha256"]
        elif src is not None:
            out[key] = src
    return out


def event_hash(clip_sha256: str, ev: CustodyEvent, *, seq: int | None = None) -> str:
    """SHA-256 (hex) of an event's canonical form; `seq` overrides the event's own seq."""
    body = _canonical_body(clip_sha256, ev, ev.seq if seq is None else seq)
    return hashlib.sha256(body).hexdigest()


def _canonical_body(clip_sha256: str, ev: CustodyEvent, seq: int) -> bytes:
    body = {
        "clip_sha256": clip_sha256,
        "seq": seq,
        "at": ev.at,
        "actor": ev.actor,
        "action": ev.action,
        "details": ev.details,
        "prev_hash": ev.prev_hash,
    }
    return canonical_bytes(body)


@dataclass(frozen=True)
class ChainProblem:
    """Where a chain breaks: `kind` is edited, deleted, reordered, truncated or unchained."""

    seq: int
    kind: str
    message: str


def check_chain(clip_sha256: str, events: Sequence[CustodyEvent]) -> list[ChainProblem]:
    """Every break in a clip's chain, first break first (empty list: the chain holds).

    Args:
        clip_sha256: the clip the events belong to (part of every hash).
        events: the events as stored, in seq order.

    Returns:
        Problems, each naming the seq where the chain breaks and why.
    """
    problems: list[ChainProblem] = []
    by_hash = {e.hash: e for e in events if e.hash}
    prev, expected = GENESIS, 1
    for ev in sorted(events, key=lambda e: e.seq):
        if len(problems) >= MAX_PROBLEMS:
            why = f"the chain breaks more than {MAX_PROBLEMS} times; events from {ev.seq} on "
            return [*problems, ChainProblem(ev.seq, "unchecked", why + "were not checked")]
        problems.extend(_check_one(clip_sha256, ev, prev, expected, by_hash, len(events)))
        prev, expected = ev.hash or GENESIS, ev.seq + 1
    return problems


def _check_one(
    sha: str, ev: CustodyEvent, prev: str, expected: int, by_hash: dict[Any, CustodyEvent], n: int
) -> list[ChainProblem]:
    if not ev.hash:
        return [ChainProblem(ev.seq, "unchained", f"event {ev.seq} has no hash")]
    out: list[ChainProblem] = []
    if ev.seq != expected:
        gap = f"{expected}" if ev.seq == expected + 1 else f"{expected}-{ev.seq - 1}"
        out.append(ChainProblem(expected, "deleted", f"event(s) {gap} missing before {ev.seq}"))
    if event_hash(sha, ev) != ev.hash:
        moved = _original_seq(sha, ev, n)
        if moved is not None:
            why = f"event {ev.seq} was recorded as event {moved}"
            out.append(ChainProblem(ev.seq, "reordered", why))
        else:
            action = ev.action if len(ev.action) <= 60 else ev.action[:59] + "…"
            why = f"event {ev.seq} ({action}) no longer matches its hash: its content changed"
            out.append(ChainProblem(ev.seq, "edited", why))
    elif ev.prev_hash != prev and not out:
        out.append(_link_problem(ev, by_hash))
    return out


def _original_seq(sha: str, ev: CustodyEvent, n: int) -> int | None:
    """The seq an event was hashed under, when it is within the window around its place (a
    seq stated by a hostile report may be a billion: only the window is ever tried).

    `seq` sorts last in the canonical form, so the bytes before it are hashed once and each
    try only adds its digits: a try costs the same for a megabyte of details as for none.
    """
    body = _canonical_body(sha, ev, 0)
    head, tail = body[: -len(b"0}")], b"}"
    if not body.endswith(b',"seq":0}'):  # pragma: no cover - canonical form changed
        raise AssertionError("seq is no longer the last key of the canonical form")
    prefix = hashlib.sha256(head)
    centre = min(ev.seq, n + _RESEQ_SLACK)
    for seq in range(max(1, centre - _RESEQ_SLACK), centre + _RESEQ_SLACK + 1):
        digest = prefix.copy()
        digest.update(str(seq).encode("ascii") + tail)
        if seq != ev.seq and digest.hexdigest() == ev.hash:
            return seq
    return None


def _link_problem(ev: CustodyEvent, by_hash: dict[Any, CustodyEvent]) -> ChainProblem:
    before = by_hash.get(ev.prev_hash)
    if before is not None and before.seq != ev.seq - 1:
        why = f"event {ev.seq} follows event {before.seq} in the chain, not {ev.seq - 1}"
        return ChainProblem(ev.seq, "reordered", why)
    why = (
        f"event {ev.seq} does not link to event {ev.seq - 1}: the event before it was "
        "replaced or removed"
    )
    return ChainProblem(ev.seq, "edited" if ev.seq > 1 else "deleted", why)


def check_head(events: Sequence[CustodyEvent], anchored: Mapping[int, str]) -> list[ChainProblem]:
    """Compare a chain with hashes recorded elsewhere (journal, a published report).

    A log cut at its end still forms a valid chain; only an outside record of later events
    shows that it was truncated.
    """
    have = {e.seq: e.hash for e in events}
    last = max(have, default=0)
    problems = []
    beyond = sorted(s for s in anchored if s > last)
    if beyond:
        problems.append(
            ChainProblem(
                last + 1,
                "truncated",
                f"the log ends at event {last} but events up to {beyond[-1]} were recorded",
            )
        )
    for seq in sorted(s for s in anchored if s in have):
        if have[seq] != anchored[seq]:
            why = f"event {seq} differs from its recorded hash {anchored[seq][:16]}…"
            problems.append(ChainProblem(seq, "edited", why))
            break
    return problems

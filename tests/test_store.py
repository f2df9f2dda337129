"""Evidence store and case store on a real SQLite database."""

from __future__ import annotations

import hashlib
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from osint_video.errors import InputError, NotFound, StoreError
from osint_video.store.cases import Acquisition, CaseStore, NewEvent
from osint_video.store.evidence import EvidenceStore, sha256_file


def test_evidence_is_content_addressed_read_only_and_deduplicated(tmp_path: Path) -> None:
    src = tmp_path / "a clip.mp4"
    data = os.urandom(3 * (1 << 20) + 17)  # spans several streaming chunks
    src.write_bytes(data)
    store = EvidenceStore(tmp_path / "ws")
    first = store.put(src)
    assert first.sha256 == hashlib.sha256(data).hexdigest() == sha256_file(src)
    held = store.path_for(first.sha256)
    assert held.read_bytes() == data
    assert not held.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    assert first.newly_stored and first.size_bytes == len(data)
    again = store.put(src)
    assert again.sha256 == first.sha256 and not again.newly_stored
    assert not [p for p in held.parent.parent.parent.iterdir() if p.name.startswith(".incoming")]


def test_unreadable_source_leaves_nothing(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path / "ws")
    with pytest.raises(InputError):
        store.put(tmp_path / "missing.mp4")
    assert list(store.root.iterdir()) == []


def _acq(case: str | None = "kursk") -> Acquisition:
    return Acquisition(operator="alice", at=datetime.now(UTC), case=case, source_url="https://x/1")


def test_same_bytes_twice_is_one_clip_two_acquisitions(tmp_path: Path) -> None:
    cs = CaseStore(f"sqlite:///{tmp_path / 'c.sqlite'}")
    kw = dict(sha256="ab" * 32, size_bytes=10, kind="video", filename="x.mp4", evidence_path="e")
    cid, new = cs.acquire(**kw, acquisition=_acq(), event=NewEvent("acquired", {"n": 1}))
    cid2, new2 = cs.acquire(**kw, acquisition=_acq("other"), event=NewEvent("acquired", {"n": 2}))
    assert cid == cid2 and new and not new2
    clip = cs.load(cid)
    assert [a.case for a in clip.acquisitions] == ["kursk", "other"]
    assert [e.seq for e in clip.custody] == [1, 2]
    [row] = cs.list_clips(case="other")
    assert row.cases == ("kursk", "other") and row.status == "queued"
    assert cs.list_clips(case="nope") == []


def test_resolve_by_id_and_sha_prefix(tmp_path: Path) -> None:
    cs = CaseStore(f"sqlite:///{tmp_path / 'c.sqlite'}")
    for sha in ("abcd0" + "0" * 59, "abcd1" + "0" * 59):
        cs.acquire(
            sha256=sha,
            size_bytes=1,
            kind="video",
            filename="f",
            evidence_path="e",
            acquisition=_acq(),
            event=NewEvent("acquired", {}),
        )
    assert cs.resolve("2") == 2
    assert cs.resolve("ABCD1") == 2
    with pytest.raises(NotFound, match="several"):
        cs.resolve("abcd")
    with pytest.raises(NotFound, match="no clip matches"):
        cs.resolve("abce")
    with pytest.raises(NotFound, match="at least 4 hex"):
        cs.resolve("abc")
    with pytest.raises(NotFound):
        cs.resolve("99")


def test_failed_transaction_leaves_no_half_record(tmp_path: Path) -> None:
    cs = CaseStore(f"sqlite:///{tmp_path / 'c.sqlite'}")
    cid, _ = cs.acquire(
        sha256="cd" * 32,
        size_bytes=1,
        kind="video",
        filename="f",
        evidence_path="e",
        acquisition=_acq(),
        event=NewEvent("acquired", {}),
    )
    bad_shots = [
        {"index": 0, "start_frame": 0, "end_frame": 9, "start_s": 0.0, "end_s": 0.4},
        {"index": 0, "start_frame": 10, "end_frame": 19, "start_s": 0.4, "end_s": 0.8},
    ]
    with pytest.raises(StoreError):
        cs.save_results(
            cid,
            actor="a",
            status="processed",
            fields={"duration_s": 1.0},
            shots=bad_shots,
            keyframes=[],
            events=[NewEvent("x", {})],
        )
    clip = cs.load(cid)
    assert clip.status == "queued" and clip.duration_s is None and clip.shots == []
    assert [e.action for e in clip.custody] == ["acquired"]

"""The custody log is a hash chain: every edit, deletion, reordering or truncation is named."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from custody_helpers import clip_sha, copy_workspace, make_workspace, run, sql

from osint_video.custody.chain import (
    GENESIS,
    MAX_PROBLEMS,
    canonical_bytes,
    check_chain,
    check_head,
    event_hash,
)
from osint_video.models import CustodyEvent
from osint_video.store.cases import Acquisition, CaseStore, NewEvent, utcnow

SHA = "ab" * 32


def chain(n: int) -> list[CustodyEvent]:
    out, prev = [], GENESIS
    for seq in range(1, n + 1):
        ev = CustodyEvent(
            seq, f"2026-01-01T00:00:0{seq}.000000Z", "ann", f"step{seq}", {"n": seq}, prev
        )
        ev = CustodyEvent(**{**ev.__dict__, "hash": event_hash(SHA, ev)})
        out.append(ev)
        prev = ev.hash
    return out


def replace(ev: CustodyEvent, **kw: object) -> CustodyEvent:
    return CustodyEvent(**{**ev.__dict__, **kw})


def test_canonical_form_is_sorted_compact_utf8() -> None:
    assert canonical_bytes({"b": 1, "a": "é"}) == '{"a":"é","b":1}'.encode()
    with pytest.raises(ValueError):
        canonical_bytes({"x": float("nan")})


def test_intact_chain_has_no_problem() -> None:
    assert check_chain(SHA, chain(5)) == []


def test_edited_event_is_named() -> None:
    evs = chain(5)
    evs[2] = replace(evs[2], details={"n": 99})
    first = check_chain(SHA, evs)[0]
    assert (first.seq, first.kind) == (3, "edited")


def test_edit_with_recomputed_hash_breaks_the_next_link() -> None:
    evs = chain(5)
    forged = replace(evs[2], actor="mallory")
    evs[2] = replace(forged, hash=event_hash(SHA, forged))
    first = check_chain(SHA, evs)[0]
    assert (first.seq, first.kind) == (4, "edited")
    assert "event 3" in first.message


def test_deleted_event_is_named() -> None:
    evs = chain(5)
    del evs[1]
    first = check_chain(SHA, evs)[0]
    assert (first.seq, first.kind) == (2, "deleted")


def test_reordered_events_are_named() -> None:
    evs = chain(5)
    evs[1], evs[2] = replace(evs[2], seq=2), replace(evs[1], seq=3)
    first = check_chain(SHA, evs)[0]
    assert (first.seq, first.kind) == (2, "reordered")
    assert "recorded as event 3" in first.message


def test_chain_check_is_bounded_by_the_log_not_by_its_seqs() -> None:
    """A seq of a billion used to drive the search for a moved event (about 40 minutes)."""
    evs = chain(5)
    evs[4] = replace(evs[4], seq=1_000_000_000)
    start = time.perf_counter()
    found = check_chain(SHA, evs)
    assert time.perf_counter() - start < 0.5
    assert [(p.seq, p.kind) for p in found] == [(5, "deleted"), (1_000_000_000, "reordered")]
    assert "recorded as event 5" in found[1].message
    broken = [replace(e, actor="mallory") for e in chain(300)]
    found = check_chain(SHA, broken)
    assert len(found) == MAX_PROBLEMS + 1 and found[-1].kind == "unchecked"
    assert found[0].kind == "edited" and found[-1].seq == MAX_PROBLEMS + 1


def test_event_moved_to_another_clip_breaks() -> None:
    assert check_chain("cd" * 32, chain(2))[0].kind == "edited"


def test_truncation_needs_an_outside_record() -> None:
    evs = chain(5)
    anchored = {e.seq: e.hash for e in evs}
    assert check_chain(SHA, evs[:3]) == []  # a cut chain is still a valid chain...
    problem = check_head(evs[:3], anchored)[0]  # ...but not against what was recorded
    assert (problem.seq, problem.kind) == (4, "truncated")


def test_store_chains_across_transactions(tmp_path: Path) -> None:
    store = CaseStore(f"sqlite:///{tmp_path / 'cases.sqlite'}")
    acq = Acquisition(operator="ann", at=utcnow(), source_path="/home/ann/secret/clip.mp4")
    event = NewEvent("acquired", {"source_path": "/home/ann/secret/clip.mp4", "k": (1, 2)})
    clip_id, _ = store.acquire(
        sha256=SHA,
        size_bytes=1,
        kind="video",
        filename="clip.mp4",
        evidence_path="evidence/x",
        acquisition=acq,
        event=event,
    )
    store.append_events(clip_id, "bob", [NewEvent("a", {}), NewEvent("b", {"x": 1.5})])
    sha, events = store.custody_events(clip_id)
    store.close()
    assert sha == SHA and [e.seq for e in events] == [1, 2, 3]
    assert events[0].prev_hash == GENESIS
    assert [e.prev_hash for e in events[1:]] == [e.hash for e in events[:-1]]
    assert check_chain(SHA, events) == []
    first = events[0].details
    assert "source_path" not in first and first["source_name"] == "clip.mp4"
    assert "/home/ann" not in json.dumps([e.details for e in events])
    assert first["k"] == [1, 2] and first["host"] and "python" in first["tools"]
    journal = (tmp_path / "cases.sqlite.custody.jsonl").read_text().splitlines()
    assert [json.loads(x)["hash"] for x in journal] == [e.hash for e in events]


# --- attacks on a real workspace, through the CLI -------------------------------------------


@pytest.fixture(scope="module")
def honest(tmp_path_factory: pytest.TempPathFactory, shared_media: Path) -> Path:
    home = tmp_path_factory.mktemp("honest") / "ws"
    make_workspace(home, shared_media)
    return home


@pytest.fixture
def ws(honest: Path, tmp_path: Path) -> Path:
    return copy_workspace(honest, tmp_path / "ws")


def verify_fails(home: Path, *want: str) -> dict:
    proc = run(home, "verify", "1", "--json", check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    text = " ".join(result["clips"][0]["problems"])
    for w in want:
        assert w in text, text
    return result


def test_honest_workspace_verifies(honest: Path) -> None:
    proc = run(honest, "verify", "--all", "--json")
    result = json.loads(proc.stdout)
    assert result["ok"] and len(result["clips"]) == 2
    rows = sql(
        honest, "SELECT seq, prev_hash, hash FROM custody_events WHERE clip_id=1 ORDER BY seq"
    )
    assert rows[0][1] == GENESIS and all(r[2] and len(r[2]) == 64 for r in rows)


def test_edited_custody_row_is_named(ws: Path) -> None:
    sql(ws, "UPDATE custody_events SET actor='mallory' WHERE clip_id=1 AND seq=2")
    result = verify_fails(ws, "custody event 2: edited")
    assert result["clips"][0]["chain"][0]["seq"] == 2


def test_edited_details_json_is_named(ws: Path) -> None:
    (details,) = sql(ws, "SELECT details FROM custody_events WHERE clip_id=1 AND seq=1")[0]
    changed = details.replace("with-gps.mov", "other.mov")
    assert changed != details
    sql(ws, "UPDATE custody_events SET details=? WHERE clip_id=1 AND seq=1", changed)
    verify_fails(ws, "custody event 1: edited")


def test_reordered_custody_rows_are_named(ws: Path) -> None:
    sql(ws, "UPDATE custody_events SET seq=-1 WHERE clip_id=1 AND seq=2")
    sql(ws, "UPDATE custody_events SET seq=2 WHERE clip_id=1 AND seq=3")
    sql(ws, "UPDATE custody_events SET seq=3 WHERE clip_id=1 AND seq=-1")
    verify_fails(ws, "custody event 2: reordered", "recorded as event 3")


def test_deleted_custody_row_is_named(ws: Path) -> None:
    sql(ws, "DELETE FROM custody_events WHERE clip_id=1 AND seq=3")
    verify_fails(ws, "custody event 3: deleted")


def test_truncated_log_is_named(ws: Path) -> None:
    (last,) = sql(ws, "SELECT max(seq) FROM custody_events WHERE clip_id=1")[0]
    sql(ws, "DELETE FROM custody_events WHERE clip_id=1 AND seq=?", last)
    verify_fails(ws, f"custody event {last}: truncated")


def test_truncated_log_and_journal_still_caught_by_report(ws: Path) -> None:
    """Cutting the journal too: the clip's own report.json still lists the cut events."""
    sha = clip_sha(ws, 1)
    sql(ws, "DELETE FROM custody_events WHERE clip_id=1 AND seq>=3")
    journal = ws / "cases.sqlite.custody.jsonl"
    keep = [
        x
        for x in journal.read_text().splitlines()
        if not (json.loads(x)["clip_sha256"] == sha and json.loads(x)["seq"] >= 3)
    ]
    journal.write_text("\n".join(keep) + "\n")
    verify_fails(ws, "custody event 3: truncated")


def test_report_custody_shows_the_chain(honest: Path) -> None:
    sha = clip_sha(honest, 1)
    report = json.loads((honest / "derived" / sha / "report.json").read_text())
    events = [CustodyEvent.from_report(e) for e in report["custody"]]
    assert events and check_chain(sha, events) == []
    assert "/" not in report["acquisitions"][0]["source_name"]
    assert len(report["acquisitions"][0]["source_path_sha256"]) == 64
    assert str(honest.parent) not in json.dumps(report)


def cut_tail(home: Path, clip_id: int, from_seq: int) -> None:
    """The attack: delete a clip's last events and their journal lines, leaving no gap."""
    sha = clip_sha(home, clip_id)
    sql(home, "DELETE FROM custody_events WHERE clip_id=? AND seq>=?", clip_id, from_seq)
    journal = home / "cases.sqlite.custody.jsonl"
    keep = [
        x
        for x in journal.read_text().splitlines()
        if not (json.loads(x)["clip_sha256"] == sha and json.loads(x)["seq"] >= from_seq)
    ]
    journal.write_text("".join(k + "\n" for k in keep))


def head_hashes(home: Path, clip_id: int) -> dict[int, str]:
    return dict(sql(home, "SELECT seq, hash FROM custody_events WHERE clip_id=?", clip_id))


def test_cut_tail_caught_by_signed_case_report(ws: Path) -> None:
    """The last event (report_generated) is in no clip report: the signed case report, written
    after it, committed to it."""
    run(ws, "report", "--case", "kursk", "--format", "json")
    hashes = head_hashes(ws, 1)
    last = max(hashes)
    assert run(ws, "verify", "--all").returncode == 0
    cut_tail(ws, 1, last)
    result = verify_fails(ws, f"custody event {last}: truncated")
    text = " ".join(result["clips"][0]["problems"])
    assert "reports/case-kursk.json" in text
    assert hashes[last] in text and hashes[last - 1] in text  # both hashes named


def test_cut_and_regrown_tail_caught_by_published_report(ws: Path, tmp_path: Path) -> None:
    """Cut the log and journal, then rewrite every report in the workspace (the desk key is
    there): the workspace is consistent again; only the copy already published shows it."""
    published = tmp_path / "sent" / "report.json"
    published.parent.mkdir()
    run(ws, "report", "1", "--format", "json", "--out", str(published))
    head = json.loads(published.read_text())["custody_head"]
    cut_tail(ws, 1, head["seq"] - 1)
    run(ws, "report", "1", "--format", "json")  # re-signed from the cut log
    assert run(ws, "verify", "1").returncode == 0  # nothing inside the workspace remembers
    proc = run(ws, "verify", "1", "--against", str(published), "--json", check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    text = " ".join(json.loads(proc.stdout)["clips"][0]["problems"])
    assert f"committed to event {head['seq']} ({head['hash']})" in text, text
    assert str(published) in text


def test_published_report_of_an_intact_log_passes(honest: Path, tmp_path: Path) -> None:
    published = tmp_path / "report.json"
    run(honest, "report", "1", "--format", "json", "--out", str(published))
    assert run(honest, "verify", "--all", "--against", str(published)).returncode == 0
    other = tmp_path / "other.json"
    run(honest, "report", "2", "--format", "json", "--out", str(other))
    proc = run(honest, "verify", "1", "--against", str(other), check=False)
    assert proc.returncode == 1 and "commits to no custody head of the clips" in proc.stdout


def test_forged_published_report_is_not_used(honest: Path, tmp_path: Path) -> None:
    published = tmp_path / "report.json"
    run(honest, "report", "1", "--format", "json", "--out", str(published))
    data = json.loads(published.read_text())
    data["custody_head"]["seq"] += 5  # claims a longer log than there was
    published.write_text(json.dumps(data))
    proc = run(honest, "verify", "1", "--against", str(published), check=False)
    assert proc.returncode == 1 and "bad signature: the report was changed" in proc.stdout
    assert "its custody heads were not used" in proc.stdout
    published.write_text("{}")
    proc = run(honest, "verify", "1", "--against", str(published), check=False)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1


def test_commitments_name_seq_and_both_hashes() -> None:
    from osint_video.custody.heads import Commitment, check_commitments

    evs = chain(5)
    ok = Commitment("r.json", 5, evs[4].hash or "")
    assert check_commitments(evs, [ok]) == []
    (cut,) = check_commitments(evs[:3], [ok])
    assert (cut.seq, cut.kind) == (4, "truncated")
    assert evs[4].hash in cut.message and evs[2].hash in cut.message
    (other,) = check_commitments(evs, [Commitment("r.json", 4, "f" * 64)])
    assert (other.seq, other.kind) == (4, "diverged") and evs[3].hash in other.message

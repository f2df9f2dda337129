"""The case store's core behaviour on both backends: SQLite (an analyst) and PostgreSQL (a desk).

The same assertions run against a real SQLite file and a real PostgreSQL server (tests/pgserver.py),
each brought to the newest migration first, so the models, types and queries are portable for real.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from synth import make_cut_clip

from osint_video.config import load_config
from osint_video.custody.chain import check_chain
from osint_video.custody.verify import verify
from osint_video.errors import NotFound
from osint_video.pipeline import TriageRequest, triage
from osint_video.store.cases import Acquisition, CaseStore, NewEvent, as_utc
from osint_video.store.schema import ClipRow, KeyframeRow
from osint_video.workspace import Workspace

BIG = 5 * (1 << 30)  # a 5 GiB original: beyond a 32-bit INTEGER


def _acq(case: str | None = "kursk") -> Acquisition:
    return Acquisition(operator="alice", at=datetime.now(UTC), case=case, source_url="https://x/1")


def _add(cs: CaseStore, sha: str, case: str = "kursk", size: int = 10) -> tuple[int, bool]:
    return cs.acquire(
        sha256=sha,
        size_bytes=size,
        kind="video",
        filename="x.mp4",
        evidence_path=f"evidence/{sha[:2]}/{sha}",
        acquisition=_acq(case),
        event=NewEvent("acquired", {"case": case}),
    )


def test_acquire_list_load_resolve(store: CaseStore) -> None:
    cid, new = _add(store, "abcd0" + "0" * 59, size=BIG)
    cid2, new2 = _add(store, "abcd0" + "0" * 59, case="other", size=BIG)
    other, _ = _add(store, "abcd1" + "0" * 59)
    assert cid == cid2 and new and not new2 and other != cid
    clip = store.load(cid)
    assert clip.size_bytes == BIG
    assert [a.case for a in clip.acquisitions] == ["kursk", "other"]
    # UTC in, UTC out (SQLite hands back naive datetimes, PostgreSQL timestamptz).
    assert abs((as_utc(clip.acquisitions[0].at) - datetime.now(UTC)).total_seconds()) < 60
    [row] = store.list_clips(case="other")
    assert row.id == cid and row.cases == ("kursk", "other") and row.status == "queued"
    assert [r.id for r in store.list_clips(status="queued")] == [cid, other]
    assert store.resolve(str(other)) == other and store.resolve("ABCD1") == other
    with pytest.raises(NotFound, match="several"):
        store.resolve("abcd")
    with pytest.raises(NotFound):
        store.resolve("99")


def test_save_results_replaces_rows_and_chains_custody(store: CaseStore) -> None:
    sha = "ef" * 32
    cid, _ = _add(store, sha)
    kf = dict(shot=0, frame=0, time_s=0.0, path="derived/x/kf0.jpg", phash="phash:64:" + "00ff" * 4)
    for run in range(2):
        store.save_results(
            cid,
            actor="bob",
            status="processed",
            fields={"duration_s": 4.0, "media": {"codec": "h264", "run": run}, "anomalies": []},
            shots=[dict(index=0, start_frame=0, end_frame=99, start_s=0.0, end_s=4.0)],
            keyframes=[dict(index=i, **kf) for i in range(3)],
            events=[NewEvent("processed", {"run": run, "ñ": "ü"})],
        )
    clip = store.load(cid)
    assert clip.status == "processed" and clip.media == {"codec": "h264", "run": 1}
    assert len(clip.shots) == 1 and [k.index for k in clip.keyframes] == [0, 1, 2]
    got_sha, events = store.custody_events(cid)
    # acquired, processed, queued -> processed (once: the second run changes no status), processed
    assert got_sha == sha and [e.action for e in events] == [
        "acquired",
        "processed",
        "status_changed",
        "processed",
    ]
    assert [e.seq for e in events] == [1, 2, 3, 4]
    assert (events[2].details["from"], events[2].details["to"]) == ("queued", "processed")
    assert events[3].details["ñ"] == "ü"
    assert check_chain(sha, events) == []
    assert store.custody_for([cid])[cid] == events
    with store.session() as ses:  # the rows really are replaced, not piled up
        assert len(ses.scalars(select(KeyframeRow).where(KeyframeRow.clip_id == cid)).all()) == 3


def test_a_tampered_event_breaks_the_chain(store: CaseStore) -> None:
    sha = "12" * 32
    cid, _ = _add(store, sha)
    store.append_events(cid, "carol", [NewEvent("noted", {"n": 1}), NewEvent("noted", {"n": 2})])
    with store.session() as ses:
        row = store.load(cid).custody[1]
        ses.get(type(row), row.id).details = {"n": 99}  # type: ignore[union-attr]
    assert check_chain(sha, store.custody_events(cid)[1])


def test_full_triage_of_a_generated_clip(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clip = make_cut_clip(tmp_path / "cut clip.mp4", [25], 50)
    home = tmp_path / "ws"
    monkeypatch.setenv("OSINT_VIDEO_DB", db_url)
    monkeypatch.setenv("OSINT_VIDEO_OPERATOR", "tester")
    ws = Workspace.open(load_config(None, home=home))
    try:
        assert ws.cases.url == db_url
        out = triage(ws, TriageRequest(clip, case="kursk"))
        assert out.error is None and out.status == "processed", out
        row = ws.cases.load(out.clip_id)
        assert len(row.shots) == 2 and row.keyframes
        # Paths in the database are relative to the shared workspace, never absolute.
        paths = [row.evidence_path, *(k.path for k in row.keyframes)]
        assert all(not p.startswith("/") and (home / p).is_file() for p in paths), paths
        run = verify(ws, [out.clip_id])
        assert run.ok, [c for c in run.clips if not c.ok]
        with ws.cases.session() as ses:
            assert ses.scalar(select(ClipRow.sha256).where(ClipRow.id == out.clip_id)) == out.sha256
    finally:
        ws.close()


def test_sound_fingerprints_and_matches_on_either_backend(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sound fingerprints (bytes) go into the store and come back bit for bit: the sound index
    built from them finds an AAC 64k re-encode of a clip with speech (issue 17)."""
    import shutil

    import sound_media as sm
    from conftest import missing

    from osint_video.matching.index import forget_open_indexes, remove_clip
    from osint_video.matching.manifest import log_since
    from osint_video.matching.sound_archive import sound_prints
    from osint_video.matching.sound_index import open_sound_index
    from osint_video.sound.fingerprint import read_sound
    from osint_video.store.schema import SOUND

    if shutil.which("espeak-ng") is None or shutil.which("fpcalc") is None:
        missing("espeak-ng and fpcalc (Debian packages espeak-ng, libchromaprint-tools)")
    said = sm.talk(tmp_path, [("ru", 2), ("uk", 2)], 0.5, 5.0)
    clip = sm.clip(tmp_path / "speech.mp4", sm.soundtrack(tmp_path / "a.wav", said, 10.0), 10.0, 4)
    copy = sm.reencode(clip, tmp_path / "copy.mp4", "aac")
    monkeypatch.setenv("OSINT_VIDEO_DB", db_url)
    monkeypatch.setenv("OSINT_VIDEO__OCR__ENABLED", "false")
    ws = Workspace.open(load_config(None, home=tmp_path / "ws"))
    try:
        first = triage(ws, TriageRequest(clip, case="kursk"))
        [made] = read_sound(clip, ws.config.sound, 30).prints
        [stored] = sound_prints(ws, first.clip_id or 0)
        assert (stored.values == made.values).all() and (stored.mask == made.mask).all()
        second = triage(ws, TriageRequest(copy, case="kursk"))
        [m] = ws.cases.record(second.clip_id or 0).matches
        assert m.other_clip_id == first.clip_id and m.entry["modality"] == "both"
        # the sound's index-log rows (migration 0011), and a removal read back from them
        heard = [(c, a) for _p, c, a in log_since(ws, 0, SOUND)]
        assert heard == [(first.clip_id, "add"), (second.clip_id, "add")]
        assert [a for _p, _c, a in log_since(ws, 0)] == ["add", "add"]  # the picture's
        idx = open_sound_index(ws)
        remove_clip(ws, first.clip_id or 0, "tester")
        assert open_sound_index(ws) is idx and idx.clips() == [second.clip_id]
        forget_open_indexes()
        assert open_sound_index(ws).clips() == [second.clip_id]  # a fresh process's view
    finally:
        ws.close()
        forget_open_indexes()


def test_a_store_survives_a_postgresql_restart(pg_server, pg_desk_url: str) -> None:  # noqa: ANN001
    cs = CaseStore(pg_desk_url)
    try:
        cid, _ = _add(cs, "77" * 32)
        pg_server.restart()  # every pooled connection is cut
        assert [c.id for c in cs.list_clips()] == [cid]  # pre-ping: a fresh connection, no error
        cs.append_events(cid, "bob", [NewEvent("noted", {})])
        assert check_chain("77" * 32, cs.custody_events(cid)[1]) == []
    finally:
        cs.close()

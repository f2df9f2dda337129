"""Schema migrations on real SQLite and PostgreSQL, and the `db upgrade` / `db current` commands."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from osint_video.config import load_config
from osint_video.errors import StoreError
from osint_video.matching import index
from osint_video.store import migrate
from osint_video.store.cases import CaseStore
from osint_video.store.evidence import EvidenceStore
from osint_video.store.schema import FingerprintRow, KeyframeRow
from osint_video.workspace import Workspace

# A workspace made by `Base.metadata.create_all` before migrations existed (SQLite, as stored).
PRE_ALEMBIC = """
CREATE TABLE clips (id INTEGER NOT NULL, sha256 VARCHAR(64) NOT NULL, size_bytes INTEGER NOT NULL,
 kind VARCHAR(16) NOT NULL, filename TEXT NOT NULL, evidence_path TEXT NOT NULL,
 status VARCHAR(16) NOT NULL, error TEXT, created_at DATETIME NOT NULL,
 updated_at DATETIME NOT NULL,
 media JSON, metadata JSON, anomalies JSON, decode JSON, duration_s FLOAT, derived JSON,
 duplicate_of INTEGER, PRIMARY KEY (id),
 FOREIGN KEY(duplicate_of) REFERENCES clips (id) ON DELETE SET NULL);
CREATE UNIQUE INDEX ix_clips_sha256 ON clips (sha256);
CREATE INDEX ix_clips_status ON clips (status);
CREATE TABLE acquisitions (id INTEGER NOT NULL, clip_id INTEGER NOT NULL, at DATETIME NOT NULL,
 operator TEXT NOT NULL, "case" VARCHAR(200), source_path TEXT, source_url TEXT, note TEXT,
 PRIMARY KEY (id), FOREIGN KEY(clip_id) REFERENCES clips (id));
CREATE INDEX ix_acquisitions_case ON acquisitions ("case");
CREATE INDEX ix_acquisitions_clip_id ON acquisitions (clip_id);
CREATE TABLE shots (id INTEGER NOT NULL, clip_id INTEGER NOT NULL, "index" INTEGER NOT NULL,
 start_frame INTEGER NOT NULL, end_frame INTEGER NOT NULL, start_s FLOAT NOT NULL,
 end_s FLOAT NOT NULL, PRIMARY KEY (id), UNIQUE (clip_id, "index"),
 FOREIGN KEY(clip_id) REFERENCES clips (id));
CREATE INDEX ix_shots_clip_id ON shots (clip_id);
CREATE TABLE keyframes (id INTEGER NOT NULL, clip_id INTEGER NOT NULL, "index" INTEGER NOT NULL,
 shot INTEGER NOT NULL, frame INTEGER NOT NULL, time_s FLOAT NOT NULL, path TEXT NOT NULL,
 phash VARCHAR(40), dhash VARCHAR(40), duplicate_of INTEGER, informative BOOLEAN NOT NULL,
 sharpness FLOAT NOT NULL, PRIMARY KEY (id), UNIQUE (clip_id, "index"),
 FOREIGN KEY(clip_id) REFERENCES clips (id));
CREATE INDEX ix_keyframes_phash ON keyframes (phash);
CREATE INDEX ix_keyframes_clip_id ON keyframes (clip_id);
CREATE TABLE custody_events (id INTEGER NOT NULL, clip_id INTEGER NOT NULL, seq INTEGER NOT NULL,
 at DATETIME NOT NULL, actor TEXT NOT NULL, action VARCHAR(64) NOT NULL, details JSON NOT NULL,
 prev_hash VARCHAR(64), hash VARCHAR(64), PRIMARY KEY (id), UNIQUE (clip_id, seq),
 FOREIGN KEY(clip_id) REFERENCES clips (id));
CREATE INDEX ix_custody_events_clip_id ON custody_events (clip_id);
CREATE TABLE matches (id INTEGER NOT NULL, clip_id INTEGER NOT NULL,
 other_clip_id INTEGER NOT NULL, score FLOAT NOT NULL, details JSON NOT NULL, PRIMARY KEY (id),
 UNIQUE (clip_id, other_clip_id), FOREIGN KEY(clip_id) REFERENCES clips (id) ON DELETE CASCADE,
 FOREIGN KEY(other_clip_id) REFERENCES clips (id) ON DELETE CASCADE);
CREATE INDEX ix_matches_other_clip_id ON matches (other_clip_id);
CREATE INDEX ix_matches_clip_id ON matches (clip_id);
INSERT INTO clips VALUES (1, 'aa', 7, 'video', 'old.mp4', 'evidence/aa/aa', 'processed', NULL,
 '2025-01-01 00:00:00', '2025-01-01 00:00:00', NULL, NULL, NULL, NULL, 4.0, NULL, NULL);
INSERT INTO custody_events VALUES (1, 1, 1, '2025-01-01 00:00:00', 'alice', 'acquired', '{}',
 NULL, 'h1');
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cases.sqlite'}"
    return str(request.getfixturevalue("pg_url"))


def _ours(name: str | None, type_: str, _parent: dict) -> bool:
    """procrastinate's own tables (0004, PostgreSQL) are not in our models."""
    return not (type_ == "table" and (name or "").startswith("procrastinate"))


def _diff(url: str) -> list:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"include_name": _ours})
            return compare_metadata(ctx, migrate.target_metadata())
    finally:
        engine.dispose()


def _all_revisions() -> list[str]:
    return [s.revision for s in migrate.scripts().walk_revisions()]


def _versions(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.scalars(text("SELECT version_num FROM alembic_version")))
    finally:
        engine.dispose()


def test_upgrade_an_empty_store_to_head_matches_the_models(empty_url: str) -> None:
    assert migrate.current(empty_url) is None
    res = migrate.upgrade(empty_url)
    assert res.before is None and res.after == migrate.head() and not res.adopted
    assert res.applied[0] == migrate.BASELINE and res.applied[-1] == migrate.head()
    assert migrate.current(empty_url) == migrate.head()
    assert _diff(empty_url) == []  # what the migrations build is exactly what the models say


def test_a_migration_run_twice_is_a_no_op(empty_url: str) -> None:
    migrate.upgrade(empty_url)
    again = migrate.upgrade(empty_url)
    assert again.before == again.after == migrate.head() and again.applied == ()
    assert _versions(empty_url) == [migrate.head()]


def test_concurrent_upgrades_run_one_after_the_other(empty_url: str) -> None:
    """Three processes at once: pg_advisory_xact_lock on PostgreSQL, BEGIN IMMEDIATE on SQLite.

    Without the lock the losers fail (`table clips already exists`); with it they find nothing
    to do.
    """
    with ProcessPoolExecutor(3, mp_context=get_context("spawn")) as pool:
        results = list(pool.map(migrate.upgrade, [empty_url] * 3))
    assert sorted(len(r.applied) for r in results)[:2] == [0, 0], results
    assert max(len(r.applied) for r in results) == len(_all_revisions())
    assert _versions(empty_url) == [migrate.head()]


def test_a_workspace_from_before_migrations_is_adopted_then_upgraded(tmp_path: Path) -> None:
    db = tmp_path / "cases.sqlite"
    import sqlite3

    with sqlite3.connect(db) as con:
        con.executescript(PRE_ALEMBIC)
    url = f"sqlite:///{db}"
    assert migrate.current(url) is None
    cs = CaseStore(url)  # an analyst's workspace upgrades itself on open
    try:
        assert migrate.current(url) == migrate.head()
        assert inspect(cs.engine).has_table("match_fingerprints")  # baseline filled the gap
        clip = cs.load(1)
        assert clip.filename == "old.mp4" and [e.hash for e in clip.custody] == ["h1"]
    finally:
        cs.close()
    # INTEGER vs BIGINT is the same 64-bit storage on SQLite; nothing else may differ.
    assert [d for d in _diff(url) if d[0][0] != "modify_type"] == []
    res = migrate.upgrade(url)
    assert res.applied == () and not res.adopted


def test_postgresql_not_at_head_is_refused_with_the_command_to_run(pg_url: str) -> None:
    with pytest.raises(StoreError) as err:
        CaseStore(pg_url)
    msg = str(err.value)
    assert "127.0.0.1:" in msg and "osint-video db upgrade" in msg and migrate.head() in msg
    assert "\n" not in msg and migrate.current(pg_url) is None  # nothing was created
    assert inspect(create_engine(pg_url)).get_table_names() == []


def test_a_revision_newer_than_this_version_is_named(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.sqlite'}"
    migrate.upgrade(url)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099_future'"))
    engine.dispose()
    with pytest.raises(StoreError, match="0099_future, unknown to this version"):
        CaseStore(url)


def _cli(
    mp: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], env: dict[str, str], *args: str
) -> tuple[int, str, str]:
    """The real entry point (cli.main), in process: a subprocess costs ~2 s of imports."""
    from osint_video import cli
    from osint_video.commands import db

    if not any(g.name == "db" for g in cli.app.registered_groups):
        db.register(cli.app, cli._cfg)  # until cli.py lists the module
    for key, value in env.items():
        mp.setenv(key, value)
    mp.setattr(sys, "argv", ["osint-video", *args])
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        cli.main()
    cap = capsys.readouterr()
    return int(done.value.code or 0), cap.out, cap.err


def test_cli_db_upgrade_and_current(
    empty_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    env = {"OSINT_VIDEO_DB": empty_url, "OSINT_VIDEO_HOME": str(tmp_path / "ws")}
    rc, out, err = _cli(monkeypatch, capsys, env, "db", "current", "--json")
    assert rc == 1 and json.loads(out)["current"] is None, err
    rc, out, err = _cli(monkeypatch, capsys, env, "db", "upgrade", "--json")
    assert rc == 0, err
    data = json.loads(out)
    assert data["after"] == migrate.head() and data["applied"][0] == migrate.BASELINE
    rc, out, _ = _cli(monkeypatch, capsys, env, "db", "upgrade")
    assert rc == 0 and "nothing to do" in out
    rc, out, _ = _cli(monkeypatch, capsys, env, "db", "current", "--json")
    now = json.loads(out)
    assert rc == 0 and now["current"] == now["head"] == migrate.head() and now["up_to_date"]


def test_a_database_that_does_not_answer_is_one_line_naming_the_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from pgserver import free_port

    port = free_port()  # nothing listens there
    url = f"postgresql+psycopg://desk:s3cret-pw@127.0.0.1:{port}/osint"
    env = {"OSINT_VIDEO_DB": url, "OSINT_VIDEO_HOME": str(tmp_path / "ws")}
    for args in (("db", "upgrade"), ("db", "current", "--json"), ("queue", "list")):
        start = time.monotonic()
        rc, out, err = _cli(monkeypatch, capsys, env, *args)
        assert time.monotonic() - start < 10
        assert rc == 1 and out == "", (out, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert f"127.0.0.1:{port}/osint" in lines[0] and "refused" in lines[0].lower()
        assert "s3cret" not in err and "Traceback" not in err
    # And through a real process: one line, no traceback.
    proc = subprocess.run(
        [sys.executable, "-m", "osint_video.cli", "queue", "list"],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
    )
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert f"127.0.0.1:{port}" in proc.stderr and "s3cret" not in proc.stderr


def test_engine_options_for_a_desk() -> None:
    engine = migrate.engine_for("postgresql+psycopg://u:pw@db.example:6543/desk")
    assert engine.pool._pre_ping  # type: ignore[attr-defined]
    assert migrate.where(str(engine.url)) == "db.example:6543/desk"
    assert "pw" not in migrate.masked("postgresql+psycopg://u:pw@db.example/desk")
    with pytest.raises(StoreError, match="cannot open the case store"):
        migrate.engine_for("nosuchdriver://x")


def test_the_head_constant_is_the_newest_script() -> None:
    """`migrate.HEAD` spares every command reading the scripts; it must follow them."""
    assert migrate.scripts().get_current_head() == migrate.HEAD


def test_opening_a_store_at_head_imports_no_alembic(tmp_path: Path) -> None:
    code = (
        "import sys; from pathlib import Path\n"
        "from osint_video.config import load_config\n"
        "from osint_video.workspace import Workspace\n"
        f"ws = Workspace.open(load_config(home=Path({str(tmp_path)!r})))\n"  # creates: migrates
        "ws.close()\n"
        "print(any(m.startswith('alembic') for m in sys.modules))\n"
    )
    run = [sys.executable, "-c", code]
    assert subprocess.run(run, capture_output=True, text=True, check=True).stdout.strip() == "True"
    again = subprocess.run(run, capture_output=True, text=True, check=True)
    assert again.stdout.strip() == "False"  # at head: no alembic import


def test_no_table_is_created_at_run_time() -> None:
    """Tables come from the migrations only: `create_all` at run time would build a table a
    desk's `db upgrade` never made (or made differently), and it would not be in any revision."""
    package = Path(migrate.__file__).resolve().parents[1]
    calls = [
        f"{path.relative_to(package)}:{node.lineno}"
        for path in sorted(package.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text("utf-8")))
        if isinstance(node, ast.Attribute)
        and node.attr in {"create_all", "create_table"}
        and "migrations" not in path.parts
    ]
    assert calls == []


# Fingerprints as 0001-0004 stored them (bare hex): the top bit set and clear, both extremes.
OLD_HASHES = [0xBA8C84536BD3C366, 0x0123456789ABCDEF, 0, (1 << 64) - 1, 1 << 63]
VIEWS = ("full", "full_mirror", "center80", "center90", "center90_mirror")
TAGGED = ("phash:64:00000000000000ff", "dhash:64:00000000000000ff")


def _store_at_0005_with_rows(url: str) -> None:
    """A case store as the release before 0006 left it: a clip, two keyframes (one with bare
    hex hashes, one tagged, as every release wrote them), and five fingerprint rows."""
    command.upgrade(migrate.alembic_config(url), "0005_original_bytes")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO clips (id, sha256, size_bytes, kind, filename, evidence_path, status,"
                " created_at, updated_at, priority) VALUES (1, 'aa', 7, 'video', 'old.mp4',"
                " 'evidence/aa', 'processed', :t, :t, 1)"
            ),
            {"t": "2025-01-01 00:00:00+00:00"},
        )
        kf = (
            'INSERT INTO keyframes (clip_id, "index", shot, frame, time_s, path, phash, dhash,'
            " informative, sharpness) VALUES (1, :i, 0, 0, 0.0, 'k.png', :p, :d, true, 1.0)"
        )
        conn.execute(text(kf), {"i": 0, "p": "ba8c84536bd3c366", "d": "0f0f0f0f0f0f0f0f"})
        conn.execute(text(kf), {"i": 1, "p": TAGGED[0], "d": TAGGED[1]})
        for i, h in enumerate(OLD_HASHES):
            conn.execute(
                text(
                    'INSERT INTO match_fingerprints (clip_id, "index", time_s, texture,'
                    ' informative, "full", full_mirror, center80, center90, center90_mirror)'
                    " VALUES (1, :i, :t, 20.0, true, :h, :h, :c, :h, :h)"
                ),
                {"i": i, "t": i * 0.25, "h": f"{h:016x}", "c": f"{h ^ 0xFF:016x}"},
            )
    engine.dispose()


def test_0006_makes_stored_hashes_say_what_made_them(empty_url: str, tmp_path: Path) -> None:
    """A store with rows from before 0006 (both backends): keyframe hashes get their prefix,
    fingerprints become 64-bit integers beside `hash` = phash:64, the schema is the models',
    the index rebuilt from the table holds the very same hashes, and a downgrade gives the hex
    text back."""
    _store_at_0005_with_rows(empty_url)
    assert migrate.upgrade(empty_url).applied[0] == "0006_hashes"
    assert _diff(empty_url) == []
    ws = Workspace(
        load_config(home=tmp_path), tmp_path, CaseStore(empty_url), EvidenceStore(tmp_path)
    )
    try:
        with ws.cases.session() as ses:
            kfs = ses.query(KeyframeRow).order_by(KeyframeRow.index).all()
            fps = ses.query(FingerprintRow).order_by(FingerprintRow.index).all()
        assert [(k.phash, k.dhash) for k in kfs] == [
            ("phash:64:ba8c84536bd3c366", "dhash:64:0f0f0f0f0f0f0f0f"),
            TAGGED,  # already tagged: left alone
        ]
        assert [f.hash for f in fps] == ["phash:64"] * len(OLD_HASHES)
        assert [[getattr(f, v) for v in VIEWS] for f in fps] == [
            [h, h, h ^ 0xFF, h, h] for h in OLD_HASHES
        ]
        built = index.rebuild(ws)
        want = [x for h in OLD_HASHES for x in (h, h ^ 0xFF)]
        assert built.hashes.tolist() == want and built.hashes.dtype == np.uint64
        assert json.loads((index.index_dir(ws) / "manifest.json").read_text())["hash"] == "phash:64"
    finally:
        ws.close()
    engine = create_engine(empty_url)
    with engine.connect() as conn:  # in SQL: the two's complement, as BIGINT holds it
        raw = conn.scalars(text('SELECT "full" FROM match_fingerprints ORDER BY "index"')).all()
    engine.dispose()
    assert raw == [h - (1 << 64) if h >= 1 << 63 else h for h in OLD_HASHES]

    command.downgrade(migrate.alembic_config(empty_url), "0005_original_bytes")
    engine = create_engine(empty_url)
    with engine.connect() as conn:
        back = conn.execute(
            text('SELECT "full", center80 FROM match_fingerprints ORDER BY "index"')
        )
        assert [tuple(r) for r in back] == [(f"{h:016x}", f"{h ^ 0xFF:016x}") for h in OLD_HASHES]
        assert "hash" not in {c["name"] for c in inspect(conn).get_columns("match_fingerprints")}
    engine.dispose()
    assert migrate.upgrade(empty_url).applied[0] == "0006_hashes"  # and up again


def test_a_bare_hex_keyframe_hash_is_refused(tmp_path: Path) -> None:
    """What 0006 converts can no longer be written: keyframe hashes must say what made them."""
    store = CaseStore(f"sqlite:///{tmp_path / 'c.sqlite'}")
    try:
        with pytest.raises(StoreError, match="not a hash string"), store.session() as ses:
            ses.add(
                KeyframeRow(clip_id=1, index=0, shot=0, frame=0, time_s=0.0, path="k.png",
                            phash="ba8c84536bd3c366", dhash="dhash:64:0f0f0f0f0f0f0f0f")
            )  # fmt: skip
    finally:
        store.close()


def test_0011_logs_the_sound_already_stored(empty_url: str, tmp_path: Path) -> None:
    """A store with sound fingerprints from before 0011 (both backends): every log row so far is
    the picture's, each clip with sound gets one sound `add` (in the order its sound was
    stored), and the sound index built from the log and the rows finds what they hold."""
    from osint_video.matching.manifest import log_since
    from osint_video.matching.sound_index import open_sound_index
    from osint_video.store.schema import PICTURE, SOUND

    command.upgrade(migrate.alembic_config(empty_url), "0010_sound")
    rng = np.random.default_rng(0)
    values = [rng.integers(0, 2**32, 40, dtype=np.uint64).astype("<u4") for _ in range(3)]
    engine = create_engine(empty_url)
    with engine.begin() as conn:
        for cid in (1, 2):
            conn.execute(
                text(
                    "INSERT INTO clips (id, sha256, size_bytes, kind, filename, evidence_path,"
                    " status, created_at, updated_at, priority) VALUES (:i, :s, 1, 'video',"
                    " 'a.mp4', 'evidence/a', 'processed', '2025-01-01 00:00:00',"
                    " '2025-01-01 00:00:00', 1)"
                ),
                {"i": cid, "s": f"{cid:064x}"},
            )
        conn.execute(
            text("INSERT INTO match_index_log (clip_id, action, hashes) VALUES (1, 'add', 2)")
        )
        for cid, track, v in ((2, 0, values[0]), (1, 0, values[1]), (1, 1, values[2])):
            conn.execute(
                text(
                    "INSERT INTO sound_fingerprints (clip_id, track, algorithm, start_s, item_s,"
                    ' span_s, items, informative, "values", mask) VALUES (:c, :t,'
                    " 'chromaprint:2', 0, 0.124, 2.7, 40, 40, :v, :m)"
                ),
                {
                    "c": cid,
                    "t": track,
                    "v": v.tobytes(),
                    "m": np.packbits(np.ones(40, np.uint8)).tobytes(),
                },
            )
    engine.dispose()
    assert list(migrate.upgrade(empty_url).applied) == ["0011_sound_log"]
    assert _diff(empty_url) == []
    ws = Workspace(
        load_config(home=tmp_path), tmp_path, CaseStore(empty_url), EvidenceStore(tmp_path)
    )
    try:
        assert [(c, a) for _p, c, a in log_since(ws, 0, PICTURE)] == [(1, "add")]
        assert [(c, a) for _p, c, a in log_since(ws, 0, SOUND)] == [(2, "add"), (1, "add")]
        idx = open_sound_index(ws)
        assert idx.clips() == [1, 2] and len(idx) == 120
        assert (idx.view().track(1, 1).values == values[2]).all()
    finally:
        ws.close()
        index.forget_open_indexes()


def test_the_sound_log_downgrade_keeps_index_log_ids_unique(tmp_path: Path) -> None:
    """0011's downgrade drops `sense` by rebuilding the table on SQLite; the rebuilt table must
    still never hand an id out twice (AUTOINCREMENT), or a catching-up reader skips changes."""
    url = f"sqlite:///{tmp_path / 'cases.sqlite'}"
    migrate.upgrade(url)
    command.downgrade(migrate.alembic_config(url), "0010_sound")
    engine = create_engine(url)
    with engine.connect() as conn:
        sql = conn.scalar(text("SELECT sql FROM sqlite_master WHERE name = 'match_index_log'"))
        assert "AUTOINCREMENT" in sql and "sense" not in sql
    engine.dispose()
    assert migrate.upgrade(url).applied == ("0011_sound_log",)  # and up again

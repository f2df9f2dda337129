"""Issue 13, class 1: names and text that are not UTF-8, and one file's failure of any kind.

A cp1251 file name from a zip archive (`printf 'a_\\xcf\\xf0\\xe8.mp4'`, "a_При.mp4") and
arguments with undecodable bytes (`--note`, `--case`, `--source-url`) go through the real CLI:
every other file is processed, the names are readable everywhere (terminal, JSON, reports, both
databases, the error log) and the exact bytes come back from the store and from the report.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from synth import make_clips

from osint_video import lossless
from osint_video.config import load_config
from osint_video.report.validation import validate_report
from osint_video.store.evidence import sha256_file
from osint_video.store.schema import AcquisitionRow, ClipRow
from osint_video.workspace import Workspace

CLI = [sys.executable, "-m", "osint_video.cli"]
NAME = b"a_\xcf\xf0\xe8.mp4"  # "a_При.mp4" in cp1251
EMPTY = b"empty_\xff.mp4"
NOTE = b"from \xcf\xf0\xe8 channel"
CASE = b"kursk-\xfe"
URL = b"https://t.me/\xe0/1"


def arg(raw: bytes) -> str:
    """An argument as Python hands it to the program (surrogateescape)."""
    return os.fsdecode(raw)


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return make_clips(tmp_path_factory.mktemp("clips"), 3)


def hostile_folder(folder: Path, clips: list[Path]) -> dict[str, Path]:
    """Three good clips (one with the cp1251 name) and an empty file with a name not UTF-8."""
    folder.mkdir(parents=True)
    names = {"c0.mp4": clips[0], arg(NAME): clips[1], "c2.mp4": clips[2]}
    out = {}
    for name, src in names.items():
        shutil.copyfile(src, folder / name)
        out[name] = folder / name
    (folder / arg(EMPTY)).write_bytes(b"")
    return out


def run(
    home: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "OSINT_VIDEO_HOME": str(home), "OSINT_VIDEO_OPERATOR": "tester"}
    full.pop("OSINT_VIDEO_CONFIG", None)
    # strict UTF-8: whatever the tool prints must be valid UTF-8
    return subprocess.run(
        [*CLI, *args],
        capture_output=True,
        encoding="utf-8",
        errors="strict",
        env={**full, **(env or {})},
        timeout=300,
    )


def open_ws(home: Path, url: str | None = None) -> Workspace:
    environ = {"OSINT_VIDEO__WORKSPACE__DATABASE_URL": url} if url else {}
    return Workspace.open(load_config(home=home, environ=environ))


def assert_no_evidence_without_clip(ws: Workspace) -> None:
    """Every file under evidence/ is a clip's original, and every clip has its file."""
    held = {p.name for p in (ws.home / "evidence").rglob("*") if p.is_file()}
    shas = {c.sha256 for c in ws.cases.list_clips()}
    assert held == shas, (held - shas, shas - held)


def assert_names_kept(ws: Workspace, folder: Path) -> dict:
    """The cp1251 clip: readable in the store, its exact bytes recoverable; the same in its
    report. Returns the report."""
    with ws.cases.session() as ses:
        clip = ses.query(ClipRow).filter(ClipRow.filename == arg(NAME)).one()
        assert clip.filename == "a_\\xcf\\xf0\\xe8.mp4"
        assert clip.original_bytes == {"filename": b64(NAME)}
        acq = ses.query(AcquisitionRow).filter(AcquisitionRow.clip_id == clip.id).one()
        assert (acq.note, acq.case) == (lossless.readable(arg(NOTE)), lossless.readable(arg(CASE)))
        kept = acq.original_bytes
        assert base64.b64decode(kept["source_path"]) == bytes(folder.absolute()) + b"/" + NAME
        assert [base64.b64decode(kept[k]) for k in ("note", "case", "source_url")] == [
            NOTE,
            CASE,
            URL,
        ]
        report = json.loads((ws.home / clip.derived["report_json"]).read_text("utf-8"))
    validate_report(report)
    assert report["schema_version"] == "1.4"
    c = report["clip"]
    assert os.fsencode(lossless.restore(c["filename"], c["original_bytes"]["filename"])) == NAME
    a = report["acquisitions"][0]
    assert a["source_name"] == "a_\\xcf\\xf0\\xe8.mp4"
    assert a["note"] == "from \\xcf\\xf0\\xe8 channel"
    for key, raw in (("source_name", NAME), ("note", NOTE), ("case", CASE), ("source_url", URL)):
        assert base64.b64decode(a["original_bytes"][key]) == raw
    full_path = bytes(folder.absolute()) + b"/" + NAME
    assert a["source_path_sha256"] == hashlib.sha256(full_path).hexdigest()
    acquired = report["custody"][0]["details"]
    assert acquired["original_bytes"]["source_name"] == b64(NAME)
    assert acquired["note"] == "from \\xcf\\xf0\\xe8 channel"
    return report


@pytest.mark.parametrize("processes", ["1", "2"])
def test_triage_keeps_names_losslessly_and_goes_on(
    tmp_path: Path, clips: list[Path], processes: str
) -> None:
    home, folder = tmp_path / "ws", tmp_path / "in"
    hostile_folder(folder, clips)
    proc = run(
        home,
        "triage",
        str(folder),
        "--note",
        arg(NOTE),
        "--case",
        arg(CASE),
        "--source-url",
        arg(URL),
        "--json",
        env={"OSINT_VIDEO__WORKER__TRIAGE_PROCESSES": processes},
    )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error")]
    assert errors == [f"error: {folder}/empty_\\xff.mp4: empty file (0 bytes)"], proc.stderr
    lines = [json.loads(ln) for ln in proc.stdout.splitlines()]
    assert [ln["input"].rsplit("/", 1)[-1] for ln in lines] == [
        "a_\\xcf\\xf0\\xe8.mp4",
        "c0.mp4",
        "c2.mp4",
        "empty_\\xff.mp4",
    ]
    assert [ln["status"] for ln in lines] == ["processed"] * 3 + ["rejected"]
    assert base64.b64decode(lines[0]["original_bytes"]["input"]).endswith(NAME)
    assert base64.b64decode(lines[3]["original_bytes"]["input"]).endswith(EMPTY)
    assert lines[0]["clip"]["original_bytes"] == {"filename": b64(NAME)}
    ws = open_ws(home)
    try:
        assert_names_kept(ws, folder)
        assert_no_evidence_without_clip(ws)
    finally:
        ws.close()
    if processes == "1":  # what the outputs show does not depend on how the clips ran
        shown_everywhere(home)


def shown_everywhere(home: Path) -> None:
    """`queue list` (text, JSON, --case filter), the clip's and the case's reports."""
    listing = run(home, "queue", "list", "--case", arg(CASE))
    assert listing.returncode == 0 and "a_\\xcf\\xf0\\xe8.mp4" in listing.stdout
    assert "kursk-\\xfe" in listing.stdout
    rows = json.loads(run(home, "queue", "list", "--json").stdout)
    bad = next(r for r in rows if r["filename"].startswith("a_"))
    assert base64.b64decode(bad["original_bytes"]["filename"]) == NAME
    md = run(home, "report", str(bad["id"]), "--format", "md")
    html = run(home, "report", str(bad["id"]), "--format", "html")
    assert md.returncode == html.returncode == 0, md.stderr + html.stderr
    for text in (md.stdout, Path(html.stdout.strip()).read_text("utf-8")):
        assert "xcf" in text and "xe0/1" in text and "\ufffd" not in text
    case = run(home, "report", "--case", arg(CASE), "--format", "json")
    assert case.returncode == 0, case.stderr
    assert json.loads(case.stdout)["case"] == "kursk-\\xfe"
    for ref in (["--case", arg(CASE)], [str(bad["id"])]):
        pdf = run(home, "report", *ref, "--format", "pdf")
        assert pdf.returncode == 0 and Path(pdf.stdout.strip()).stat().st_size > 1000


@pytest.mark.parametrize("processes", ["1", "2"])
def test_an_unexpected_error_is_one_line_and_leaves_no_evidence(
    cli, home: Path, tmp_path: Path, clips: list[Path], processes: str, monkeypatch
) -> None:
    """A probe that raises something no one expected (a bug) for the cp1251 file: one line
    naming the log, the traceback in the log, the others processed, no evidence left."""
    from osint_video.steps import intake as steps

    folder = tmp_path / "in"
    files = hostile_folder(folder, clips)
    doomed = sha256_file(files[arg(NAME)])
    real = steps.probe_stored

    def probe(ws, stored, kind):  # noqa: ANN001, ANN202
        if stored.sha256 == doomed:
            raise RuntimeError(f"parser bug on {arg(NAME)}")
        return real(ws, stored, kind)

    monkeypatch.setattr(steps, "probe_stored", probe)
    monkeypatch.setenv("OSINT_VIDEO__WORKER__TRIAGE_PROCESSES", processes)
    rc, _out, err = cli("triage", str(folder), "--note", arg(NOTE))
    assert rc == 1 and "Traceback" not in err
    errors = [ln for ln in err.splitlines() if ln.startswith("error")]
    assert len(errors) == 2, err
    assert errors[0].startswith(f"error: {folder}/a_\\xcf\\xf0\\xe8.mp4: internal error")
    assert "RuntimeError: parser bug on a_\\xcf\\xf0\\xe8.mp4" in errors[0]
    assert err.count("ok: ") == 2
    log = (home / "logs" / "errors.log").read_text("utf-8")
    assert "Traceback" in log and "parser bug on a_\\xcf\\xf0\\xe8.mp4" in log
    ws = open_ws(home)
    try:
        assert len(ws.cases.list_clips()) == 2
        assert not ws.evidence.path_for(doomed).exists()
        assert_no_evidence_without_clip(ws)
    finally:
        ws.close()


def test_a_database_error_while_recording_removes_the_new_evidence(
    cli, home: Path, tmp_path: Path, clips: list[Path], monkeypatch
) -> None:
    from osint_video.errors import StoreError
    from osint_video.store.cases import CaseStore

    folder = tmp_path / "in"
    files = hostile_folder(folder, clips)
    doomed = sha256_file(files["c2.mp4"])
    real = CaseStore.acquire

    def acquire(self, **kw):  # noqa: ANN001, ANN003, ANN202
        if kw["sha256"] == doomed:
            raise StoreError("case store error: OperationalError: disk I/O error")
        return real(self, **kw)

    monkeypatch.setattr(CaseStore, "acquire", acquire)
    rc, _out, err = cli("queue", "add", str(folder), "--note", arg(NOTE))
    assert rc == 1 and "Traceback" not in err
    errors = [ln for ln in err.splitlines() if ln.startswith("error")]
    assert errors == [
        f"error: {folder}/c2.mp4: case store error: OperationalError: disk I/O error",
        f"error: {folder}/empty_\\xff.mp4: empty file (0 bytes)",
    ], err
    ws = open_ws(home)
    try:
        assert len(ws.cases.list_clips()) == 2
        assert_no_evidence_without_clip(ws)
    finally:
        ws.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str | None:
    if request.param == "sqlite":
        return None
    return str(request.getfixturevalue("pg_desk_url"))


def test_queue_add_and_workers_keep_names_on_both_databases(
    tmp_path: Path, clips: list[Path], backend: str | None
) -> None:
    """`queue add` of the folder, `queue list`, then the workers (PostgreSQL: a real
    procrastinate worker; SQLite: the local pool) process every clip."""
    home, folder = tmp_path / "ws", tmp_path / "in"
    hostile_folder(folder, clips)
    env = {"OSINT_VIDEO_DB": backend} if backend else {}
    args = ["--note", arg(NOTE), "--case", arg(CASE), "--source-url", arg(URL)]
    proc = run(home, "queue", "add", str(folder), *args, "--json", env=env)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error")]
    assert errors == [f"error: {folder}/empty_\\xff.mp4: empty file (0 bytes)"]
    added = [json.loads(ln) for ln in proc.stdout.splitlines()]
    assert [a["status"] for a in added] == ["queued", "queued", "queued", "failed"]
    assert base64.b64decode(added[0]["original_bytes"]["input"]).endswith(NAME)
    listing = run(home, "queue", "list", "--case", arg(CASE), env=env)
    assert "a_\\xcf\\xf0\\xe8.mp4" in listing.stdout and listing.stdout.count("queued") == 3
    drained = run(home, "worker", "--drain", env=env)
    assert drained.returncode == 0 and "Traceback" not in drained.stderr, drained.stderr
    ws = open_ws(home, backend)
    try:
        assert {c.status for c in ws.cases.list_clips()} == {"processed"}
        assert_names_kept(ws, folder)
        assert_no_evidence_without_clip(ws)
    finally:
        ws.close()


def test_notes_and_names_with_bytes_in_other_commands(tmp_path: Path, clips: list[Path]) -> None:
    """Free text of the desk's commands (status notes, assignees) and the terminal lines."""
    home, folder = tmp_path / "ws", tmp_path / "in"
    files = hostile_folder(folder, clips)
    operator = {"OSINT_VIDEO_OPERATOR": arg(b"op\xe9rateur")}  # latin-1, from the environment
    assert run(home, "queue", "add", str(files[arg(NAME)]), env=operator).returncode == 0
    moved = run(home, "queue", "status", "1", "failed", "--note", arg(NOTE))
    assert moved.returncode == 0, moved.stderr
    given = run(home, "queue", "assign", "1", arg(b"ol\xe5na"), "--note", arg(NOTE))
    assert given.returncode == 0 and "ol\\xe5na" in given.stderr, given.stderr
    rows = json.loads(run(home, "queue", "list", "--json", "--assignee", arg(b"ol\xe5na")).stdout)
    assert [r["assignee"] for r in rows] == ["ol\\xe5na"]
    ws = open_ws(home)
    try:
        _sha, events = ws.cases.custody_events(1)
    finally:
        ws.close()
    assert events[0].actor == "op\\xe9rateur"
    last = events[-1].details
    assert last["note"] == "from \\xcf\\xf0\\xe8 channel"
    assert base64.b64decode(last["original_bytes"]["note"]) == NOTE
    verified = run(home, "verify", "--all")
    assert verified.returncode == 0, verified.stdout
    report = json.loads(run(home, "report", "1", "--format", "json").stdout)
    acq = report["acquisitions"][0]
    assert acq["operator"] == "op\\xe9rateur"
    assert base64.b64decode(acq["original_bytes"]["operator"]) == b"op\xe9rateur"


def test_names_that_look_like_terminal_markup_are_shown_as_they_are(
    tmp_path: Path, clips: list[Path]
) -> None:
    """Square brackets are rich markup on the terminal: "[/c]" as a case once stopped
    `queue list` with a MarkupError, and "[bold]" vanished from names."""
    home, folder = tmp_path / "ws", tmp_path / "a["
    folder.mkdir()
    clip = folder / "bold]x.mp4"  # its path holds "[/bold]"
    shutil.copyfile(clips[0], clip)
    added = run(home, "queue", "add", str(clip), "--case", "[/c]", "--note", "[red]n[/red]")
    assert added.returncode == 0 and f"ok: {clip} -> clip 1" in added.stderr, added.stderr
    listing = run(home, "queue", "list")
    assert listing.returncode == 0, listing.stderr
    assert "bold]x.mp4" in listing.stdout and "[/c]" in listing.stdout
    tri = run(home, "triage", str(clip), "--case", "[bold]k")
    assert tri.returncode == 0 and f"ok: {clip} -> clip 1" in tri.stderr, tri.stderr
    assert "[/c], [bold]k" in run(home, "queue", "list").stdout


def test_a_url_with_bytes_that_are_not_utf8_is_one_line(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    proc = run(home, "queue", "add", arg(b"https://example.org/\xff.mp4"), "--json")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == (
        "error: https://example.org/\\xff.mp4: the URL has bytes that are not UTF-8: "
        "percent-encode them"
    )
    got = json.loads(proc.stdout)
    assert base64.b64decode(got["original_bytes"]["input"]) == b"https://example.org/\xff.mp4"

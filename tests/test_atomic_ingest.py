"""Issue 13, class 2 (ingest) and `verify --all`: an evidence file exists only with its clip.

An intake that fails after storing the original removes it again, but never a file another
intake of the same bytes (another process, another desk machine) is recording: the ingest lock
makes the second intake wait, on SQLite (a lock file) and on PostgreSQL (an advisory lock).
`verify --all` names whatever belongs to no clip and deletes nothing.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from synth import make_clips

from osint_video.config import load_config
from osint_video.pipeline import TriageRequest, intake
from osint_video.steps import intake as steps
from osint_video.store.evidence import sha256_file
from osint_video.workspace import Workspace

CLI = [sys.executable, "-m", "osint_video.cli"]


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return make_clips(tmp_path_factory.mktemp("clips"), 2)


@pytest.fixture(params=["sqlite", "postgresql"])
def desk(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch) -> Iterator[dict]:  # noqa: ANN001
    """A workspace (home, env for the CLI, and a factory of Workspaces) on either database."""
    home = tmp_path / "ws"
    env = {**os.environ, "OSINT_VIDEO_HOME": str(home), "OSINT_VIDEO_OPERATOR": "tester"}
    env.pop("OSINT_VIDEO_CONFIG", None)
    env.pop("OSINT_VIDEO_DB", None)
    monkeypatch.delenv("OSINT_VIDEO_DB", raising=False)
    if request.param == "postgresql":
        url = str(request.getfixturevalue("pg_desk_url"))
        env["OSINT_VIDEO_DB"] = url
        monkeypatch.setenv("OSINT_VIDEO_DB", url)
    cfg = load_config(home=home, environ={})
    opened: list[Workspace] = []

    def open_ws() -> Workspace:
        opened.append(Workspace.open(cfg))
        return opened[-1]

    yield {"home": home, "env": env, "open": open_ws}
    for ws in opened:
        ws.close()


def evidence_files(home: Path) -> set[str]:
    return {p.name for p in (home / "evidence").rglob("*") if p.is_file()}


class StuckProbe:
    """A probe that, in the thread named `stuck`, signals once the original is stored, waits
    to be released, then fails like a parser bug; every other call probes for real."""

    def __init__(self, monkeypatch) -> None:  # noqa: ANN001
        self.stored, self.release = threading.Event(), threading.Event()
        self.others_probing = threading.Event()
        real = steps.probe_stored

        def probe(ws, stored, kind):  # noqa: ANN001, ANN202
            if threading.current_thread().name == "stuck":
                self.stored.set()
                self.release.wait(30)
                raise RuntimeError("parser bug")
            self.others_probing.set()
            return real(ws, stored, kind)

        monkeypatch.setattr(steps, "probe_stored", probe)

    def start(self, ws: Workspace, path: Path) -> tuple[threading.Thread, list[BaseException]]:
        errors: list[BaseException] = []

        def go() -> None:
            try:
                intake(ws, TriageRequest(path))
            except BaseException as exc:  # noqa: BLE001 - the test looks at it
                errors.append(exc)

        thread = threading.Thread(target=go, name="stuck")
        thread.start()
        assert self.stored.wait(30), "the stuck intake never stored its original"
        return thread, errors


def test_a_failed_intake_never_removes_what_a_concurrent_intake_records(
    desk: dict, clips: list[Path], tmp_path: Path, monkeypatch
) -> None:
    """Intake A stores new bytes, then fails; intake B of the same bytes starts meanwhile.
    Without the lock B would find the file stored, A would remove it, and B would record a
    clip without its original. With it, B waits until A has undone its store."""
    stuck = StuckProbe(monkeypatch)
    copy = tmp_path / "same bytes.mp4"
    shutil.copyfile(clips[0], copy)
    sha = sha256_file(clips[0])
    thread_a, errors_a = stuck.start(desk["open"](), clips[0])
    assert sha in evidence_files(desk["home"])
    got: list = []
    thread_b = threading.Thread(
        target=lambda: got.append(intake(desk["open"](), TriageRequest(copy)))
    )
    thread_b.start()
    assert not stuck.others_probing.wait(1.5), "B went past the lock while A held it"
    stuck.release.set()
    thread_a.join(30)
    thread_b.join(60)
    assert [type(e).__name__ for e in errors_a] == ["RuntimeError"]
    assert len(got) == 1 and got[0].sha256 == sha and got[0].is_new
    ws = desk["open"]()
    assert ws.evidence.path_for(sha).is_file() and sha256_file(ws.evidence.path_for(sha)) == sha
    assert evidence_files(desk["home"]) == {c.sha256 for c in ws.cases.list_clips()} == {sha}


def test_another_process_waits_for_the_lock(
    desk: dict, clips: list[Path], tmp_path: Path, monkeypatch
) -> None:
    """The same across processes: `queue add` of the same bytes in a second process records
    nothing while the first intake holds the lock, then records its clip with the original."""
    stuck = StuckProbe(monkeypatch)
    copy = tmp_path / "same bytes.mp4"
    shutil.copyfile(clips[1], copy)
    sha = sha256_file(copy)
    thread_a, errors_a = stuck.start(desk["open"](), clips[1])
    proc = subprocess.Popen(
        [*CLI, "queue", "add", str(copy)],
        env=desk["env"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        incoming = desk["home"] / "evidence" / "sha256"
        for _ in range(300):  # B has staged its copy: next it waits for the lock
            if any(incoming.glob(".incoming-*")) or proc.poll() is not None:
                break
            time.sleep(0.1)
        time.sleep(1.5)
        assert proc.poll() is None, proc.communicate()
        ws = desk["open"]()
        assert ws.cases.list_clips() == []
    finally:
        stuck.release.set()
        thread_a.join(30)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and "-> clip 1 (queued)" in err, err
    assert [type(e).__name__ for e in errors_a] == ["RuntimeError"]
    assert evidence_files(desk["home"]) == {c.sha256 for c in ws.cases.list_clips()} == {sha}


def test_a_failed_intake_keeps_evidence_a_clip_owns(
    home: Path, clips: list[Path], monkeypatch
) -> None:
    """A clip whose original went missing: an intake that stores it again and then fails
    keeps it (the clip owns it), whereas a new original is removed."""
    cfg = load_config()
    ws = Workspace.open(cfg)
    try:
        owned = intake(ws, TriageRequest(clips[0]))
        path = ws.evidence.path_for(owned.sha256)
        ws.evidence.remove(owned.sha256)
        assert not path.exists()

        def explode(*_a: object) -> None:
            raise RuntimeError("parser bug")

        monkeypatch.setattr(steps, "probe_stored", explode)
        for clip in clips:
            with pytest.raises(RuntimeError):
                intake(ws, TriageRequest(clip))
        assert path.is_file() and sha256_file(path) == owned.sha256
        assert evidence_files(ws.home) == {owned.sha256}
    finally:
        ws.close()


def test_leftover_temporary_files_of_killed_intakes_are_swept(
    home: Path, clips: list[Path]
) -> None:
    """`.incoming-*` files left by a killed process go at the next intake; one that is fresh
    or still locked (an intake writing it) stays."""
    root = home / "evidence" / "sha256"
    root.mkdir(parents=True)
    old, fresh, busy = (root / f".incoming-{n}" for n in ("old", "fresh", "busy"))
    for p in (old, fresh, busy):
        p.write_bytes(b"partial copy")
    hour_ago = time.time() - 3600
    os.utime(old, (hour_ago, hour_ago))
    os.utime(busy, (hour_ago, hour_ago))
    env = {**os.environ, "OSINT_VIDEO_HOME": str(home), "OSINT_VIDEO_OPERATOR": "tester"}
    with open(busy, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        proc = subprocess.run(
            [*CLI, "queue", "add", str(clips[0])], env=env, capture_output=True, text=True
        )
    assert proc.returncode == 0, proc.stderr
    assert not old.exists() and fresh.exists() and busy.exists()


def test_verify_all_names_files_of_no_clip_and_deletes_nothing(
    home: Path, clips: list[Path], tmp_path: Path
) -> None:
    env = {**os.environ, "OSINT_VIDEO_HOME": str(home), "OSINT_VIDEO_OPERATOR": "tester"}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=300)

    assert cli("triage", str(clips[0])).returncode == 0
    clean = cli("verify", "--all")
    assert clean.returncode == 0 and "FAILED" not in clean.stdout, clean.stdout
    stray = sha256_file(clips[1])
    stray_rel = f"evidence/sha256/{stray[:2]}/{stray[2:4]}/{stray}"
    (home / stray_rel).parent.mkdir(parents=True)
    shutil.copyfile(clips[1], home / stray_rel)
    orphan_dir = home / "derived" / ("e" * 64)
    orphan_dir.mkdir()
    (orphan_dir / "report.json").write_text("{}")
    temp = home / "evidence" / "sha256" / ".incoming-x1"
    temp.write_bytes(b"half")
    planted = [home / stray_rel, orphan_dir / "report.json", temp]
    proc = cli("verify", "--all")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    failed = [ln for ln in proc.stdout.splitlines() if ln.startswith("FAILED")]
    assert failed == [
        f"FAILED: {stray_rel}: evidence file without a clip (an intake that did not finish, "
        "or a file put there by hand); nothing was deleted",
        f"FAILED: derived/{'e' * 64}: derived folder without a clip; nothing was deleted",
    ], proc.stdout
    assert "warning: evidence/sha256/.incoming-x1: temporary file of an intake" in proc.stdout
    assert "1 clip(s), 0 with differences, 2 file(s) of no clip" in proc.stdout
    data = json.loads(cli("verify", "--all", "--json").stdout)
    assert data["ok"] is False and len(data["strays"]) == 2 and len(data["stray_warnings"]) == 1
    assert cli("verify", "1").returncode == 0  # one clip: only that clip's files
    assert all(p.exists() for p in planted)


def test_verify_waits_for_an_intake_in_progress_instead_of_reporting_it(
    desk: dict, clips: list[Path], monkeypatch
) -> None:
    """An original stored a moment ago whose clip is being recorded is not "evidence without
    a clip": `verify --all` waits for that intake (its lock), then looks again."""
    stuck = StuckProbe(monkeypatch)
    thread_a, _errors = stuck.start(desk["open"](), clips[0])
    proc = subprocess.Popen(
        [*CLI, "verify", "--all"], env=desk["env"], stdout=subprocess.PIPE, text=True
    )
    try:
        time.sleep(5)  # the CLI starts (1.5-3 s on a loaded machine), then waits for the lock
        assert proc.poll() is None, proc.communicate()
    finally:
        stuck.release.set()
        thread_a.join(30)
    out, _err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "FAILED" not in out, out
    assert evidence_files(desk["home"]) == set()

"""`annotate push|pull` and `labelstudio status` against a server that answers what Label Studio
never should (issue 13, class 10): one line, a non-zero exit, no traceback, nothing recorded as
sent. The fake (tests/fake_labelstudio.py) answers correctly by default, so each case makes one
step hostile and the command must get that far: the `seen` list proves the step was reached.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_labelstudio import HTML, FakeLabelStudio, fake_labelstudio
from synth import make_cut_clip

from osint_video import service
from osint_video.config import load_config
from osint_video.labelstudio.server import Connection, LabelStudioError, ping
from osint_video.store import annotations as db
from osint_video.workspace import Workspace

OK = "error: Label Studio at http://127.0.0.1:"
ODD = "gave an unexpected answer while trying to"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace with one triaged clip of case kursk."""
    src = tmp_path_factory.mktemp("clip")
    clip = make_cut_clip(src / "c.mp4", [10], 20, size=(160, 120))
    home = tmp_path_factory.mktemp("template") / "ws"
    cfg = load_config(home=home, environ={"OSINT_VIDEO__OCR__ENABLED": "false"})
    [item] = service.triage_paths(cfg, [clip], case="kursk")
    assert item.error is None
    return home


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLabelStudio]:
    with fake_labelstudio() as server:
        yield server


@pytest.fixture
def ls(
    fake: FakeLabelStudio, template: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> FakeLabelStudio:
    """A copy of the triaged workspace, and the fake as the desk's server (all routes sane)."""
    shutil.copytree(template, home)
    fake.reset()
    monkeypatch.setenv("LABEL_STUDIO_URL", fake.url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "sekret-key")
    monkeypatch.setenv("OSINT_VIDEO__OCR__ENABLED", "false")
    return fake


def _fails_in_one_line(cli: Callable, *args: str) -> str:
    rc, _, err = cli(*args)
    assert rc != 0 and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert "sekret-key" not in err
    return err.strip()


def _sent(home: Path) -> int:
    ws = Workspace.open(load_config())
    try:
        with ws.cases.session() as ses:
            from sqlalchemy import func, select

            from osint_video.store.schema import LsTaskRow

            return int(ses.scalar(select(func.count()).select_from(LsTaskRow).where(
                LsTaskRow.task_id.is_not(None))) or 0)  # fmt: skip
    finally:
        ws.close()


PUSH = [
    ("GET", "/api/current-user/whoami", 200, [1, 2]),
    ("GET", "/api/current-user/whoami", 200, "<html>login page</html>"),
    ("GET", "/api/current-user/whoami", 200, {"email": "no id"}),
    ("GET", "/api/current-user/whoami", 502, HTML),
    ("GET", "/api/projects/", 200, ["a", "list"]),
    ("GET", "/api/projects/", 200, {"results": "not a list"}),
    ("GET", "/api/projects/", 200, {"results": [{"title": "osint-video: kursk", "id": "x"}]}),
    ("POST", "/api/projects/", 201, {}),
    ("POST", "/api/projects/", 201, {"id": -3}),
    ("POST", "/api/projects/", 201, [{"id": 7}]),
    ("POST", "/api/projects/", 418, "a teapot\nline two\n  line three"),
    ("POST", "/api/projects/7/import", 201, {"file_upload_ids": "1,2"}),
    ("POST", "/api/projects/7/import", 201, "not json"),
    ("GET", "/api/projects/7/file-uploads", 200, {"file": "x"}),
    ("GET", "/api/projects/7/file-uploads", 200, [{"id": 1}]),
]


@pytest.mark.parametrize(("method", "path", "status", "body"), PUSH)
def test_push_against_odd_answers_is_one_line(
    cli: Callable, ls: FakeLabelStudio, home: Path, method: str, path: str, status: int, body: Any
) -> None:
    ls.answer(method, path, status, body)
    err = _fails_in_one_line(cli, "annotate", "push")
    assert f"{method} {path}" in ls.seen  # the hostile step was reached
    assert err.startswith(OK)
    if status < 400:
        assert ODD in err
    assert _sent(home) == 0  # nothing recorded as sent


def test_import_tasks_answering_odd_ids_records_nothing(
    cli: Callable, ls: FakeLabelStudio, home: Path
) -> None:
    """The task import is a multipart upload first, then JSON: make only the JSON one odd."""
    rc, _, err = cli("annotate", "push")  # all well: the projects and uploads exist now
    assert rc == 0, err
    sent = _sent(home)
    assert sent > 0
    ws = Workspace.open(load_config())
    try:  # forget the tasks, so the next push sends them again
        with ws.cases.session() as ses:
            from sqlalchemy import delete

            from osint_video.store.schema import LsTaskRow

            ses.execute(delete(LsTaskRow))
    finally:
        ws.close()
    ls.answer("POST", "/api/projects/7/import", 201, {"task_ids": ["a", "b"]})
    err = _fails_in_one_line(cli, "annotate", "push")
    assert ODD in err
    assert _sent(home) == 0


PULL = [
    ("GET", "/api/users/", 200, {"id": 1}),
    ("GET", "/api/users/", 200, [{"email": "no id"}]),
    ("GET", "/api/projects/7/", 200, "<html>maintenance</html>"),
    ("GET", "/api/projects/7/", 200, ["x"]),
    ("GET", "/api/projects/7/export", 200, {"tasks": []}),
    ("GET", "/api/projects/7/export", 200, [{"id": "one"}]),
    ("GET", "/api/projects/7/export", 200, [{"id": 1, "data": [1, 2]}]),
    ("GET", "/api/projects/7/export", 200, [{"id": 1, "annotations": "many"}]),
    ("GET", "/api/projects/7/export", 200, [{"id": 1, "annotations": [{"result": []}]}]),
    ("GET", "/api/projects/7/export", 200, [{"id": 1, "annotations": [{"id": {"x": 1}}]}]),
    ("GET", "/api/projects/7/export", 200, [{"id": 1, "annotations": [[1]]}]),
    ("GET", "/api/projects/7/export", 500, HTML),
]


@pytest.mark.parametrize(("method", "path", "status", "body"), PULL)
def test_pull_against_odd_answers_is_one_line(
    cli: Callable, ls: FakeLabelStudio, method: str, path: str, status: int, body: Any
) -> None:
    assert cli("annotate", "push")[0] == 0
    ls.answer(method, path, status, body)
    err = _fails_in_one_line(cli, "annotate", "pull")
    assert f"{method} {path}" in ls.seen and err.startswith(OK)
    if status < 400:
        assert ODD in err


def test_pull_keeps_odd_annotation_values_as_invalid(cli: Callable, ls: FakeLabelStudio) -> None:
    """What annotators wrote is content, not shape: odd values are stored, marked invalid."""
    assert cli("annotate", "push")[0] == 0
    ws = Workspace.open(load_config())
    try:
        ref = db.projects(ws.cases, ls.url, "kursk")[0]
        task_id = next(iter(db.task_index(ws.cases, ref.row)))
    finally:
        ws.close()
    odd = [
        {"from_name": "verdict", "type": "choices", "to_name": "contact_sheet", "value": [1]},
        {"from_name": "flags", "type": "choices", "to_name": "image", "value": {"choices": 5}},
        "not an item",
    ]
    annotation = {"id": 11, "completed_by": 1, "result": odd, "lead_time": "long"}
    ls.answer("GET", f"/api/projects/{ref.project_id}/export", 200, [
        {"id": task_id, "annotations": [annotation]}])  # fmt: skip
    rc, out, err = cli("annotate", "pull", "--json")
    assert rc == 0 and "Traceback" not in err, err
    summary = json.loads(out)
    assert summary["added"] == 1 and len(summary["invalid"]) == 1


def test_ping_against_odd_answers(ls: FakeLabelStudio) -> None:
    """`labelstudio start` checks the server it started with `ping`: the same odd answers."""
    for path, body in [
        ("/api/current-user/whoami", [1, 2]),
        ("/api/current-user/whoami", "<html></html>"),
        ("/api/token/refresh/", {"no": "access"}),
        ("/api/token/refresh/", ["x"]),
    ]:
        ls.reset()
        ls.answer("POST" if "token" in path else "GET", path, 200, body)
        with pytest.raises(LabelStudioError, match=r"^Label Studio at http://127\.0\.0\.1:\d+ "):
            ping(Connection(ls.url, "a.jwt.token"), timeout=5)
        assert any(path in s for s in ls.seen)


@pytest.fixture
def fake_local(ls: FakeLabelStudio, home: Path) -> Iterator[FakeLabelStudio]:
    """Our "local server" (state.json) is the fake: a process whose command line says
    label-studio stands in for its pid."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "label-studio"])
    root = home / "labelstudio"
    root.mkdir(parents=True, exist_ok=True)
    state = {"url": ls.url, "port": 1, "pid": proc.pid, "username": "a", "files_root": str(home)}
    (root / "state.json").write_text(json.dumps(state))
    yield ls
    proc.kill()
    proc.wait()


@pytest.mark.parametrize("body", [[1, 2], "<html>up?</html>", {"status": ["UP"]}, 7])
def test_labelstudio_status_with_an_odd_health_answer(
    cli: Callable, fake_local: FakeLabelStudio, monkeypatch: pytest.MonkeyPatch, body: Any
) -> None:
    monkeypatch.delenv("LABEL_STUDIO_URL")
    fake_local.answer("GET", "/health", 200, body)
    rc, out, err = cli("labelstudio", "status")
    assert rc == 0 and "NOT answering" in out and err == ""
    assert "GET /health" in fake_local.seen
    err = _fails_in_one_line(cli, "annotate", "push")
    assert err == f"error: Label Studio at {fake_local.url} is not answering yet (starting?)"

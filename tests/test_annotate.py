"""`annotate push|pull|listen` against a real Label Studio (tests/lsserver.py), no mocks.

One server per module; every test works in its own copy of a triaged workspace (under the
server's Local Files root) and its own project prefix, so tests never share projects.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from c2pa_files import signed, tampered
from synth import make_cut_clip

from osint_video import service
from osint_video.annotate.client import AnnotateError, AuthError, Client, ServerUnreachable
from osint_video.annotate.pull import pull
from osint_video.annotate.push import push
from osint_video.annotate.service import run_pull
from osint_video.config import load_config
from osint_video.errors import InputError
from osint_video.labelstudio.process import free_port
from osint_video.labelstudio.server import Connection
from osint_video.report.validation import validate_report
from osint_video.store import annotations as db
from osint_video.workspace import Workspace

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
CASE = "kursk"


def verdict(value: str, rating: int = 4, text: str = "checked sources") -> list[dict[str, Any]]:
    to = {"to_name": "contact_sheet"}
    return [
        {"from_name": "verdict", "type": "choices", "value": {"choices": [value]}, **to},
        {"from_name": "confidence", "type": "rating", "value": {"rating": rating}, **to},
        {"from_name": "rationale", "type": "textarea", "value": {"text": [text]}, **to},
    ]


def frame_labels() -> list[dict[str, Any]]:
    to = {"to_name": "image"}
    box = {"x": 10, "y": 10, "width": 30, "height": 20, "rotation": 0}
    return [
        {"from_name": "objects", "type": "rectanglelabels", **to,
         "value": {**box, "rectanglelabels": ["truck"]}},
        {"from_name": "flags", "type": "choices", **to, "value": {"choices": ["graphic"]}},
    ]  # fmt: skip


def _text_clip(path: Path) -> Path:
    """2 s of test pattern with Russian on-screen text (the seed case's instructions)."""
    draw = (
        f"drawtext=fontfile={FONT}:text='ЦЕЛЬ ЗАХВАЧЕНА':x=60:y=200:fontsize=48"
        ":fontcolor=white:borderw=3:bordercolor=black"
    )
    argv = ["ffmpeg", "-y", "-loglevel", "error", "-f", "lavfi"]
    argv += ["-i", f"testsrc2=size=800x450:rate=25:duration=2,{draw}"]
    argv += ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", str(path)]
    subprocess.run(argv, check=True, capture_output=True, timeout=120)
    return path


@pytest.fixture(scope="module")
def template_ws(ls_server_module: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace with two triaged clips of case kursk (a cut clip and a text clip)."""
    src = tmp_path_factory.mktemp("clips")
    clips = [
        make_cut_clip(src / "cuts.mp4", [25, 50], 75),
        _text_clip(src / "text.mp4"),
    ]
    home = ls_server_module.files_root / "template"
    cfg = load_config(home=home, environ={"OSINT_VIDEO__OCR__ENABLED": "false"})
    items = service.triage_paths(cfg, clips, case=CASE, source_url="https://t.me/x/1")
    assert [i.error for i in items] == [None, None]
    return home


class Desk:
    """One test's workspace, config, client and server."""

    def __init__(
        self, server: Any, template: Path, ocr: bool = False, prefix: str | None = None
    ) -> None:
        self.server = server
        self.prefix = prefix or "t" + uuid.uuid4().hex[:8]
        self.home = server.files_root / uuid.uuid4().hex[:8]
        shutil.copytree(template, self.home)
        environ = {
            "OSINT_VIDEO__ANNOTATE__PROJECT_PREFIX": self.prefix,
            "OSINT_VIDEO__OCR__ENABLED": "true" if ocr else "false",
        }
        self.cfg = load_config(home=self.home, environ=environ)
        self.conn = server.connection
        self.client = Client(self.conn)
        self.ws = Workspace.open(self.cfg)

    def push(self, conn: Any = None, **kw: Any) -> Any:
        conn = conn or self.conn
        return push(self.ws, Client(conn), conn, **kw)

    def pull(self) -> Any:
        return pull(self.ws, self.client)

    def project(self, kind: str) -> db.ProjectRef:
        ref = db.get_project(self.ws.cases, self.client.url, CASE, kind)
        assert ref is not None
        return ref

    def server_tasks(self, kind: str) -> list[tuple[int, dict[str, Any]]]:
        return list(self.client.task_data(self.project(kind).project_id))

    def clip_task(self, clip_id: int) -> int:
        return next(t for t, d in self.server_tasks("clip") if d["clip_id"] == clip_id)

    def status(self, clip_id: int) -> str:
        return self.ws.cases.load(clip_id).status

    def unique_keyframes(self) -> int:
        return sum(c.unique_keyframes for c in self.ws.cases.list_clips())


@pytest.fixture
def desk(ls_server_module: Any, template_ws: Path) -> Any:
    d = Desk(ls_server_module, template_ws)
    yield d
    d.ws.close()


@pytest.fixture(scope="module")
def annotators(ls_server_module: Any) -> tuple[int, int]:
    """Two users of the admin's organisation: the admin itself and a second annotator."""
    admin = Client(ls_server_module.connection).whoami().id
    return int(admin), ls_server_module.make_user(f"second-{uuid.uuid4().hex[:6]}@desk.test")


def test_push_annotate_pull_report(ls_server_module, template_ws, annotators) -> None:
    d = Desk(ls_server_module, template_ws, ocr=True)
    s = d.push()
    assert s.images == "local-files"
    frames, clips = d.server_tasks("keyframe"), d.server_tasks("clip")
    assert len(frames) == d.unique_keyframes() and len(clips) == 2
    assert d.project("keyframe").title == f"{d.prefix}: {CASE}"
    data = frames[0][1]
    assert {"clip_id", "sha256", "frame", "time_s", "phash", "source_url", "image"} <= set(data)
    assert data["source_url"] == "https://t.me/x/1"
    assert data["image"].startswith("/data/local-files/?d=")
    assert {d.status(1), d.status(2)} == {"in_review"}
    # the image is served by the server itself (Local Files storage covers the workspace)
    sdk = ls_server_module.client()
    head = sdk._client_wrapper.httpx_client.request(data["image"].lstrip("/"), method="GET")
    assert head.status_code == 200 and head.content[:4] == b"\x89PNG"
    # OCR pre-annotation: the Russian text burned into clip 2 comes back as a prediction
    text_tasks = [t for t, x in frames if x["clip_id"] == 2]
    preds = [p for t in text_tasks for p in sdk.predictions.list(task=t)]
    texts = [
        " ".join(r["value"]["text"])
        for p in preds
        for r in p.result
        if r.get("from_name") == "transcription"
    ]
    assert any("ЦЕЛЬ" in t for t in texts), texts
    # two annotators agree on authentic for clip 1; one labels a keyframe
    admin, second = annotators
    for user in (admin, second):
        d.client.create_annotation(d.clip_task(1), verdict("authentic"), user, 20.0)
    d.client.create_annotation(frames[0][0], frame_labels(), second, 7.5)
    summary = run_pull(d.cfg, conn=d.conn)
    assert summary.added == 3 and summary.invalid == []
    assert summary.status_changes == {1: "verified"}
    assert d.status(1) == "verified" and d.status(2) == "in_review"
    clip = d.ws.cases.load(1)
    report = json.loads((d.home / "derived" / clip.sha256 / "report.json").read_text())
    validate_report(report)
    assert report["schema_version"] == "1.4"
    assert report["verdict"]["value"] == "authentic"
    assert report["verdict"]["agreement"] == 1.0 and len(report["verdict"]["annotators"]) == 2
    levels = sorted(a["level"] for a in report["annotations"])
    assert levels == ["clip", "clip", "keyframe"]
    kf = next(a for a in report["annotations"] if a["level"] == "keyframe")
    assert kf["values"]["objects"] == ["truck"] and kf["lead_time"] == 7.5
    assert kf["keyframe_id"] is not None and "@" in kf["annotator"]
    html = (d.home / "derived" / clip.sha256 / "report.html").read_text()
    assert "Human verification" in html and "authentic" in html and "truck" in html
    actions = [e.action for e in clip.custody]
    assert "annotation_tasks_pushed" in actions and "annotations_pulled" in actions
    assert ls_server_module.token not in json.dumps(report) + html


def test_content_credentials_preselect_keyframe_flags(ls_server_module, tmp_path) -> None:
    """A clip whose C2PA manifest declares generative AI, and a signed camera clip changed
    after signing: their keyframe tasks arrive with synthetic/AI and edited/manipulated
    pre-selected (a prediction), an unsigned clip's with none."""
    home = ls_server_module.files_root / uuid.uuid4().hex[:8]
    prefix = "t" + uuid.uuid4().hex[:8]
    env = {"OSINT_VIDEO__OCR__ENABLED": "false", "OSINT_VIDEO__ANNOTATE__PROJECT_PREFIX": prefix}
    cfg = load_config(home=home, environ=env)
    clips = [
        signed(tmp_path / "gen.mp4", "trainedAlgorithmicMedia", "VideoGen 2"),
        tampered(signed(tmp_path / "cam.mp4", "digitalCapture", "cam"), tmp_path / "edit.mp4"),
        make_cut_clip(tmp_path / "plain.mp4", [25], 50),
    ]
    items = service.triage_paths(cfg, clips, case=CASE)
    assert [i.error for i in items] == [None, None, None]
    ws = Workspace.open(cfg)
    try:
        push(ws, Client(ls_server_module.connection), ls_server_module.connection)
        ref = db.get_project(ws.cases, Client(ls_server_module.connection).url, CASE, "keyframe")
    finally:
        ws.close()
    assert ref is not None
    sdk = ls_server_module.client()
    flags: dict[int, set[str]] = {1: set(), 2: set(), 3: set()}
    for task_id, data in Client(ls_server_module.connection).task_data(ref.project_id):
        for p in sdk.predictions.list(task=task_id):
            assert p.model_version == "c2pa"
            for r in p.result:
                flags[data["clip_id"]].update(r["value"]["choices"])
    assert flags == {1: {"synthetic/AI"}, 2: {"edited/manipulated"}, 3: set()}


def test_push_twice_sends_nothing_new(desk) -> None:
    first = desk.push()
    assert sum(p.sent for p in first.projects) == desk.unique_keyframes() + 2
    again = desk.push()
    assert sum(p.sent for p in again.projects) == 0
    assert sum(p.already for p in again.projects) == desk.unique_keyframes() + 2
    assert len(desk.server_tasks("keyframe")) == desk.unique_keyframes()
    assert len(desk.server_tasks("clip")) == 2


def test_interrupted_push_resumes_without_duplicates(desk, monkeypatch) -> None:
    """Killed right after the server took a batch but before we recorded its ids: the worst
    moment. The next push finds those tasks on the server instead of sending them again."""
    from osint_video.annotate import push as push_mod

    real, calls = db.mark_sent, []

    def die_after_first(*a: Any, **kw: Any) -> None:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the process dies here
        real(*a, **kw)

    monkeypatch.setattr(push_mod.db, "mark_sent", die_after_first)
    desk.cfg = load_config(
        home=desk.home,
        environ={
            "OSINT_VIDEO__ANNOTATE__PROJECT_PREFIX": desk.prefix,
            "OSINT_VIDEO__ANNOTATE__BATCH_SIZE": "2",
            "OSINT_VIDEO__OCR__ENABLED": "false",
        },
    )
    desk.ws = Workspace.open(desk.cfg)
    with pytest.raises(KeyboardInterrupt):
        desk.push()
    monkeypatch.setattr(push_mod.db, "mark_sent", real)
    pending = [t for t in db.tasks(desk.ws.cases, desk.project("keyframe").row).values()]
    assert any(t.task_id is None for t in pending)  # intents the server may or may not have
    s = desk.push()
    assert s.projects[0].reconciled == 2  # found on the server, not sent again
    tasks = desk.server_tasks("keyframe")
    keys = [(x["sha256"], x["frame"]) for _, x in tasks]
    assert len(keys) == len(set(keys)) == desk.unique_keyframes()
    assert len(desk.server_tasks("clip")) == 2


def test_server_down_marks_nothing_and_a_retry_works(desk) -> None:
    down = Connection(f"http://127.0.0.1:{free_port()}", "k", local=True, files_root=None)
    with pytest.raises(ServerUnreachable, match="not reachable") as exc:
        desk.push(down)
    assert "\n" not in str(exc.value)
    assert db.projects(desk.ws.cases, down.url) == []
    assert {desk.status(1), desk.status(2)} == {"processed"}
    s = desk.push()
    assert sum(p.sent for p in s.projects) == desk.unique_keyframes() + 2


def test_wrong_token_is_one_line_without_the_token(desk) -> None:
    bad = Connection(desk.conn.url, "wrong-token-123456", local=True, files_root=None)
    with pytest.raises(AuthError) as exc:
        desk.push(bad)
    assert "wrong-token-123456" not in str(exc.value) and "LABEL_STUDIO_API_KEY" in str(exc.value)


def test_missing_images_are_named_and_nothing_is_sent(desk) -> None:
    kf = desk.ws.cases.load(1).keyframes[0]
    (desk.home / kf.path).unlink()
    with pytest.raises(InputError, match="missing from the workspace") as exc:
        desk.push()
    assert Path(kf.path).name in str(exc.value)
    assert db.projects(desk.ws.cases, desk.client.url) == []


def test_invalid_value_is_kept_but_not_counted(desk, annotators) -> None:
    desk.push()
    admin, second = annotators
    desk.client.create_annotation(desk.clip_task(1), verdict("authentic"), admin)
    desk.client.create_annotation(desk.clip_task(1), verdict("fake news"), second)
    s = desk.pull()
    assert len(s.invalid) == 1 and "fake news" in s.invalid[0].problems[0]
    stored = db.annotations_of(desk.ws.cases, 1)
    assert len(stored) == 2 and sorted(a.valid for a in stored) == [False, True]
    assert s.verdicts[1]["annotators"] == [desk.client.users()[admin]]
    assert desk.status(1) == "in_review"  # one valid annotator is not enough


def test_updated_and_deleted_annotations_are_reflected(desk, annotators) -> None:
    desk.push()
    admin, second = annotators
    a1 = desk.client.create_annotation(desk.clip_task(1), verdict("authentic"), admin)
    a2 = desk.client.create_annotation(desk.clip_task(1), verdict("authentic"), second)
    assert desk.pull().status_changes == {1: "verified"}
    sdk = desk.server.client()
    sdk.annotations.update(id=a2, result=verdict("manipulated", 2))
    s = desk.pull()
    assert (s.added, s.updated) == (0, 1)
    assert desk.status(1) == "disputed" and s.verdicts[1]["agreement"] == 0.5
    sdk.annotations.update(id=a1, result=verdict("manipulated", 5))
    assert desk.pull().status_changes == {1: "rejected"}
    sdk.annotations.delete(id=a1)
    s = desk.pull()
    assert s.deleted == 1 and [a.ls_id for a in db.annotations_of(desk.ws.cases, 1)] == [a2]
    assert desk.status(1) == "in_review"  # the decision lost its second annotator


def test_project_deleted_on_the_server_is_reported_then_recreated(desk, annotators) -> None:
    desk.push()
    desk.client.create_annotation(desk.clip_task(1), verdict("authentic"), annotators[0])
    desk.pull()
    old = desk.project("keyframe").project_id
    desk.client.delete_project(old)
    s = desk.pull()
    assert s.errors and "no longer exists" in s.errors[0]
    assert len(db.annotations_of(desk.ws.cases, 1)) == 1  # nothing lost
    again = desk.push()
    kf = again.projects[0]
    assert kf.recreated and kf.project_id != old and kf.sent == desk.unique_keyframes()
    assert len(desk.server_tasks("keyframe")) == desk.unique_keyframes()


def test_upload_when_the_server_cannot_read_the_workspace(desk) -> None:
    remote = Connection(desk.conn.url, desk.conn.api_key, local=False, files_root=None)
    s = desk.push(remote)
    assert s.images == "upload"
    _, data = desk.server_tasks("keyframe")[0]
    assert data["image"].startswith("/data/upload/")
    sdk = desk.server.client()
    got = sdk._client_wrapper.httpx_client.request(data["image"].lstrip("/"), method="GET")
    assert got.status_code == 200 and got.content[:4] == b"\x89PNG"
    _, sheet = desk.server_tasks("clip")[0]
    assert sheet["contact_sheet"].startswith("/data/upload/")


def test_listen_pulls_when_an_annotation_is_saved(desk, annotators, monkeypatch) -> None:
    from osint_video.annotate.service import listener as Listener  # noqa: N812

    desk.push()
    monkeypatch.setenv("LABEL_STUDIO_URL", desk.conn.url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", desk.conn.api_key)
    with Listener(desk.cfg, port=free_port()) as listener:
        t0 = time.monotonic()
        desk.client.create_annotation(desk.clip_task(2), verdict("unverifiable"), annotators[0])
        saved_in = time.monotonic() - t0
        deadline = time.monotonic() + 30
        while not db.annotations_of(desk.ws.cases, 2) and time.monotonic() < deadline:
            time.sleep(0.2)
    assert listener.events and listener.events[0] == "ANNOTATION_CREATED"
    assert len(db.annotations_of(desk.ws.cases, 2)) == 1
    assert saved_in < 3.0  # the receiver answers at once; the pull runs beside it
    assert desk.client.sdk.webhooks.list(project=desk.project("clip").project_id) == []


def test_listen_on_every_address_with_the_url_the_server_calls(desk, annotators, monkeypatch):
    """A desk's server elsewhere: bind 0.0.0.0, register the URL it reaches us on; posts to
    any other path than the session's secret one are refused and pull nothing."""
    from urllib.error import HTTPError
    from urllib.request import Request, urlopen

    from osint_video.annotate.service import listener as Listener  # noqa: N812

    desk.push()
    monkeypatch.setenv("LABEL_STUDIO_URL", desk.conn.url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", desk.conn.api_key)
    with pytest.raises(AnnotateError, match="needs the URL Label Studio should call"):
        Listener(desk.cfg, host="0.0.0.0", port=free_port())
    port = free_port()
    with Listener(desk.cfg, host="0.0.0.0", port=port, url=f"http://127.0.0.1:{port}") as lis:
        assert lis.url.startswith(f"http://127.0.0.1:{port}/webhook/") and len(lis.path) > 20
        assert lis.path not in lis.shown_url
        for path in ("/webhook", "/webhook/guess", "/"):
            req = Request(f"http://127.0.0.1:{port}{path}", data=b'{"action": "X"}')
            with pytest.raises(HTTPError) as refused:
                urlopen(req, timeout=5)
            assert refused.value.code == 404
        assert lis.events == []
        desk.client.create_annotation(desk.clip_task(1), verdict("authentic"), annotators[0])
        deadline = time.monotonic() + 30
        while not db.annotations_of(desk.ws.cases, 1) and time.monotonic() < deadline:
            time.sleep(0.2)
        hooks = desk.client.sdk.webhooks.list(project=desk.project("clip").project_id)
        assert [h.url for h in hooks] == [lis.url]
    assert lis.events[:1] == ["ANNOTATION_CREATED"]
    assert len(db.annotations_of(desk.ws.cases, 1)) == 1


def test_pull_before_push_is_a_clear_error(desk) -> None:
    with pytest.raises(AnnotateError, match="run annotate push"):
        desk.pull()


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run the real console entry point (the annotate group added if cli.py lacks it yet)."""
    import sys

    from osint_video import cli
    from osint_video.commands import annotate

    if not any(g.name == "annotate" for g in cli.app.registered_groups):
        annotate.register(cli.app, cli._cfg)
    old = sys.argv
    sys.argv = ["osint-video", *argv]
    try:
        with pytest.raises(SystemExit) as exc:
            cli.main()
    finally:
        sys.argv = old
    out = capsys.readouterr()
    return int(exc.value.code or 0), out.out, out.err


def test_cli_push_pull_json_and_one_line_errors(desk, capsys, monkeypatch) -> None:
    home = ["--home", str(desk.home)]
    monkeypatch.setenv("OSINT_VIDEO__ANNOTATE__PROJECT_PREFIX", desk.prefix)
    monkeypatch.setenv("OSINT_VIDEO__OCR__ENABLED", "false")
    rc, out, err = _cli(["annotate", "push", "--help"], capsys)
    assert rc == 0 and "Example: osint-video annotate push" in out
    monkeypatch.setenv("LABEL_STUDIO_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "secret-key-0000")
    rc, out, err = _cli([*home, "annotate", "push"], capsys)
    assert rc == 1 and err.count("\n") == 1 and "not reachable" in err
    assert "secret-key-0000" not in err
    monkeypatch.setenv("LABEL_STUDIO_URL", desk.conn.url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", desk.conn.api_key)
    rc, out, err = _cli([*home, "annotate", "push", "1", "--json"], capsys)
    assert rc == 0, err
    data = json.loads(out)
    assert data["images"] == "upload" and data["clips_in_review"] == [1]
    rc, out, err = _cli([*home, "annotate", "pull", "--case", CASE, "--json"], capsys)
    assert rc == 0 and json.loads(out)["added"] == 0


def test_a_second_desk_adopts_the_project_without_duplicating(desk, template_ws) -> None:
    """Another analyst's workspace with the same clips pushes to the same server."""
    desk.push()
    other = Desk(desk.server, template_ws, prefix=desk.prefix)
    s = other.push()
    assert [p.project_id for p in s.projects] == [p.project_id for p in desk.push().projects]
    assert sum(p.sent for p in s.projects) == 0
    assert sum(p.reconciled for p in s.projects) == desk.unique_keyframes() + 2
    assert len(desk.server_tasks("keyframe")) == desk.unique_keyframes()


def test_push_killed_for_real_resumes_without_duplicates(ls_server_module, tmp_path) -> None:
    """`annotate push` SIGKILLed mid-way (a real process, upload mode, one task per batch):
    the next push completes it, and the server holds each keyframe exactly once."""
    import os
    import signal
    import sys

    from osint_video.annotate.project import project_title

    server = ls_server_module
    home = tmp_path / "ws"
    prefix = "k" + uuid.uuid4().hex[:8]
    environ = {
        "OSINT_VIDEO__ANNOTATE__PROJECT_PREFIX": prefix,
        "OSINT_VIDEO__ANNOTATE__BATCH_SIZE": "1",
        "OSINT_VIDEO__OCR__ENABLED": "false",
    }
    cfg = load_config(home=home, environ=environ)
    clip = make_cut_clip(tmp_path / "many.mp4", list(range(8, 240, 8)), 248, size=(160, 120))
    [item] = service.triage_paths(cfg, [clip], case=CASE)
    assert item.error is None
    env = {**os.environ, **environ, "OSINT_VIDEO_HOME": str(home)}
    env |= {"LABEL_STUDIO_URL": server.url, "LABEL_STUDIO_API_KEY": server.token}
    cmd = [sys.executable, "-m", "osint_video.cli", "annotate", "push", "--case", CASE]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    conn = Connection(server.url, server.token)  # a desk's server: images by upload
    client = Client(conn)
    title = project_title(prefix, CASE, "keyframe")
    deadline, seen = time.monotonic() + 120, 0
    while time.monotonic() < deadline and proc.poll() is None:
        project = client.find_project(title)
        seen = len(list(client.task_data(project))) if project else 0
        if seen >= 3:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    assert proc.wait(30) == -signal.SIGKILL, f"push ended before it could be killed ({seen})"
    ws = Workspace.open(load_config(home=home, environ=environ))
    try:
        unique = sum(c.unique_keyframes for c in ws.cases.list_clips())
        assert 3 <= seen < unique  # really interrupted half-way
        summary = push(ws, client, conn)
        assert summary.projects[0].sent + summary.projects[0].already >= unique - seen
        project = client.find_project(title)
        assert project is not None
        keys = [(d["sha256"], d["frame"]) for _, d in client.task_data(project)]
        assert len(keys) == len(set(keys)) == unique
        assert push(ws, client, conn).projects[0].sent == 0
    finally:
        ws.close()


def test_upload_of_more_files_than_django_takes_in_one_request(desk) -> None:
    """Django refuses > 100 files per request (DATA_UPLOAD_MAX_NUMBER_FILES): 1k-keyframe
    pushes to a desk's server must split uploads, and every image must come back served."""
    import io

    from PIL import Image

    config = (Path(__file__).parents[1] / "annotations" / "keyframe.xml").read_text()
    project = desk.client.create_project(f"{desk.prefix} upload", config, "test")
    files = {}
    for i in range(130):
        buf = io.BytesIO()
        Image.new("RGB", (8, 8), (i, 255 - i, 7)).save(buf, "PNG")
        files[f"k{i:03d}.png"] = buf.getvalue()
    urls = desk.client.upload_files(project, files)
    assert sorted(urls) == sorted(files)
    assert len(set(urls.values())) == 130
    desk.client.delete_project(project)


def test_push_from_the_web_desk(desk, monkeypatch) -> None:
    """The clip page's "Push to Label Studio" sends the clip's keyframes and verdict task to a
    real server, as the logged-in editor (the custody event names them); pushed again, nothing
    is sent twice."""
    from webdesk import add_users, login, serving

    desk.ws.close()
    add_users(desk.home)
    monkeypatch.setenv("LABEL_STUDIO_URL", desk.conn.url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", desk.conn.api_key)
    with serving(desk.cfg) as (base, _app):
        ed = login(base, "ed")
        for _ in range(2):
            r = ed.post("/clips/1/push")
            assert r.status_code == 303, r.text[:500]
        page = ed.get("/clips/1").text.split("<h2>Custody</h2>")[1]
    desk.ws = Workspace.open(desk.cfg)
    events = re.findall(r"<b>(\w+)</b> by (\w+)", page)
    assert events.count(("annotation_tasks_pushed", "ed")) == 1  # the second sent nothing
    assert desk.status(1) == "in_review"
    frames = [d for _t, d in desk.server_tasks("keyframe") if d["clip_id"] == 1]
    unique = [c.unique_keyframes for c in desk.ws.cases.list_clips() if c.id == 1]
    assert [len(frames)] == unique and unique[0] > 0
    assert [d["clip_id"] for _t, d in desk.server_tasks("clip")] == [1]

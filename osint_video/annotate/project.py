"""One pair of Label Studio projects per case, found, adopted, created or recreated.

Each case gets two projects, because a Label Studio project has one label config and our two
kinds of task need different ones (and different annotator queues):

- "<prefix>: <case>" (kind "keyframe", annotations/keyframe.xml): one task per unique keyframe;
- "<prefix>: <case> (verdict)" (kind "clip", annotations/clip.xml): one task per clip, with the
  contact sheet and a metadata summary, whose answers make the clip's verdict.

Titles are limited to 50 characters by Label Studio: a long case name is shortened and given a
short hash so two long names never share a project. A project recorded in the store but
deleted on the server is recreated and all its tasks are sent again (reported, never silent);
a project with our title that the store does not know (another desk member pushed it) is
adopted and reconciled task by task, so nothing is duplicated.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..store import annotations as db
from ..workspace import Workspace
from .client import Client
from .validate import config_text

TITLE_MAX = 50
KINDS = ("keyframe", "clip")
SUFFIX = {"keyframe": "", "clip": " (verdict)"}


def project_title(prefix: str, case: str, kind: str) -> str:
    """'<prefix>: <case>[ (verdict)]', at least 3 and at most 50 characters."""
    head = f"{prefix}: " if prefix else ""
    suffix = SUFFIX[kind]
    title = f"{head}{case}{suffix}"
    if len(title) > TITLE_MAX:
        tag = "~" + hashlib.sha256(case.encode()).hexdigest()[:6]
        room = max(1, TITLE_MAX - len(head) - len(suffix) - len(tag))
        title = f"{head}{case[:room]}{tag}{suffix}"[:TITLE_MAX]
    return title if len(title) >= 3 else f"case {title}"


@dataclass(frozen=True)
class Ensured:
    """A project ready for tasks; `reconcile` when the store cannot be trusted to list its
    tasks (adopted from the server)."""

    ref: db.ProjectRef
    created: bool
    recreated: bool
    reconcile: bool


def ensure_project(
    ws: Workspace,
    client: Client,
    case: str,
    kind: str,
    notify: Callable[[str], None] = lambda _m: None,
) -> Ensured:
    """The server project of `case` and `kind`, creating or recreating it when needed."""
    cfg = ws.config.annotate
    title = project_title(cfg.project_prefix, case, kind)
    ref = db.get_project(ws.cases, client.url, case, kind)
    if ref is not None and client.project_exists(ref.project_id):
        return Ensured(ref, False, False, False)
    adopted = None
    if ref is None:
        adopted = client.find_project(title)
    else:
        notify(
            f"project {ref.title!r} (id {ref.project_id}) was deleted on the server: "
            "recreating it and sending its tasks again; annotations already pulled are kept"
        )
    pid = adopted or client.create_project(
        title, config_text(kind), f"osint-video {kind} tasks of case {case!r}"
    )
    new_ref = db.save_project(ws.cases, client.url, case, kind, pid, title)
    return Ensured(new_ref, adopted is None, ref is not None, adopted is not None)


def storage_root(ws: Workspace, files_root: Path | None) -> Path | None:
    """The folder a Local Files storage must cover (WORKSPACE/derived), when the server can
    serve it: it lies strictly under the server's document root. None: upload instead."""
    if files_root is None:
        return None
    derived = (ws.home / "derived").resolve()
    root = Path(files_root).resolve()
    return derived if derived != root and derived.is_relative_to(root) else None


def ensure_storage(ws: Workspace, client: Client, ref: db.ProjectRef, path: Path) -> int:
    """The project's Local Files storage over `path` (created once, id stored)."""
    if ref.storage_id is not None:
        return ref.storage_id
    path.mkdir(parents=True, exist_ok=True)
    sid = client.create_local_storage(ref.project_id, str(path), "osint-video workspace")
    db.set_storage(ws.cases, ref.row, sid)
    return sid

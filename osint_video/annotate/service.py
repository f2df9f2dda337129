"""Push, pull and listen as one call each, from a configuration: what the CLI and workers use.

Opens the workspace and the Label Studio connection (a desk's server from LABEL_STUDIO_URL +
LABEL_STUDIO_API_KEY, else our own local one), runs the step, and after a pull rewrites the
reports of the clips whose annotations or verdict changed, so report.json and the HTML show them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..config import Config
from ..workspace import Workspace
from .client import Client
from .listen import Listener
from .pull import PullSummary, pull
from .push import Progress, PushSummary, push


def _connect(cfg: Config, conn: Any = None) -> tuple[Any, Client]:
    """`conn` given (a `Connection`), else the configured server (see labelstudio.server)."""
    if conn is None:
        from ..labelstudio.server import connection

        conn = connection(cfg)
    return conn, Client(conn)


def run_push(
    cfg: Config,
    refs: list[str] | None = None,
    case: str | None = None,
    progress: Progress | None = None,
    notify: Callable[[str], None] = lambda _m: None,
    conn: Any = None,
) -> PushSummary:
    """`annotate push` (see `push.push`)."""
    conn, client = _connect(cfg, conn)
    ws = Workspace.open(cfg)
    try:
        return push(ws, client, conn, refs=refs, case=case, progress=progress, notify=notify)
    finally:
        ws.close()


def run_pull(
    cfg: Config, case: str | None = None, reports: bool = True, conn: Any = None
) -> PullSummary:
    """`annotate pull` (see `pull.pull`), then the reports of the clips that changed."""
    from ..steps.report import publish

    _conn, client = _connect(cfg, conn)
    ws = Workspace.open(cfg)
    try:
        summary = pull(ws, client, case=case)
        if reports:
            for clip_id in summary.changed_clips:
                publish(ws, clip_id, cfg.operator())
        return summary
    finally:
        ws.close()


def listener(
    cfg: Config,
    *,
    port: int | None = None,
    host: str | None = None,
    url: str | None = None,
    case: str | None = None,
    notify: Callable[[str], None] = lambda _m: None,
) -> Listener:
    """`annotate listen`: a webhook listener whose pulls are `run_pull` (annotations, then the
    reports of the clips that changed)."""
    return Listener(
        cfg,
        port=port,
        host=host,
        url=url,
        case=case,
        pull=lambda: run_pull(cfg, case),
        notify=notify,
    )

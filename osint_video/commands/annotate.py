"""`annotate push|pull|listen`: keyframes to Label Studio, annotations and verdicts back.

The server is a desk's (LABEL_STUDIO_URL + LABEL_STUDIO_API_KEY) or our own local one
(`osint-video labelstudio start`). Errors are one line and exit 1; nothing is marked as sent
unless the server confirmed it, so running the same command again completes the work.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..config import Config

err = Console(stderr=True, highlight=False, soft_wrap=True)


def _emit(data: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, default=str) + "\n")


def _print_push(s: Any) -> None:
    for p in s.projects:
        how = "created" if p.created else "recreated" if p.recreated else "existing"
        err.print(
            f"{p.title} ({how} project {p.project_id}): {p.sent} task(s) sent, "
            f"{p.already} already there" + (f", {p.reconciled} reconciled" if p.reconciled else "")
        )
    if s.clips_in_review:
        err.print(f"in review: clip(s) {', '.join(map(str, s.clips_in_review))}")
    err.print(f"images by {s.images}; server {s.server}")


def _print_pull(s: Any) -> None:
    err.print(
        f"annotations: {s.added} new, {s.updated} updated, {s.deleted} deleted, "
        f"{s.unchanged} unchanged"
    )
    for bad in s.invalid:
        err.print(
            f"invalid annotation {bad.ls_id} by {bad.annotator} on clip {bad.clip_id} "
            f"(kept, not counted): {'; '.join(bad.problems)}"
        )
    for cid, v in sorted(s.verdicts.items()):
        err.print(
            f"clip {cid}: verdict {v['value']} (agreement {v['agreement']:g}, "
            f"{len(v['annotators'])} annotator(s))"
        )
    for cid, status in sorted(s.status_changes.items()):
        err.print(f"clip {cid}: now {status}")
    for e in s.errors:
        err.print(f"[red]error[/red]: {e}", markup=True)


def register(app: typer.Typer, cfg: Callable[[], Config]) -> None:
    """Add the `annotate` command group to `app`."""
    ann = typer.Typer(
        no_args_is_help=True,
        help="Human verification in Label Studio: push keyframes, pull annotations and "
        "verdicts.\n\nExample: osint-video annotate push --case kursk",
    )
    app.add_typer(ann, name="annotate")

    @ann.command("push")
    def push_cmd(
        clips: Annotated[
            list[str] | None, typer.Argument(help="Clip ids or sha256 prefixes (default: all).")
        ] = None,
        case: Annotated[
            str | None, typer.Option("--case", help="Push this case's clips to its project.")
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="JSON summary on stdout.")] = False,
    ) -> None:
        """Send unique keyframes (with OCR pre-annotations) and a verdict task per clip.

        Pushing again sends only what is new; an interrupted push is completed without
        duplicates. Clips move from processed to in_review.

        Example: osint-video annotate push --case kursk;
        osint-video annotate push 3f2a9c 17 --json
        """
        from ..annotate.service import run_push

        with Progress(
            TextColumn("pushing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
            disable=as_json or not err.is_terminal,
        ) as bar:
            task = bar.add_task("push", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, total=total, advance=done)

            s = run_push(cfg(), clips or None, case, progress, notify=err.print)
        if as_json:
            _emit(s.as_json())
        else:
            _print_push(s)

    @ann.command("pull")
    def pull_cmd(
        case: Annotated[str | None, typer.Option("--case", help="Only this case.")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="JSON summary on stdout.")] = False,
    ) -> None:
        """Fetch annotations (who, when, lead time), validate them, apply the verdict rule.

        Reports of the clips that changed are written again.

        Example: osint-video annotate pull --case kursk --json
        """
        from ..annotate.service import run_pull

        s = run_pull(cfg(), case)
        if as_json:
            _emit(s.as_json())
        else:
            _print_pull(s)
        raise typer.Exit(1 if s.errors else 0)

    @ann.command("listen")
    def listen_cmd(
        case: Annotated[str | None, typer.Option("--case", help="Only this case.")] = None,
        port: Annotated[
            int | None, typer.Option(help="Port to listen on (default \\[annotate] listen_port).")
        ] = None,
        host: Annotated[
            str | None,
            typer.Option(help="Address to bind (default \\[annotate] listen_host, 127.0.0.1)."),
        ] = None,
        url: Annotated[
            str | None,
            typer.Option(
                help="URL the Label Studio server calls to reach this machine, e.g. "
                "http://10.0.0.5:8765 (default \\[annotate] listen_url, else http://HOST:PORT)."
            ),
        ] = None,
    ) -> None:
        """Pull as annotators save: register webhooks and receive them (127.0.0.1 by default).

        Stop with Ctrl-C (the webhooks are removed). For a desk's server on another machine,
        bind a LAN address with --host and give the URL the server reaches it on with --url.

        Example: osint-video annotate listen --case kursk
        Example: osint-video annotate listen --host 0.0.0.0 --url http://10.0.0.5:8765
        """
        from ..annotate.service import listener as listen_for

        listener = listen_for(cfg(), port=port, host=host, url=url, case=case, notify=err.print)
        with listener:
            err.print(
                f"listening on {listener.host}:{listener.port}; Label Studio calls "
                f"{listener.shown_url} (Ctrl-C to stop)"
            )
            try:
                while True:
                    time.sleep(1)
            except KeyboardInterrupt:
                err.print("stopping")

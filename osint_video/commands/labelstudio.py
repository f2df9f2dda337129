"""Commands of our own local Label Studio: `labelstudio start|status|stop`."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ..config import Config

err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)


def register(app: typer.Typer, cfg: Callable[[], Config]) -> None:
    """Add the `labelstudio` group (start, status, stop) to `app`."""
    ls_app = typer.Typer(
        no_args_is_help=True,
        help="Our own Label Studio on 127.0.0.1, data under WORKSPACE/labelstudio "
        "(a desk's server: set LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY instead).\n\n"
        "Example: osint-video labelstudio start",
    )
    app.add_typer(ls_app, name="labelstudio")

    @ls_app.command("start")
    def start(
        template: Annotated[
            Path | None,
            typer.Option(hidden=True, help="A data dir made by init_template (tests)."),
        ] = None,
    ) -> None:
        """Start the server (admin user and API token created on first start) and wait for it.

        The first start migrates a new database (30-60 s); later ones take seconds.

        Prints the URL and the login; the password is shown when the server is started.

        Example: osint-video labelstudio start
        """
        from ..labelstudio import server

        config = cfg()
        # A first start migrates a new database for up to a minute or two: say so while waiting
        # (stderr, gone once done; rich shows nothing when stderr is not a terminal).
        with err.status("starting Label Studio (a first start takes a minute or two)..."):
            info = server.start(config, template=template)
        if info.already_running:
            note = "" if info.healthy else ", still starting"
            out.print(f"Label Studio already running at {info.url} (pid {info.pid}{note})")
            out.print(f"login {info.username}; password in {info.root / 'credentials.json'}")
            return
        creds = server.credentials(config)
        out.print(f"Label Studio running at {info.url} (pid {info.pid})", markup=False)
        out.print(f"login {creds.username}  password {creds.password}", markup=False)
        out.print(
            f"(kept in {info.root / 'credentials.json'}, mode 0600; log {server.log_path(config)})",
            markup=False,
        )

    @ls_app.command("status")
    def status(
        as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout.")] = False,
    ) -> None:
        """Say whether the server runs and answers. Exit code 1 when it does not run.

        Example: osint-video labelstudio status --json
        """
        from ..labelstudio import server

        info = server.status(cfg())
        if as_json:
            data = info.as_json() if info else {"running": False}
            sys.stdout.write(json.dumps(data) + "\n")
        elif info is None:
            out.print("Label Studio is not running")
        else:
            state = "answering" if info.healthy else "NOT answering /health yet"
            out.print(f"Label Studio running at {info.url} (pid {info.pid}, {state})")
        raise typer.Exit(0 if info is not None else 1)

    @ls_app.command("stop")
    def stop() -> None:
        """Stop the server (its data stays in WORKSPACE/labelstudio).

        Example: osint-video labelstudio stop
        """
        from ..labelstudio import server

        stopped = server.stop(cfg())
        out.print("Label Studio stopped" if stopped else "Label Studio was not running")

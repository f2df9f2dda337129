"""`osint-video serve`: the desk in a browser, on this workspace."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer
from rich.console import Console

from ..config import Config

err = Console(stderr=True, highlight=False, soft_wrap=True)


def register(app: typer.Typer, cfg: Callable[[], Config]) -> None:
    """Add `serve` to `app`."""

    @app.command()
    def serve(
        host: Annotated[
            str | None, typer.Option(help="Address to listen on (default [web] host, 127.0.0.1).")
        ] = None,
        port: Annotated[
            int | None, typer.Option(help="Port to listen on (default [web] port, 8080).")
        ] = None,
    ) -> None:
        """Serve the web desk: board, clip pages, intake (log in with `users add` first).

        Example: osint-video serve --port 8080
        """
        from ..web.server import serve as run

        run(cfg(), host=host, port=port, say=lambda m: err.print(m, markup=False))

"""`osint-video report`: write a clip's report again and show it."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from .. import service
from ..config import Config

out = Console(highlight=False, soft_wrap=True)


def register(app: typer.Typer, cfg: Callable[[], Config]) -> None:
    """Add the report command to `app`; `cfg` builds the effective config when called."""

    @app.command()
    def report(
        clip: Annotated[str, typer.Argument(help="Clip id or unique prefix of its sha256.")],
        fmt: Annotated[str, typer.Option("--format", help="html or json.")] = "html",
        out_file: Annotated[
            Path | None, typer.Option("--out", help="Copy the report here.")
        ] = None,
    ) -> None:
        """Write a clip's report again and print it (json) or its path (html).

        Example: osint-video report 3f2a9c --format json
        """
        path = service.report(cfg(), clip, fmt, out_file)
        if fmt == "json" and out_file is None:
            sys.stdout.write(path.read_text("utf-8"))
        else:
            out.print(str(path))

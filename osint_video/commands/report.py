"""`osint-video report`: a clip's report (html, pdf, md, json), or a whole case's."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ..config import Config
from ..errors import InputError
from ..report import formats

out = Console(highlight=False, soft_wrap=True)


def register(app: typer.Typer, cfg: Callable[[], Config]) -> None:
    """Add the report command to `app`; `cfg` builds the effective config when called."""

    @app.command()
    def report(
        clip: Annotated[
            str | None, typer.Argument(help="Clip id or unique prefix of its sha256.")
        ] = None,
        case: Annotated[
            str | None, typer.Option("--case", help="Report on every clip of this case instead.")
        ] = None,
        fmt: Annotated[
            str, typer.Option("--format", help=f"One of: {', '.join(formats.names())}.")
        ] = "html",
        out_file: Annotated[
            Path | None, typer.Option("--out", help="Write (a copy of) the report here.")
        ] = None,
    ) -> None:
        """Write a clip's report again (or a case report) and print it (json, md) or its path.

        Example: osint-video report 3f2a9c --format pdf --out clip.pdf;
        osint-video report --case kursk --format html
        """
        if (clip is None) == (case is None):
            raise InputError("give a clip, or --case NAME (not both)")
        renderer = formats.get(fmt)
        from .. import service

        if case is not None:
            path = service.case_report(cfg(), case, fmt, out_file)
        else:
            path = service.report(cfg(), clip or "", fmt, out_file)
        if renderer.text and out_file is None:
            sys.stdout.write(path.read_text("utf-8"))
        else:
            out.print(str(path))

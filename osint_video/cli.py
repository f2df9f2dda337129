"""Command-line interface: parse, call one library function, turn errors into one line.

Every command takes `--home` (or OSINT_VIDEO_HOME) for the workspace and `--config` for a TOML
file; `--json` gives machine-readable output on stdout while messages go to stderr.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from .config import load_config
from .errors import OsintVideoError
from .lossless import readable
from .paths import shown

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode="rich",
    help="Triage, deduplicate, annotate and document open-source video.\n\n"
    "Example: osint-video triage clip.mp4 --case kursk",
)
err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)


class State:
    home: Path | None = None
    config: Path | None = None


@app.callback()
def _global(
    home: Annotated[
        Path | None,
        typer.Option(
            help="Workspace folder (default: OSINT_VIDEO_HOME, then ~/.local/share/osint-video)."
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(help="TOML config file (default: OSINT_VIDEO_CONFIG, then HOME/config.toml)."),
    ] = None,
) -> None:
    State.home, State.config = home, config


def _cfg():  # noqa: ANN202 - small factory
    return load_config(State.config, home=State.home)


@app.command()
def triage(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (searched recursively).")],
    case: Annotated[str | None, typer.Option(help="Case name, e.g. kursk.")] = None,
    source_url: Annotated[str | None, typer.Option(help="Where the clip was found.")] = None,
    note: Annotated[str | None, typer.Option(help="Free-text note for this acquisition.")] = None,
    reprocess: Annotated[bool, typer.Option(help="Process again clips already triaged.")] = False,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="One JSON object per input on stdout (JSON Lines): the report."
        ),
    ] = False,
) -> None:
    """Ingest clips and stills, extract metadata, keyframes and hashes, write the reports.

    Example: osint-video triage clip.mp4 more/ --case kursk --source-url https://t.me/x/1
    """
    from . import service
    from .commands.progress import bars
    from .report.text import seen_before_line

    with bars(err, quiet=as_json) as tracker:
        results = service.triage_paths(
            _cfg(),
            paths,
            case=case,
            source_url=source_url,
            note=note,
            reprocess=reprocess,
            tracker=tracker,
        )
    failures = 0
    for item in results:
        if item.error:
            failures += 1
            what = escape(f"{shown(item.path)}: {readable(item.error)}")
            err.print(f"[red]error[/red]: {what}", markup=True)
        if as_json:
            sys.stdout.write(json.dumps(item.as_json(), ensure_ascii=False) + "\n")
        elif not item.error:
            err.print(
                f"ok: {shown(item.path)} -> clip {item.clip_id} ({item.status}), "
                f"report {item.report_path}",
                markup=False,
            )
            seen = seen_before_line(item.report or {})
            if seen:
                err.print(f"    {seen}", markup=False)
    raise typer.Exit(1 if failures else 0)


def _register_commands() -> None:
    """Command groups that live in their own modules (reports, matching, custody...)."""
    from .commands import annotate as annotate_commands
    from .commands import custody, db, match
    from .commands import labelstudio as labelstudio_commands
    from .commands import queue as queue_commands
    from .commands import report as report_commands
    from .commands import serve as serve_commands
    from .commands import users as users_commands
    from .commands import worker as worker_commands

    for module in (
        report_commands,
        match,
        custody,
        queue_commands,
        labelstudio_commands,
        annotate_commands,
        db,
        worker_commands,
        users_commands,
        serve_commands,
    ):
        module.register(app, _cfg)


_register_commands()


def main() -> None:
    """Console entry point: library errors become one line on stderr and an exit code."""
    try:
        rc = app(standalone_mode=False, prog_name="osint-video")
    except OsintVideoError as exc:
        err.print(f"error: {readable(str(exc))}", markup=False)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err.print("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        err.print("interrupted: work already saved is kept; run the same command again to resume")
        sys.exit(130)
    except Exception as exc:  # usage errors: typer >= 0.2x vendors click as typer._click
        import click

        if isinstance(exc, click.ClickException | typer.TyperException) and hasattr(exc, "show"):
            exc.show()
            sys.exit(getattr(exc, "exit_code", 2))
        raise
    sys.exit(rc if isinstance(rc, int) else 0)


if __name__ == "__main__":
    main()

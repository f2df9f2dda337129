"""Commands of the custody capability: `keys init`, `verify`, `verify-report`."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ..config import Config
from ..errors import InputError

err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)


def register(app: typer.Typer, cfg: Callable[[], Config]) -> None:
    """Add `keys init`, `verify` and `verify-report` to `app`."""
    keys_app = typer.Typer(
        no_args_is_help=True,
        help="The desk's report-signing key.\n\nExample: osint-video keys init",
    )
    app.add_typer(keys_app, name="keys")

    @keys_app.command("init")
    def keys_init() -> None:
        """Create the desk's Ed25519 key pair in WORKSPACE/keys (private key mode 0600).

        Example: osint-video keys init
        """
        from ..custody import service

        info = service.init_desk_keys(cfg())
        out.print(f"public key {info.public_path} (publish it)\nfingerprint {info.fingerprint}")

    @app.command()
    def verify(
        clip: Annotated[str | None, typer.Argument(help="Clip id or sha256 prefix.")] = None,
        all_clips: Annotated[bool, typer.Option("--all", help="Every clip.")] = False,
        against: Annotated[
            list[Path] | None,
            typer.Option(
                "--against",
                help="A signed report published out of the workspace: the custody log must "
                "still reach the head it committed to (repeatable).",
            ),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout.")] = False,
    ) -> None:
        """Re-hash evidence and derived files and check the custody chain; never repairs.

        Exit code 1 when anything differs. Example: osint-video verify --all
        --against sent/report.json
        """
        if (clip is None) == (not all_clips):
            raise InputError("give a clip, or --all (not both)")
        from ..custody import service

        run = service.verify_clips(cfg(), None if all_clips else clip, against)
        if as_json:
            sys.stdout.write(json.dumps(service.run_json(run), ensure_ascii=False) + "\n")
        for line in service.run_lines(run):
            (out if not as_json else err).print(line, markup=False)
        raise typer.Exit(0 if run.ok else 1)

    @app.command("verify-report")
    def verify_report(
        report: Annotated[Path, typer.Argument(help="A report.json (its .sig beside it).")],
        key: Annotated[
            Path | None, typer.Option("--key", help="The desk's published desk.pub.")
        ] = None,
        tsa_ca: Annotated[
            Path | None,
            typer.Option(
                "--tsa-ca",
                help="The TSA's CA certificate (PEM) for the timestamp (default: [custody] "
                "tsa_ca_file, else the system's certificates).",
            ),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout.")] = False,
    ) -> None:
        """Check a published report's signature, custody chain and head, and timestamp; needs
        no workspace. Exit code 1: it does not hold; 2: it is malformed (nothing checked).

        Example: osint-video verify-report report.json --key desk.pub
        """
        from ..custody import service

        check = service.check_report(cfg(), report, key, tsa_ca)
        if as_json:
            sys.stdout.write(json.dumps(check.as_json(), ensure_ascii=False) + "\n")
        for line in service.report_lines(check):
            (out if not as_json else err).print(line, markup=False)
        raise typer.Exit(0 if check.ok else 1)

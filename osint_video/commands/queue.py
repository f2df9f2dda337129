"""`osint-video queue ...`: the desk's queue (add, list, assign, status, priority, retry)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..config import Config
from ..paths import shown

if TYPE_CHECKING:
    from ..desk.failures import FailedUrl

err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)

COLUMNS = (
    ("id", {"no_wrap": True}),
    ("sha256", {"no_wrap": True}),
    ("file", {"overflow": "fold", "min_width": 14}),
    ("status", {"no_wrap": True}),
    ("case", {"overflow": "fold", "min_width": 6}),
    ("acquired (UTC)", {"no_wrap": True}),
    ("duration", {"no_wrap": True, "justify": "right"}),
    ("keyframes", {"no_wrap": True, "justify": "right"}),
    ("priority", {"no_wrap": True}),
    ("assignee", {"overflow": "fold"}),
)


def _text(value: str) -> str:
    """A URL or message safe on one line (`paths.shown` of the str: no Path `//` folding)."""
    return shown(value)


def register(app: typer.Typer, cfg: Callable[[], Config]) -> None:
    """Add the `queue` command group to `app`; `cfg` builds the effective config when called."""
    q = typer.Typer(
        no_args_is_help=True,
        help="The desk's queue of clips.\n\nExample: osint-video queue list --case kursk",
    )
    app.add_typer(q, name="queue")
    _add_command(q, cfg)
    _list_command(q, cfg)
    _edit_commands(q, cfg)


def _add_command(q: typer.Typer, cfg: Callable[[], Config]) -> None:
    @q.command("add")
    def add(
        inputs: Annotated[list[str], typer.Argument(help="Files, folders, or http(s) URLs.")],
        case: Annotated[str | None, typer.Option(help="Case name, e.g. kursk.")] = None,
        priority: Annotated[
            str | None, typer.Option(help="low, normal, high or urgent (default normal).")
        ] = None,
        note: Annotated[
            str | None, typer.Option(help="Free-text note for the acquisition.")
        ] = None,
        source_url: Annotated[
            str | None, typer.Option(help="Where a local file was found (URLs record their own).")
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="JSON Lines on stdout.")] = False,
    ) -> None:
        """Store and record clips (status queued) without processing them; URLs via yt-dlp.

        A URL that fails (HTTP error, not a video, timeout) is kept as a failed item `u<N>`
        for `queue retry`. Exit status 1 if any input failed.

        Example: osint-video queue add https://example.org/clip.mp4 clips/ --case kursk
        --priority high --note "from channel X"
        """
        from ..desk import queue as desk
        from .progress import bars

        opts = desk.AddOptions(case, priority, note, source_url)
        with bars(err, quiet=as_json) as tracker:
            results = desk.add(cfg(), inputs, opts, tracker=tracker)
        for r in results:
            if r.error:
                where = f" (kept as failed item {r.item})" if r.item else ""
                err.print(f"error: {_text(r.input)}: {_text(r.error)}{where}", markup=False)
            elif not as_json:
                known = ", already known" if r.already_known else ""
                err.print(
                    f"ok: {_text(r.input)} -> clip {r.clip_id} ({r.status}{known})", markup=False
                )
            if as_json:
                sys.stdout.write(json.dumps(r.as_json(), ensure_ascii=False) + "\n")
        raise typer.Exit(1 if any(r.error for r in results) else 0)


def _list_command(q: typer.Typer, cfg: Callable[[], Config]) -> None:
    @q.command("list")
    def queue_list(
        case: Annotated[str | None, typer.Option(help="Only clips acquired for this case.")] = None,
        status: Annotated[str | None, typer.Option(help="Only clips with this status.")] = None,
        assignee: Annotated[str | None, typer.Option(help="Only clips given to this one.")] = None,
        text: Annotated[
            str | None,
            typer.Option(help="Only clips whose on-screen text contains this (any case)."),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="JSON array on stdout.")] = False,
    ) -> None:
        """List clips with status, case, acquisition time, duration, keyframes, priority and
        assignee; failed URL downloads show as items `u<N>`.

        Example: osint-video queue list --status failed --json
        Example: osint-video queue list --text "колонна"
        """
        from ..desk import queue as desk
        from ..desk.workflow import priority_name

        clips, fails = desk.listing(cfg(), status=status, case=case, assignee=assignee, text=text)
        if as_json:
            rows = [asdict(c) for c in clips] + [_failed_json(f) for f in fails]
            sys.stdout.write(json.dumps(rows, ensure_ascii=False) + "\n")
            return
        table = Table()
        for name, kw in COLUMNS:
            table.add_column(name, **kw)  # type: ignore[arg-type]
        for r in clips:
            dur = f"{r.duration_s:.1f} s" if r.duration_s is not None else "-"
            _row(
                table,
                str(r.id),
                r.sha256[:8],
                shown(Path(r.filename)),
                r.status + (f" (dup of #{r.duplicate_of})" if r.duplicate_of else ""),
                _text(", ".join(r.cases)) or "-",
                r.acquired_at[:16].replace("T", " "),
                dur,
                f"{r.unique_keyframes}/{r.keyframes}",
                r.priority,
                _text(r.assignee or "-"),
            )
        for f in fails:
            _row(
                table,
                f.item,
                "-",
                f"{_text(f.url)}\n{_text(f.error)}",
                "failed",
                _text(f.case or "-"),
                f.last_at[:16].replace("T", " "),
                "-",
                "-",
                priority_name(f.priority),
                "-",
            )
        # Piped output has no terminal width: do not squeeze columns into 80 characters.
        (out if out.is_terminal else Console(highlight=False, width=160)).print(table)


def _row(table: Table, *cells: str) -> None:
    """A row of plain text: names, cases and notes are never read as rich markup (a case
    named "[/x]" would stop the listing)."""
    table.add_row(*(Text(c) for c in cells))


def _failed_json(f: FailedUrl) -> dict:
    """A failed URL item with the keys of a clip row (None where it has no value)."""
    from ..desk.workflow import priority_name

    return {
        "id": f.item,
        "sha256": None,
        "filename": f.url,
        "kind": "url",
        "status": "failed",
        "cases": [f.case] if f.case else [],
        "acquired_at": f.at,
        "duration_s": None,
        "keyframes": 0,
        "unique_keyframes": 0,
        "error": f.error,
        "duplicate_of": None,
        "priority": priority_name(f.priority),
        "assignee": None,
        "url": f.url,
        "attempts": f.attempts,
        "last_attempt_at": f.last_at,
    }


def _edit_commands(q: typer.Typer, cfg: Callable[[], Config]) -> None:
    @q.command("status")
    def status(
        clip: Annotated[str, typer.Argument(help="Clip id or unique prefix of its sha256.")],
        new: Annotated[str, typer.Argument(help="The new status, e.g. in_review or verified.")],
        note: Annotated[str | None, typer.Option(help="Why (kept in the custody log).")] = None,
        expect: Annotated[
            str | None,
            typer.Option(help="Refuse unless the clip is still in this status (as you saw it)."),
        ] = None,
    ) -> None:
        """Change a clip's status along the desk's workflow, recorded in custody.

        Example: osint-video queue status 12 verified --note "geolocated, 2 sources"
        """
        from ..desk import queue as desk

        clip_id, old = desk.change(cfg(), clip, new, note=note, expected=expect)
        err.print(f"ok: clip {clip_id}: {old} -> {new}")

    @q.command("assign")
    def assign(
        clip: Annotated[str, typer.Argument(help="Clip id or unique prefix of its sha256.")],
        annotator: Annotated[str, typer.Argument(help="Who reviews it ('-' to unassign).")],
        note: Annotated[str | None, typer.Option(help="Kept in the custody log.")] = None,
    ) -> None:
        """Give a clip to an annotator, recorded in custody.

        Example: osint-video queue assign 12 olena
        """
        who = None if annotator == "-" else annotator
        from ..desk import queue as desk

        clip_id, old = desk.give(cfg(), clip, who, note=note)
        err.print(
            f"ok: clip {clip_id}: assignee {_text(old or '-')} -> {_text(who or '-')}",
            markup=False,
        )

    @q.command("priority")
    def priority(
        clip: Annotated[str, typer.Argument(help="Clip id or unique prefix of its sha256.")],
        level: Annotated[str, typer.Argument(help="low, normal, high or urgent.")],
        note: Annotated[str | None, typer.Option(help="Kept in the custody log.")] = None,
    ) -> None:
        """Set a clip's priority (workers take urgent clips first), recorded in custody.

        Example: osint-video queue priority 12 urgent
        """
        from ..desk import queue as desk

        clip_id, old = desk.prioritise(cfg(), clip, level, note=note)
        err.print(f"ok: clip {clip_id}: priority {old} -> {level}")

    @q.command("retry")
    def retry(
        ref: Annotated[str, typer.Argument(help="A failed clip's id, or a failed URL item u<N>.")],
        note: Annotated[str | None, typer.Option(help="Kept in the custody log.")] = None,
    ) -> None:
        """Queue a failed clip again, or download a failed URL item again.

        Example: osint-video queue retry u3
        """
        from ..desk import queue as desk

        r = desk.retry(cfg(), ref, note=note)
        if r.error:
            err.print(
                f"error: {_text(r.input)}: {_text(r.error or '')} (still failed item {r.item})",
                markup=False,
            )
            raise typer.Exit(1)
        err.print(f"ok: {_text(ref)} -> clip {r.clip_id} ({r.status})", markup=False)

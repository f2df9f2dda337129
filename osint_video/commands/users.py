"""`osint-video users ...`: who may log in to the web desk, and with which role."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console

from ..config import Config

if TYPE_CHECKING:
    from ..store.cases import CaseStore

T = TypeVar("T")

err = Console(stderr=True, highlight=False, soft_wrap=True)


def _on_store(cfg: Config, action: Callable[[CaseStore], T]) -> T:
    """`action` on the workspace's case store, closed afterwards whatever happens."""
    from ..workspace import Workspace

    ws = Workspace.open(cfg)
    try:
        return action(ws.cases)
    finally:
        ws.close()


def register(app: typer.Typer, cfg: Callable[[], Config]) -> None:
    """Add the `users` group (add, list, set-role, disable, enable, password) to `app`."""
    u = typer.Typer(
        no_args_is_help=True,
        help="Users of the web desk (osint-video serve).\n\n"
        "Example: osint-video users add ana --role editor",
    )
    app.add_typer(u, name="users")

    @u.command("add")
    def add(
        name: Annotated[str, typer.Argument(help="Login name (letters, digits, . @ + - _).")],
        role: Annotated[str, typer.Option(help="viewer, editor or admin.")] = "viewer",
        password_stdin: Annotated[
            bool, typer.Option("--password-stdin", help="Read the password from standard input.")
        ] = False,
    ) -> None:
        """Create a user; prints a generated password once (or reads one with --password-stdin).

        Example: osint-video users add ana --role editor
        Example: printf '%s' "$PW" | osint-video users add ana --role viewer --password-stdin
        """
        from ..web import users

        password = sys.stdin.readline().rstrip("\r\n") if password_stdin else users.new_password()
        user = _on_store(cfg(), lambda cases: users.add_user(cases, name, role, password))
        err.print(f"ok: user {user.name} ({user.role}) added", markup=False)
        if not password_stdin:
            print(f"password for {user.name} (shown once): {password}")

    @u.command("list")
    def list_(
        as_json: Annotated[bool, typer.Option("--json", help="JSON array on stdout.")] = False,
    ) -> None:
        """List users: name, role, disabled, created.

        Example: osint-video users list --json
        """
        from ..web import users

        rows = _on_store(cfg(), users.list_users)
        if as_json:
            data = [
                {
                    "name": x.name,
                    "role": x.role,
                    "disabled": x.disabled,
                    "created_at": x.created_at.isoformat(),
                }
                for x in rows
            ]
            sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")
            return
        for x in rows:
            state = "disabled" if x.disabled else "active"
            print(f"{x.name}\t{x.role}\t{state}\t{x.created_at:%Y-%m-%d %H:%M}")

    @u.command("set-role")
    def set_role(
        name: Annotated[str, typer.Argument(help="The user.")],
        role: Annotated[str, typer.Argument(help="viewer, editor or admin.")],
    ) -> None:
        """Give a user another role (effective on their next request).

        Example: osint-video users set-role ana viewer
        """
        from ..web import users

        old = _on_store(cfg(), lambda cases: users.set_role(cases, name, role))
        err.print(f"ok: user {name}: {old} -> {role}", markup=False)

    @u.command("disable")
    def disable(name: Annotated[str, typer.Argument(help="The user.")]) -> None:
        """Lock a user out at once (their sessions end).

        Example: osint-video users disable ana
        """
        from ..web import users

        _on_store(cfg(), lambda cases: users.set_disabled(cases, name, True))
        err.print(f"ok: user {name} disabled", markup=False)

    @u.command("enable")
    def enable(name: Annotated[str, typer.Argument(help="The user.")]) -> None:
        """Let a disabled user log in again.

        Example: osint-video users enable ana
        """
        from ..web import users

        _on_store(cfg(), lambda cases: users.set_disabled(cases, name, False))
        err.print(f"ok: user {name} enabled", markup=False)

    @u.command("password")
    def password(
        name: Annotated[str, typer.Argument(help="The user.")],
        password_stdin: Annotated[
            bool, typer.Option("--password-stdin", help="Read the password from standard input.")
        ] = False,
    ) -> None:
        """Set a new password (printed once unless read from stdin); the user's sessions end.

        Example: osint-video users password ana
        """
        from ..web import users

        new = sys.stdin.readline().rstrip("\r\n") if password_stdin else users.new_password()
        _on_store(cfg(), lambda cases: users.set_password(cases, name, new))
        err.print(f"ok: user {name}: new password set", markup=False)
        if not password_stdin:
            print(f"password for {name} (shown once): {new}")

"""The users page (admin only): add a user (the generated password is shown once), change a
role, disable or enable. The same library calls as `osint-video users ...`."""

from __future__ import annotations

from starlette.responses import Response

from ..errors import InputError
from . import users
from .context import Ctx, route
from .roles import ROLES


def _page(ctx: Ctx, message: str = "", shown: tuple[str, str] | None = None, status: int = 200):  # noqa: ANN202
    return ctx.page(
        "users.html", status, people=users.list_users(ctx.desk.ws.cases), roles=ROLES,
        message=message, shown=shown,
    )  # fmt: skip


@route("users")
def users_page(ctx: Ctx) -> Response:
    return _page(ctx)


@route("users")
def change(ctx: Ctx) -> Response:
    store, form = ctx.desk.ws.cases, ctx.form
    name, what = (form.get("name") or "").strip(), form.get("action", "")
    if what == "add":
        password = users.new_password()
        users.add_user(store, name, form.get("role", "viewer"), password)
        return _page(ctx, f"user {name} added", (name, password))
    if name == ctx.user.name and what in ("role", "disable"):
        raise InputError("change your own account from the command line (osint-video users)")
    if what == "role":
        users.set_role(store, name, form.get("role", ""))
    elif what in ("disable", "enable"):
        users.set_disabled(store, name, what == "disable")
    else:
        raise InputError("unknown action")
    return _page(ctx, f"user {name}: {what} done")

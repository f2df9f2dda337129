"""Roles of the web desk and what each may do: checked on the server for every route."""

from __future__ import annotations

from ..errors import InputError

# What a role may do. `read`: every page and derived file; `act`: desk actions (status, assign,
# note, priority, Label Studio, match again); `intake`: add URLs and uploads; `originals`:
# download the original bytes (evidence); `users`: manage users.
PERMISSIONS: dict[str, frozenset[str]] = {
    "viewer": frozenset({"read"}),
    "editor": frozenset({"read", "act", "intake", "originals"}),
    "admin": frozenset({"read", "act", "intake", "originals", "users"}),
}
ROLES = tuple(PERMISSIONS)


def check_role(role: str) -> str:
    """Return `role` if it is known.

    Raises:
        InputError: not one of ROLES.
    """
    if role not in PERMISSIONS:
        raise InputError(f"unknown role {role!r}: expected one of {', '.join(ROLES)}")
    return role


def may(role: str, permission: str) -> bool:
    """Whether `role` has `permission` (an unknown role has none)."""
    return permission in PERMISSIONS.get(role, frozenset())

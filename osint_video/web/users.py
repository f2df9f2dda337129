"""Users of the web desk and their sessions, kept in the case store (tables `users`,
`web_sessions`, migration 0008_users).

Passwords are hashed with argon2id (argon2-cffi's defaults: RFC 9106's low-memory profile);
only the hash is stored. A session is a random token: its cookie carries the token (signed,
`web/auth.py`), the store keeps the token's SHA-256, so a copy of the database opens no
session. Every request reads the session with its user, so a disabled user or a deleted
session is locked out on the next request, not when a cookie expires.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select

from ..errors import InputError, NotFound
from ..store.cases import CaseStore, utcnow
from ..store.records import as_utc
from ..store.schema import UserRow, WebSessionRow
from .roles import check_role

NAME_RE = re.compile(r"^[\w.@+-]{1,64}$")
MIN_PASSWORD = 10
_hasher = PasswordHasher()
# Verified against when the user does not exist, so an unknown name costs the same time.
_DUMMY = _hasher.hash("not a password of anyone")


@dataclass(frozen=True)
class User:
    """A user as the desk sees it (never the password hash)."""

    id: int
    name: str
    role: str
    disabled: bool
    created_at: datetime


@dataclass(frozen=True)
class Session:
    """A logged-in browser: its user, the CSRF token of its forms, when it ends."""

    id: int
    user: User
    csrf: str
    expires_at: datetime
    last_seen_at: datetime


def _user(row: UserRow) -> User:
    return User(row.id, row.name, row.role, bool(row.disabled), as_utc(row.created_at))


def check_name(name: str) -> str:
    """Raises InputError unless `name` is 1-64 letters, digits or `. @ + - _`."""
    if not NAME_RE.match(name or ""):
        raise InputError(f"user name {name!r}: use 1-64 letters, digits or . @ + - _ (no spaces)")
    return name


def check_password(password: str) -> str:
    """Raises InputError for a password shorter than MIN_PASSWORD characters."""
    if len(password) < MIN_PASSWORD:
        raise InputError(f"password too short: at least {MIN_PASSWORD} characters")
    return password


def new_password() -> str:
    """A random password (about 96 bits), shown once by `users add`."""
    return secrets.token_urlsafe(12)


def add_user(store: CaseStore, name: str, role: str, password: str) -> User:
    """Create a user with an argon2id hash of `password`.

    Raises:
        InputError: bad name, role or password, or the name is taken.
    """
    check_name(name)
    check_role(role)
    check_password(password)
    now = utcnow()
    with store.session() as ses:
        if ses.scalar(select(UserRow.id).where(UserRow.name == name)) is not None:
            raise InputError(f"user {name!r} already exists")
        row = UserRow(
            name=name,
            role=role,
            password_hash=_hasher.hash(password),
            disabled=False,
            created_at=now,
            updated_at=now,
            password_set_at=now,
        )
        ses.add(row)
        ses.flush()
        return _user(row)


def list_users(store: CaseStore) -> list[User]:
    """Every user, by name."""
    with store.session() as ses:
        return [_user(r) for r in ses.scalars(select(UserRow).order_by(UserRow.name))]


def _row(ses: object, name: str) -> UserRow:
    row = ses.scalar(select(UserRow).where(UserRow.name == name))  # type: ignore[attr-defined]
    if row is None:
        raise NotFound(f"no user {name!r}")
    return row  # type: ignore[no-any-return]


def set_role(store: CaseStore, name: str, role: str) -> str:
    """Give `name` another role; returns the old one. Raises NotFound, InputError."""
    check_role(role)
    with store.session() as ses:
        row = _row(ses, name)
        old, row.role, row.updated_at = row.role, role, utcnow()
        return old


def set_disabled(store: CaseStore, name: str, disabled: bool = True) -> None:
    """Disable (or enable again) a user; a disabled user's sessions are deleted at once."""
    with store.session() as ses:
        row = _row(ses, name)
        row.disabled, row.updated_at = disabled, utcnow()
        if disabled:
            ses.execute(delete(WebSessionRow).where(WebSessionRow.user_id == row.id))


def set_password(store: CaseStore, name: str, password: str) -> None:
    """A new password; every session of the user ends."""
    check_password(password)
    with store.session() as ses:
        row = _row(ses, name)
        row.password_hash = _hasher.hash(password)
        row.password_set_at = row.updated_at = utcnow()
        ses.execute(delete(WebSessionRow).where(WebSessionRow.user_id == row.id))


def authenticate(store: CaseStore, name: str, password: str) -> User | None:
    """The user if `password` is theirs and they are not disabled, else None (same cost)."""
    with store.session() as ses:
        row = ses.scalar(select(UserRow).where(UserRow.name == name))
        stored = row.password_hash if row is not None else _DUMMY
        try:
            _hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return None
        if row is None or row.disabled:
            return None
        if _hasher.check_needs_rehash(stored):
            row.password_hash = _hasher.hash(password)
        return _user(row)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def open_session(
    store: CaseStore, user: User, lifetime: timedelta, address: str | None = None
) -> tuple[str, Session]:
    """A new session for `user`; returns the token for its cookie (stored only as SHA-256)."""
    token, csrf, now = secrets.token_urlsafe(32), secrets.token_urlsafe(32), utcnow()
    with store.session() as ses:
        ses.execute(delete(WebSessionRow).where(WebSessionRow.expires_at < now))
        row = WebSessionRow(
            token_sha256=token_digest(token),
            user_id=user.id,
            csrf=csrf,
            created_at=now,
            last_seen_at=now,
            expires_at=now + lifetime,
            address=(address or "")[:64] or None,
        )
        ses.add(row)
        ses.flush()
        return token, Session(row.id, user, csrf, row.expires_at, now)


def find_session(store: CaseStore, token: str, idle: timedelta) -> Session | None:
    """The live session of `token` (None: unknown, expired, idle too long, user disabled).

    `last_seen_at` is written at most once a minute, so reading the board does not write.
    """
    now = utcnow()
    with store.session() as ses:
        found = ses.execute(
            select(WebSessionRow, UserRow)
            .join(UserRow, UserRow.id == WebSessionRow.user_id)
            .where(WebSessionRow.token_sha256 == token_digest(token))
        ).first()
        if found is None:
            return None
        row, user = found
        seen = as_utc(row.last_seen_at)
        if user.disabled or as_utc(row.expires_at) <= now or seen + idle <= now:
            ses.delete(row)
            return None
        if now - seen > timedelta(minutes=1):
            row.last_seen_at = seen = now
        return Session(row.id, _user(user), row.csrf, as_utc(row.expires_at), seen)


def close_session(store: CaseStore, session_id: int) -> None:
    """Log out: the session row goes, the cookie opens nothing any more."""
    with store.session() as ses:
        ses.execute(delete(WebSessionRow).where(WebSessionRow.id == session_id))

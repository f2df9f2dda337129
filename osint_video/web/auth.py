"""Signed session cookies, CSRF tokens and login throttling.

The session cookie is `<token>.<HMAC-SHA256(secret, token)>`: HttpOnly, SameSite=Strict,
Secure over https (`[web] cookie_secure`). The secret lives in `WORKSPACE/keys/web-session.key`
(0600, made on first start, shared by every web server of a desk). A cookie whose signature
fails is refused before the store is asked; one that verifies still needs its session row
(`users.find_session`), so logout and `users disable` take effect on the next request.

Every form carries the session's CSRF token (`csrf` field, or the `X-CSRF-Token` header for
our own fetches); the login form, before any session exists, carries a token that must equal
a cookie set with it (double submit).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import threading
import time
from collections import defaultdict, deque
from pathlib import Path

COOKIE = "osv_session"
LOGIN_COOKIE = "osv_login"


def load_secret(home: Path) -> bytes:
    """The workspace's cookie-signing secret (32 random bytes), made on first use."""
    path = home / "keys" / "web-session.key"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        data = path.read_bytes()
        if len(data) >= 32:
            return data
        raise OSError(f"{path} is shorter than 32 bytes: remove it to make a new one") from None
    with os.fdopen(fd, "wb") as fh:
        fh.write(secrets.token_bytes(32))
    return path.read_bytes()


def _mac(secret: bytes, token: str) -> str:
    digest = hmac.new(secret, token.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def sign(secret: bytes, token: str) -> str:
    """The cookie value for a session token."""
    return f"{token}.{_mac(secret, token)}"


def unsign(secret: bytes, value: str | None) -> str | None:
    """The token of a cookie value whose signature holds (None: absent, forged, malformed)."""
    if not value or value.count(".") != 1 or len(value) > 200:
        return None
    token, mac = value.split(".")
    try:
        token.encode("ascii")
    except UnicodeEncodeError:
        return None
    return token if hmac.compare_digest(mac, _mac(secret, token)) else None


def same(a: str | None, b: str | None) -> bool:
    """Constant-time comparison of two tokens (False when either is missing)."""
    if not a or not b:
        return False
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


class Throttle:
    """Failed logins per key (user name, address) in a sliding window; thread-safe.

    In memory, per server process: a desk with several web servers behind one proxy gets
    `attempts` per process, which still turns guessing from thousands a second to a few a
    minute (argon2 costs ~50 ms a try anyway).
    """

    def __init__(self, attempts: int, window_s: float) -> None:
        self.attempts, self.window_s = attempts, window_s
        self._fails: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._fails[key]
        while q and q[0] <= now - self.window_s:
            q.popleft()
        return q

    def blocked(self, *keys: str) -> float:
        """Seconds until a login for these keys may be tried (0: now)."""
        now = time.monotonic()
        with self._lock:
            waits = [
                q[0] + self.window_s - now
                for k in keys
                if len(q := self._recent(k, now)) >= self.attempts
            ]
        return max(waits, default=0.0)

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for k in keys:
                self._recent(k, now).append(now)

    def succeeded(self, name_key: str) -> None:
        with self._lock:
            self._fails.pop(name_key, None)

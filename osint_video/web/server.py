"""`osint-video serve`: uvicorn on the web desk's application.

Proxy headers (X-Forwarded-For, X-Forwarded-Proto) are believed only from `[web]
trusted_proxies`; from anyone else they are ignored, so a client cannot claim https or
another address (which the login throttle counts by).
"""

from __future__ import annotations

from collections.abc import Callable

from ..config import Config
from ..errors import ConfigError
from ..workspace import Workspace


def _check(cfg: Config) -> None:
    """Fail before listening: the store must open (PostgreSQL at head), someone must log in."""
    from .users import list_users

    ws = Workspace.open(cfg)
    try:
        if not any(not u.disabled for u in list_users(ws.cases)):
            raise ConfigError(
                "no user can log in: add one first, e.g. `osint-video users add ana --role admin`"
            )
    finally:
        ws.close()


def serve(
    cfg: Config,
    *,
    host: str | None = None,
    port: int | None = None,
    say: Callable[[str], None] = print,
) -> None:
    """Serve until interrupted.

    Raises:
        ConfigError: no user who may log in. StoreError: the case store does not open.
    """
    import uvicorn

    from .app import create_app

    _check(cfg)
    host = host or cfg.web.host
    port = port or cfg.web.port
    proxies = list(cfg.web.trusted_proxies)
    say(f"web desk on http://{host}:{port}/ (workspace {cfg.home_dir()}); Ctrl-C stops it")
    uvicorn.run(
        create_app(cfg),
        host=host,
        port=port,
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies or None,
        server_header=False,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
    )

"""`annotate listen`: pull as annotations arrive, through Label Studio webhooks.

Label Studio calls webhooks synchronously inside the annotator's save request with a 1 s
timeout, so the receiver only reads the request, answers 200 and sets a flag; a background
thread does the pull (one at a time; events arriving during a pull cause one more pull, not
one each). It listens on 127.0.0.1 by default: the server runs on the same machine (our own
`labelstudio start`, which allows webhooks to local addresses). A desk's server elsewhere
reaches it on `listen_host` / `listen_url`. Each session registers a URL with a fresh secret
path, and posts to any other path are refused (404) before their body is read, so a stranger
who finds the port can neither trigger pulls nor tie the receiver up (`webhook.py`: bounded
bodies, socket timeouts, a deadline per connection). The webhooks it registers on the case's
projects are deleted when it stops.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from typing import Any

from ..config import Config
from ..errors import OsintVideoError
from ..store import annotations as db
from ..workspace import Workspace
from .client import AnnotateError, Client
from .webhook import Receiver

ACTIONS = ["ANNOTATION_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_DELETED"]


class Listener:
    """A webhook receiver plus a pulling thread; `start()`, then `stop()` (or `with`)."""

    def __init__(
        self,
        cfg: Config,
        *,
        port: int | None = None,
        host: str | None = None,
        url: str | None = None,
        case: str | None = None,
        pull: Callable[[], Any],
        notify: Callable[[str], None] = lambda _m: None,
    ) -> None:
        self.cfg, self.case, self.notify = cfg, case, notify
        self.port = cfg.annotate.listen_port if port is None else port
        self.host = cfg.annotate.listen_host if host is None else host
        self.base_url = (cfg.annotate.listen_url if url is None else url).rstrip("/")
        if not self.base_url and self.host in ("0.0.0.0", "::", ""):
            raise AnnotateError(
                f"listening on {self.host or 'every address'} needs the URL Label Studio should "
                "call (--url or [annotate] listen_url, e.g. http://10.0.0.5:8765)"
            )
        self.path = f"/webhook/{secrets.token_urlsafe(16)}"
        self._pull = pull
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.pulls = 0
        self.events: list[str] = []
        self._hooks: list[int] = []
        self._client: Client | None = None
        self._http: Receiver | None = None
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        """What Label Studio calls (it holds the session's secret path)."""
        assert self._http is not None
        if self.base_url:
            return self.base_url + self.path
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._http.address[1]}{self.path}"

    @property
    def shown_url(self) -> str:
        """`url` with its secret path elided, for messages."""
        return self.url.removesuffix(self.path) + "/webhook/…"

    def wake(self, action: str) -> None:
        self.events.append(action)
        self._wake.set()

    def _worker(self) -> None:
        while not self._stop.is_set():
            if not self._wake.wait(0.5):
                continue
            self._wake.clear()
            try:
                summary = self._pull()
                self.pulls += 1
                self.notify(f"pulled: {_line(summary)}")
            except OsintVideoError as exc:
                self.notify(f"pull failed (will retry on the next event): {exc}")

    def start(self) -> Listener:
        """Bind, register the webhooks, start the threads.

        Raises:
            AnnotateError: nothing pushed yet, or the server refused the webhooks.
        """
        from ..labelstudio.server import connection

        self._client = Client(connection(self.cfg))
        ws = Workspace.open(self.cfg)
        try:
            refs = db.projects(ws.cases, self._client.url, self.case)
        finally:
            ws.close()
        if not refs:
            raise AnnotateError("nothing pushed to this server yet: run annotate push first")
        try:
            self._http = Receiver(self.host, self.port, self.path, self.wake).start()
        except OSError as exc:
            raise AnnotateError(f"cannot listen on {self.host}:{self.port}: {exc}") from None
        try:
            for ref in refs:
                self._hooks.append(self._client.create_webhook(ref.project_id, self.url, ACTIONS))
        except BaseException:
            self.stop()
            raise
        thread = threading.Thread(target=self._worker, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Delete our webhooks and stop receiving (a pull under way finishes first)."""
        self._stop.set()
        for hook in self._hooks:
            try:
                if self._client is not None:
                    self._client.delete_webhook(hook)
            except AnnotateError:
                pass  # the server is gone: its webhooks went with it
        self._hooks.clear()
        if self._http is not None:
            self._http.stop()
        for thread in self._threads:
            thread.join(timeout=30)

    def __enter__(self) -> Listener:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _line(summary: Any) -> str:
    data = summary.as_json() if hasattr(summary, "as_json") else {}
    return (
        f"{data.get('added', 0)} new, {data.get('updated', 0)} updated, "
        f"{data.get('deleted', 0)} deleted; status changes {data.get('status_changes') or {}}"
    )

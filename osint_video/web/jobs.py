"""Work the web desk starts and does not wait for: URL downloads, and processing on SQLite.

One analyst (SQLite): there are no workers, so after intake the server drains the queue itself
with the local process pool (`pool.drain_local`, as `worker --drain` does), in a
background thread, again while clips are still queued. A desk (PostgreSQL): `desk.queue.add`
hands clips to procrastinate and the desk's workers process them; the server only queues.

URL downloads can take up to `[queue] download_timeout_s`, so they run here too, one after the
other; the board shows them as pending until each is a clip or a failed item `u<N>`.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from ..config import Config
from ..desk import queue
from ..pool import drain_local
from ..store.cases import CaseStore, utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pending:
    """A URL being brought in, as the board shows it."""

    id: int
    url: str
    actor: str
    since: datetime
    state: str = "waiting"


class Jobs:
    """The server's background work; `version` changes whenever what the board shows does."""

    def __init__(self, cfg: Config, local: bool, store: CaseStore) -> None:
        self.cfg, self.local, self.store = cfg, local, store
        self._intake = ThreadPoolExecutor(1, thread_name_prefix="osv-intake")
        self._process = ThreadPoolExecutor(1, thread_name_prefix="osv-process")
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._draining = False
        self._again = False
        self.pending: dict[int, Pending] = {}
        self.version = 0
        self.recent: list[queue.AddResult] = []

    def _changed(self) -> None:
        with self._lock:
            self.version += 1

    def add_urls(self, cfg: Config, urls: list[str], opts: queue.AddOptions) -> list[Pending]:
        """Queue URL downloads (in order, one at a time) as the user of `cfg`."""
        out = []
        for url in urls:
            item = Pending(next(self._ids), url, cfg.operator(), utcnow())
            with self._lock:
                self.pending[item.id] = item
            self._intake.submit(self._fetch, cfg, item, opts)
            out.append(item)
        self._changed()
        return out

    def _fetch(self, cfg: Config, item: Pending, opts: queue.AddOptions) -> None:
        with self._lock:
            self.pending[item.id] = dataclasses.replace(item, state="downloading")
            self.version += 1
        try:
            results = queue.add(cfg, [item.url], opts)
            with self._lock:
                self.recent = (self.recent + results)[-50:]
        except Exception:  # noqa: BLE001 - a bug is logged; the server goes on
            log.exception("URL intake of %s failed", item.url)
        finally:
            with self._lock:
                self.pending.pop(item.id, None)
                self.version += 1
        self.process()

    def retry(self, cfg: Config, item: str) -> Pending:
        """Download a failed URL item `u<N>` again (in the background)."""
        from ..desk import failures

        row = failures.item_id(item)
        if row is None:
            from ..errors import NotFound

            raise NotFound(f"no failed URL item {item!r}")
        url = failures.get_failure(self.store, row).url
        pending = Pending(next(self._ids), url, cfg.operator(), utcnow())
        with self._lock:
            self.pending[pending.id] = pending
            self.version += 1
        self._intake.submit(self._retry, cfg, pending, item)
        return pending

    def _retry(self, cfg: Config, item: Pending, ref: str) -> None:
        try:
            result = queue.retry(cfg, ref)
            with self._lock:
                self.recent = (self.recent + [result])[-50:]
        except Exception:  # noqa: BLE001 - a bug or a race is logged; the server goes on
            log.exception("retry of %s failed", ref)
        finally:
            with self._lock:
                self.pending.pop(item.id, None)
                self.version += 1
        self.process()

    def process(self) -> None:
        """On SQLite, process whatever is queued (now, or again once the current drain ends)."""
        if not self.local:
            return
        with self._lock:
            if self._draining:
                self._again = True
                return
            self._draining = True
        self._process.submit(self._drain)

    def _drain(self) -> None:
        while True:
            try:
                drain_local(self.cfg)
            except Exception:  # noqa: BLE001 - a bug is logged; the server goes on
                log.exception("processing queued clips failed")
            with self._lock:
                if not self._again:
                    self._draining = False
                    return
                self._again = False

    def busy(self) -> bool:
        with self._lock:
            return bool(self.pending) or self._draining

    def close(self) -> None:
        self._intake.shutdown(wait=False, cancel_futures=True)
        self._process.shutdown(wait=False, cancel_futures=True)

"""The one place that talks to Label Studio (through label_studio_sdk), with errors made readable.

Every call goes through `Client._call`, which turns transport failures and API errors into an
`AnnotateError` of one line. The API key never appears in a message: the SDK's own exception
text carries response headers (session cookies), so messages are built from the status code and
the response body only, and the key is scrubbed from whatever text remains.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol, TypeVar

import httpx
from label_studio_sdk import LabelStudio
from label_studio_sdk.core.api_error import ApiError

from ..errors import LabelStudioError

T = TypeVar("T")
TIMEOUT_S = 120.0
UPLOAD_MAX_FILES = 50  # per request; Django refuses more than 100
UPLOAD_MAX_BYTES = 64 << 20


class AnnotateError(LabelStudioError):
    """Label Studio refused, failed, or could not be reached; nothing was marked as sent."""


class ServerUnreachable(AnnotateError):
    """No answer from the Label Studio server (down, wrong URL, network)."""


class AuthError(AnnotateError):
    """The server rejected the API key."""


class NotOnServer(AnnotateError):
    """A project (or task) we recorded no longer exists on the server."""


class Server(Protocol):
    """What we need of a `labelstudio.server.Connection`."""

    @property
    def url(self) -> str: ...
    @property
    def api_key(self) -> str: ...
    @property
    def files_root(self) -> Path | None: ...


def _scrub(text: str, secret: str) -> str:
    return text.replace(secret, "***") if secret else text


def _body_text(body: Any) -> str:
    if isinstance(body, dict):
        for key in ("validation_errors", "detail", "error"):
            if body.get(key):
                return json.dumps(body[key], ensure_ascii=False)[:300]
    if isinstance(body, str):
        return "(an HTML error page)" if body.lstrip().startswith("<") else body[:300]
    return json.dumps(body, ensure_ascii=False)[:300]


class Client:
    """A thin wrapper over `LabelStudio` for the calls push, pull and listen need."""

    def __init__(self, server: Server, timeout_s: float = TIMEOUT_S) -> None:
        self.server = server
        self.url = server.url.rstrip("/")
        self.sdk = LabelStudio(base_url=self.url, api_key=server.api_key, timeout=timeout_s)
        self._http = self.sdk._client_wrapper.httpx_client

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except ApiError as exc:
            raise self._api_error(what, exc.status_code, exc.body) from None
        except (httpx.TransportError, OSError) as exc:
            raise ServerUnreachable(
                f"Label Studio at {self.url} is not reachable ({what}): "
                f"{_scrub(exc.__class__.__name__ + ': ' + str(exc), self.server.api_key)}"
            ) from None

    def _api_error(self, what: str, status: int | None, body: Any) -> AnnotateError:
        detail = _scrub(_body_text(body), self.server.api_key)
        if status == 401 or status == 403 and "token" in detail.lower():
            return AuthError(
                f"Label Studio at {self.url} refused the API key ({status}) while trying to "
                f"{what}: check LABEL_STUDIO_API_KEY"
            )
        if status == 404:
            return NotOnServer(f"Label Studio at {self.url}: not found while trying to {what}")
        return AnnotateError(f"Label Studio at {self.url} failed to {what} ({status}): {detail}")

    def _raw(self, what: str, method: str, path: str, **kw: Any) -> Any:
        def go() -> Any:
            resp = self._http.request(path, method=method, **kw)
            if resp.status_code >= 400:
                try:
                    body: Any = resp.json()
                except ValueError:
                    body = resp.text
                raise ApiError(status_code=resp.status_code, headers={}, body=body)
            return resp.json() if resp.content else None

        return self._call(what, go)

    # -- server and users ---------------------------------------------------------------------

    def whoami(self) -> Any:
        """The token's user; the cheapest authenticated call (checks URL and key at once)."""
        return self._call("check the API key", self.sdk.users.whoami)

    def users(self) -> dict[int, str]:
        """{user id: email} of everyone the token can see."""
        users = self._call("list users", lambda: list(self.sdk.users.list()))
        return {u.id: u.email or u.username or f"user {u.id}" for u in users}

    # -- projects -----------------------------------------------------------------------------

    def project_exists(self, project_id: int) -> bool:
        try:
            self._call("read project", lambda: self.sdk.projects.get(id=project_id))
        except NotOnServer:
            return False
        return True

    def find_project(self, title: str) -> int | None:
        """The id of a project with exactly this title (another desk member's push), or None."""
        pages: list[Any] = self._call(
            "list projects", lambda: list(self.sdk.projects.list(title=title, page_size=100))
        )
        ids = sorted(int(p.id) for p in pages if p.title == title)
        return ids[0] if ids else None

    def create_project(self, title: str, label_config: str, description: str) -> int:
        p: Any = self._call(
            f"create project {title!r}",
            lambda: self.sdk.projects.create(
                title=title, label_config=label_config, description=description
            ),
        )
        return int(p.id)

    def delete_project(self, project_id: int) -> None:
        self._call("delete project", lambda: self.sdk.projects.delete(id=project_id))

    def create_local_storage(self, project_id: int, path: str, title: str) -> int:
        st = self._call(
            "create a Local Files storage",
            lambda: self.sdk.import_storage.local.create(
                project=project_id, path=path, title=title, use_blob_urls=False
            ),
        )
        return int(st.id)

    # -- tasks --------------------------------------------------------------------------------

    def import_tasks(self, project_id: int, tasks: list[dict[str, Any]]) -> list[int]:
        """Create tasks (with inline predictions); their ids, in the order given."""
        r = self._call(
            f"import {len(tasks)} tasks",
            lambda: self.sdk.projects.import_tasks(
                project_id,
                request=tasks,  # type: ignore[arg-type]  # plain dicts are what it sends
                return_task_ids=True,
            ),
        )
        ids = [int(i) for i in getattr(r, "task_ids", None) or []]
        if len(ids) != len(tasks):
            raise AnnotateError(f"Label Studio created {len(ids)} tasks for {len(tasks)} sent")
        return ids

    def upload_files(self, project_id: int, files: dict[str, bytes]) -> dict[str, str]:
        """Upload images without creating tasks; {field name: URL the server serves it at}.

        Each file has its own form field (one shared field would make a single task), and
        `commit_to_project=false` keeps the server from making image-only tasks: our tasks
        are imported afterwards as JSON carrying the URLs and our traceability fields.
        Requests carry at most UPLOAD_MAX_FILES files and about UPLOAD_MAX_BYTES: Django
        refuses more than 100 files in one request (DATA_UPLOAD_MAX_NUMBER_FILES), which is
        why uploading ~1k files through the UI breaks.
        """
        out: dict[str, str] = {}
        chunk: dict[str, bytes] = {}
        for name, data in files.items():
            size = sum(len(d) for d in chunk.values())
            if chunk and (len(chunk) >= UPLOAD_MAX_FILES or size + len(data) > UPLOAD_MAX_BYTES):
                out |= self._upload_chunk(project_id, chunk)
                chunk = {}
            chunk[name] = data
        if chunk:
            out |= self._upload_chunk(project_id, chunk)
        return out

    def _upload_chunk(self, project_id: int, files: dict[str, bytes]) -> dict[str, str]:
        parts = {name: (name, data, "image/png") for name, data in files.items()}
        r = self._raw(
            f"upload {len(files)} images",
            "POST",
            f"api/projects/{project_id}/import",
            params={"commit_to_project": "false"},
            files=parts,
        )
        ids = r.get("file_upload_ids") or []
        listed = self._raw(
            "list uploaded files",
            "GET",
            f"api/projects/{project_id}/file-uploads",
            params={"ids": json.dumps(ids)},
        )
        out: dict[str, str] = {}
        for item in listed:
            stored = str(item["file"])
            name = stored.rsplit("/", 1)[-1].split("-", 1)[-1]
            if name in files:
                out[name] = "/data/" + stored
        missing = sorted(set(files) - set(out))
        if missing:
            raise AnnotateError(f"Label Studio did not keep uploaded images: {missing[:5]}")
        return out

    def task_data(self, project_id: int) -> Iterator[tuple[int, dict[str, Any]]]:
        """(task id, data) of every task of a project, for reconciliation."""
        page = 1
        while True:
            r = self._raw(
                "list tasks",
                "GET",
                "api/tasks",
                params={"project": project_id, "page": page, "page_size": 1000, "fields": "all"},
            )
            tasks = r.get("tasks", []) if isinstance(r, dict) else r
            for t in tasks:
                yield int(t["id"]), dict(t.get("data") or {})
            if len(tasks) < 1000:
                return
            page += 1

    def export(self, project_id: int) -> list[dict[str, Any]]:
        """Every annotated task of a project with its annotations in full (one request)."""
        r = self._raw(
            "export annotations",
            "GET",
            f"api/projects/{project_id}/export",
            params={"exportType": "JSON"},
        )
        return list(r or [])

    # -- annotations and webhooks ---------------------------------------------------------------

    def create_annotation(
        self, task_id: int, result: list[dict[str, Any]], user_id: int, lead_time: float = 1.0
    ) -> int:
        a = self._call(
            "create annotation",
            lambda: self.sdk.annotations.create(
                id=task_id, result=result, completed_by=user_id, lead_time=lead_time
            ),
        )
        return int(a.id)

    def create_webhook(self, project_id: int, url: str, actions: list[str]) -> int:
        w = self._call(
            "register a webhook",
            lambda: self.sdk.webhooks.create(
                url=url, project=project_id, send_payload=True, actions=actions
            ),
        )
        return int(w.id)

    def delete_webhook(self, webhook_id: int) -> None:
        self._call("delete a webhook", lambda: self.sdk.webhooks.delete(id=webhook_id))

"""The one place that talks to Label Studio (through label_studio_sdk), with errors made readable.

Every call goes through `Client._call`, which turns transport failures and API errors into an
`AnnotateError` of one line. The API key never appears in a message: the SDK's own exception
text carries response headers (session cookies), so messages are built from the status code and
the response body only, and the key is scrubbed from whatever text remains. What a call returns
is read through `shapes` inside the same `_call`: an answer of the wrong shape (a list for an
object, a missing id, an HTML page for JSON) is an `UnexpectedAnswer` of one line too.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol, TypeVar

import httpx
from label_studio_sdk import LabelStudio
from label_studio_sdk.core.api_error import ApiError
from label_studio_sdk.core.parse_error import ParsingError

from ..errors import LabelStudioError
from . import shapes

T = TypeVar("T")
TIMEOUT_S = 120.0
UPLOAD_MAX_FILES = 50  # per request; Django refuses more than 100
UPLOAD_MAX_BYTES = 64 << 20
MAX_LISTED = 1000  # projects read from a title search
MAX_TASK_PAGES = 1000  # pages of 1000 tasks read for reconciliation (a server that never ends)
# What a malformed answer raises while the SDK or `shapes` reads it (ShapeError, pydantic's
# ValidationError and json's JSONDecodeError are ValueErrors).
SHAPE_ERRORS = (ValueError, TypeError, KeyError, AttributeError, IndexError)


class AnnotateError(LabelStudioError):
    """Label Studio refused, failed, or could not be reached; nothing was marked as sent."""


class ServerUnreachable(AnnotateError):
    """No answer from the Label Studio server (down, wrong URL, network)."""


class AuthError(AnnotateError):
    """The server rejected the API key."""


class NotOnServer(AnnotateError):
    """A project (or task) we recorded no longer exists on the server."""


class UnexpectedAnswer(AnnotateError):
    """The server answered, but not what Label Studio's API returns (wrong shape, not JSON)."""


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
    if isinstance(body, str):  # one line, whatever the server sent
        return (
            "(an HTML error page)"
            if body.lstrip().startswith("<")
            else " ".join(body.split())[:300]
        )
    return json.dumps(body, ensure_ascii=False)[:300]


def _shape_text(exc: Exception) -> str:
    """Our `ShapeError` says what did not fit; an error from inside the SDK loses its module
    path ("UncheckedBaseModel.model_construct() argument after ** must be a mapping, not list")."""
    if isinstance(exc, shapes.ShapeError):
        return str(exc)
    text = re.sub(r"\b(?:[a-z_]\w*\.)+(?=[A-Za-z_]\w*\.\w+\()", "", str(exc))
    return f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__


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
        except ParsingError as exc:
            raise self._unexpected(what, f"{exc.__class__.__name__}: {exc.cause}") from None
        except ApiError as exc:
            raise self._api_error(what, exc.status_code, exc.body) from None
        except (httpx.TransportError, OSError) as exc:
            raise ServerUnreachable(
                f"Label Studio at {self.url} is not reachable ({what}): "
                f"{_scrub(exc.__class__.__name__ + ': ' + str(exc), self.server.api_key)}"
            ) from None
        except httpx.HTTPError as exc:  # e.g. a body that does not decode as it claims
            raise self._unexpected(what, f"{exc.__class__.__name__}: {exc}") from None
        except SHAPE_ERRORS as exc:
            raise self._unexpected(what, _shape_text(exc)) from None

    def _unexpected(self, what: str, detail: str) -> UnexpectedAnswer:
        line = " ".join(_scrub(detail, self.server.api_key).split())[:200]
        return UnexpectedAnswer(
            f"Label Studio at {self.url} gave an unexpected answer while trying to {what} "
            f"({line}): is it a Label Studio server of a supported version?"
        )

    def _api_error(self, what: str, status: int | None, body: Any) -> AnnotateError:
        detail = _scrub(_body_text(body), self.server.api_key)
        if status is not None and status < 400:  # a 2xx the SDK could not read as JSON
            return self._unexpected(what, f"status {status}, {detail.strip('()')}")
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
            try:
                return resp.json() if resp.content else None
            except ValueError:
                raise ApiError(status_code=resp.status_code, headers={}, body=resp.text) from None

        return self._call(what, go)

    # -- server and users ---------------------------------------------------------------------

    def whoami(self) -> Any:
        """The token's user; the cheapest authenticated call (checks URL and key at once)."""

        def me() -> Any:
            user = self.sdk.users.whoami()
            shapes.get_id(user, "the current user")
            return user

        return self._call("check the API key", me)

    def users(self) -> dict[int, str]:
        """{user id: email} of everyone the token can see."""

        def read() -> dict[int, str]:
            out = {}
            for u in shapes.as_list(self.sdk.users.list(), "the user list"):
                uid = shapes.get_id(u, "a user")
                name = getattr(u, "email", None) or getattr(u, "username", None)
                out[uid] = str(name)[:320] if name else f"user {uid}"
            return out

        return self._call("list users", read)

    # -- projects -----------------------------------------------------------------------------

    def project_exists(self, project_id: int) -> bool:
        try:
            self._call(
                "read project",
                lambda: shapes.get_id(self.sdk.projects.get(id=project_id), "the project"),
            )
        except NotOnServer:
            return False
        return True

    def find_project(self, title: str) -> int | None:
        """The id of a project with exactly this title (another desk member's push), or None."""

        def read() -> list[int]:
            # The SDK's pager reads until a page is empty or 404 (it ends on that 404 itself):
            # a server whose pages never end is cut off after MAX_LISTED projects.
            pager: Any = self.sdk.projects.list(title=title, page_size=100)
            ids = []
            for p in itertools.islice(pager, MAX_LISTED):
                if isinstance(p, str | bytes | int | float | list | dict | None):  # not a model
                    raise shapes.ShapeError(f"a listed project is {type(p).__name__} {p!r:.60}")
                if getattr(p, "title", None) == title:
                    ids.append(shapes.get_id(p, "a project"))
            return ids

        ids = sorted(self._call("list projects", read))
        return ids[0] if ids else None

    def create_project(self, title: str, label_config: str, description: str) -> int:
        return self._call(
            f"create project {title!r}",
            lambda: shapes.get_id(
                self.sdk.projects.create(
                    title=title, label_config=label_config, description=description
                ),
                "the new project",
            ),
        )

    def delete_project(self, project_id: int) -> None:
        self._call("delete project", lambda: self.sdk.projects.delete(id=project_id))

    def create_local_storage(self, project_id: int, path: str, title: str) -> int:
        return self._call(
            "create a Local Files storage",
            lambda: shapes.get_id(
                self.sdk.import_storage.local.create(
                    project=project_id, path=path, title=title, use_blob_urls=False
                ),
                "the new storage",
            ),
        )

    # -- tasks --------------------------------------------------------------------------------

    def import_tasks(self, project_id: int, tasks: list[dict[str, Any]]) -> list[int]:
        """Create tasks (with inline predictions); their ids, in the order given."""

        def send() -> list[int]:
            r = self.sdk.projects.import_tasks(
                project_id,
                request=tasks,  # type: ignore[arg-type]  # plain dicts are what it sends
                return_task_ids=True,
            )
            got = shapes.as_list(getattr(r, "task_ids", None) or [], "task_ids")
            return [shapes.as_id(i, "a task id") for i in got]

        ids = self._call(f"import {len(tasks)} tasks", send)
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
        what = f"upload {len(files)} images"
        r = self._raw(
            what,
            "POST",
            f"api/projects/{project_id}/import",
            params={"commit_to_project": "false"},
            files=parts,
        )
        ids = self._call(what, lambda: shapes.upload_ids(r))
        listed = self._raw(
            "list uploaded files",
            "GET",
            f"api/projects/{project_id}/file-uploads",
            params={"ids": json.dumps(ids)},
        )
        out: dict[str, str] = {}
        for stored in self._call("list uploaded files", lambda: shapes.uploaded_files(listed)):
            name = stored.rsplit("/", 1)[-1].split("-", 1)[-1]
            if name in files:
                out[name] = "/data/" + stored
        missing = sorted(set(files) - set(out))
        if missing:
            raise AnnotateError(f"Label Studio did not keep uploaded images: {missing[:5]}")
        return out

    def task_data(self, project_id: int) -> Iterator[tuple[int, dict[str, Any]]]:
        """(task id, data) of every task of a project, for reconciliation."""
        for page in range(1, MAX_TASK_PAGES + 1):
            r = self._raw(
                "list tasks",
                "GET",
                "api/tasks",
                params={"project": project_id, "page": page, "page_size": 1000, "fields": "all"},
            )
            tasks = self._call("list tasks", lambda: shapes.task_page(r))  # noqa: B023
            yield from tasks
            if len(tasks) < 1000:
                return
        raise self._unexpected("list tasks", f"more than {MAX_TASK_PAGES} pages of 1000 tasks")

    def export(self, project_id: int) -> list[dict[str, Any]]:
        """Every annotated task of a project with its annotations in full (one request)."""
        r = self._raw(
            "export annotations",
            "GET",
            f"api/projects/{project_id}/export",
            params={"exportType": "JSON"},
        )
        return self._call("export annotations", lambda: shapes.export(r or []))

    # -- annotations and webhooks ---------------------------------------------------------------

    def create_annotation(
        self, task_id: int, result: list[dict[str, Any]], user_id: int, lead_time: float = 1.0
    ) -> int:
        return self._call(
            "create annotation",
            lambda: shapes.get_id(
                self.sdk.annotations.create(
                    id=task_id, result=result, completed_by=user_id, lead_time=lead_time
                ),
                "the new annotation",
            ),
        )

    def create_webhook(self, project_id: int, url: str, actions: list[str]) -> int:
        return self._call(
            "register a webhook",
            lambda: shapes.get_id(
                self.sdk.webhooks.create(
                    url=url, project=project_id, send_payload=True, actions=actions
                ),
                "the new webhook",
            ),
        )

    def delete_webhook(self, webhook_id: int) -> None:
        self._call("delete a webhook", lambda: self.sdk.webhooks.delete(id=webhook_id))

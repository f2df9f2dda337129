"""What we read from Label Studio's answers, checked before anything uses it.

The SDK builds its models without validation, and a configured URL may lead somewhere else
entirely (a proxy's error page, another service, an incompatible version), so a list may come
where an object belongs, an id may be text, a key may be missing. Every value push, pull and
listen use is read through these functions, which raise `ShapeError` naming the first thing
that does not fit; `Client` turns it into one line. Values are also bounded to what the case
store's columns hold (ids fit a 32-bit integer, dates 40 characters).
"""

from __future__ import annotations

import json
from typing import Any

ID_MAX = 2**31 - 1


class ShapeError(ValueError):
    """An answer that is not what Label Studio's API returns."""


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def as_dict(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ShapeError(f"{what} is {type(value).__name__} {_shown(value)}, not an object")
    return value


def as_list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise ShapeError(f"{what} is {type(value).__name__} {_shown(value)}, not a list")
    return value


def as_id(value: Any, what: str) -> int:
    """A positive integer id (Label Studio's are; a digit string is accepted too)."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= ID_MAX:
        raise ShapeError(f"{what} is {_shown(value)}, not an id")
    return value


def get_id(obj: Any, what: str) -> int:
    """The `id` of an SDK model or a dict."""
    value = obj.get("id") if isinstance(obj, dict) else getattr(obj, "id", None)
    return as_id(value, f"{what} id")


def _text(value: Any, limit: int) -> str | None:
    return value if isinstance(value, str) and len(value) <= limit else None


def _number(value: Any) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if ok and abs(value) < 1e12 else None


def _annotator(value: Any) -> int | None:
    who = value.get("id") if isinstance(value, dict) else value
    return None if who is None else as_id(who, "an annotation's completed_by")


def _result(value: Any) -> Any:
    """An annotation's result as given (validation says whether it fits our config), if it is
    plain JSON a database can store (no NaN or Infinity)."""
    try:
        json.dumps(value, allow_nan=False)
    except (ValueError, TypeError, RecursionError):
        raise ShapeError("an annotation's result is not plain JSON") from None
    return [] if value is None else value


def annotation(value: Any) -> dict[str, Any]:
    """One exported annotation, with the fields pull stores (odd optional values become None)."""
    a = as_dict(value, "an exported annotation")
    return {
        "id": as_id(a.get("id"), "an exported annotation's id"),
        "was_cancelled": a.get("was_cancelled") is True,
        "completed_by": _annotator(a.get("completed_by")),
        "created_at": _text(a.get("created_at"), 40),
        "updated_at": _text(a.get("updated_at"), 40),
        "lead_time": _number(a.get("lead_time")),
        "result": _result(a.get("result")),
    }


def task(value: Any, what: str = "an exported task") -> dict[str, Any]:
    """One task: id, data (an object) and its annotations, each checked."""
    t = as_dict(value, what)
    data = t.get("data")
    return {
        "id": as_id(t.get("id"), f"{what}'s id"),
        "data": {} if data is None else as_dict(data, f"{what}'s data"),
        "annotations": [
            annotation(a) for a in as_list(t.get("annotations") or [], f"{what}'s annotations")
        ],
    }


def export(value: Any) -> list[dict[str, Any]]:
    """A project's JSON export: a list of tasks."""
    return [task(t) for t in as_list(value, "the export")]


def task_page(value: Any) -> list[tuple[int, dict[str, Any]]]:
    """One page of GET api/tasks ({"tasks": [...]}, or a bare list): (id, data) of each task."""
    tasks = value if isinstance(value, list) else as_dict(value, "the task list").get("tasks")
    out = []
    for item in as_list(tasks or [], "the task list's tasks"):
        t = as_dict(item, "a listed task")
        data = t.get("data")
        out.append(
            (
                as_id(t.get("id"), "a listed task's id"),
                {} if data is None else as_dict(data, "a listed task's data"),
            )
        )
    return out


def uploaded_files(value: Any) -> list[str]:
    """GET api/projects/N/file-uploads: the stored file path of each upload."""
    out = []
    for item in as_list(value, "the list of uploaded files"):
        stored = as_dict(item, "an uploaded file").get("file")
        if not isinstance(stored, str) or not stored:
            raise ShapeError(f"an uploaded file's path is {_shown(stored)}, not a path")
        out.append(stored)
    return out


def upload_ids(value: Any) -> list[int]:
    """POST api/projects/N/import (files): the ids of the uploads it made."""
    ids = as_dict(value, "the upload answer").get("file_upload_ids") or []
    return [as_id(i, "a file upload id") for i in as_list(ids, "file_upload_ids")]

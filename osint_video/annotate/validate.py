"""Check annotation results against our label configs: Label Studio itself accepts anything.

A result item naming a control we do not have, a label or choice outside the control's list, a
rating out of range or text that is not text is a problem. The annotation is still stored (it
is somebody's work), but marked invalid with the reasons, reported, and kept out of the verdict.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

# The label configs live in annotations/ at the top of the repository; the package carries them
# as osint_video/defaults/*.xml (symlinks there, copies in a wheel).
CONFIG_DIR = Path(__file__).resolve().parents[1] / "defaults"
CONFIG_FILES = {"keyframe": "keyframe.xml", "clip": "clip.xml"}
LABEL_KEYS = {"choices": "choices", "rectanglelabels": "rectanglelabels", "labels": "labels"}


def config_text(kind: str) -> str:
    """The label config XML of a project kind ("keyframe" or "clip")."""
    return (CONFIG_DIR / CONFIG_FILES[kind]).read_text("utf-8")


@functools.cache
def _interface(kind: str) -> Any:
    """The SDK's parsed config (imported here: the SDK takes about 1 s to import, and reports
    that only read stored annotations never need it)."""
    from label_studio_sdk.label_interface import LabelInterface

    return LabelInterface(config_text(kind))


def _control_problems(control: Any, item: dict[str, Any]) -> list[str]:
    kind, value, name = str(item.get("type", "")), item.get("value") or {}, control.name
    if not isinstance(value, dict):
        return [f"{name}: value is not an object"]
    if kind.lower() != control.tag.lower():
        return [f"{name}: type {kind!r} but the control is {control.tag}"]
    if item.get("to_name") not in control.to_name:
        return [f"{name}: to_name {item.get('to_name')!r} is not {control.to_name}"]
    problems = []
    if kind in LABEL_KEYS:
        allowed, given = set(control.labels), value.get(LABEL_KEYS[kind]) or []
        if not isinstance(given, list):
            return [f"{name}: {LABEL_KEYS[kind]} is not a list"]
        for v in given:
            if not isinstance(v, str) or v not in allowed:
                problems.append(f"{name}: {v!r} is not one of our values")
    elif kind == "rating":
        top = int(control.attr.get("maxRating", 5))
        r = value.get("rating")
        if not isinstance(r, int | float) or not 0 <= r <= top:
            problems.append(f"{name}: rating {r!r} is not within 0..{top}")
    elif kind == "textarea":
        text = value.get("text")
        if not isinstance(text, list) or not all(isinstance(t, str) for t in text):
            problems.append(f"{name}: text is not a list of strings")
    return problems


def problems(kind: str, result: list[Any]) -> list[str]:
    """Why an annotation's result does not fit our config (empty: it fits).

    Args:
        kind: "keyframe" or "clip" (which config the task was made with).
        result: the annotation's `result` list as Label Studio exported it.
    """
    li = _interface(kind)
    controls = {c.name: c for c in li.controls}
    out: list[str] = []
    if not isinstance(result, list):
        return ["result is not a list"]
    for item in result:
        if not isinstance(item, dict):
            out.append("a result item is not an object")
            continue
        control = controls.get(str(item.get("from_name")))
        if control is None:
            out.append(f"unknown field {item.get('from_name')!r}")
        else:
            out.extend(_control_problems(control, item))
    return out


def values(result: list[Any]) -> dict[str, list[Any]]:
    """{field: values} of a result, flattened for reading (labels, choices, text, ratings)."""
    out: dict[str, list[Any]] = {}
    for item in result if isinstance(result, list) else []:
        if not isinstance(item, dict):
            continue
        value = item.get("value") or {}
        if not isinstance(value, dict):
            continue
        got: list[Any] = []
        for key in ("rectanglelabels", "labels", "choices", "text"):
            given = value.get(key)
            got.extend(given if isinstance(given, list) else [given] if given else [])
        if "rating" in value:
            got.append(value["rating"])
        out.setdefault(str(item.get("from_name")), []).extend(got)
    return out

"""report.json's contract: its schema versions and metadata keys, loading and validating.

Every report is checked against the JSON Schema of its own version before anything is rendered
from it (published reports of older versions stay valid), then for what a schema cannot say:
unique keyframe ids, duplicates that point at a representative, shots that exist.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator

from ..errors import ReportError

SCHEMA_VERSION = "1.4"  # what new reports are written as
# what still validates (published reports stay valid)
SCHEMA_VERSIONS = ("1.0", "1.1", "1.2", "1.3", "1.4")

# report["metadata"] keys, in the order the report shows them (provenance.py builds them).
META_KEYS = (
    "creation_time",
    "creation_time_source",
    "creation_time_local",
    "creation_utc_offset",
    "location",
    "make",
    "model",
    "software",
    "encoder",
    "handler_names",
    "content_credentials",
    "raw",
)


@functools.cache
def report_schema(version: str = SCHEMA_VERSION) -> dict[str, Any]:
    """The JSON Schema of report.json `version` shipped with the package."""
    text = (
        resources.files("osint_video.report")
        .joinpath("schema")
        .joinpath(f"report-{version}.schema.json")
        .read_text("utf-8")
    )
    schema: dict[str, Any] = json.loads(text)
    return schema


def validate_report(report: dict[str, Any]) -> None:
    """Check a report against the schema and its internal references.

    Raises:
        ReportError: listing the first problems (JSON path and message) found.
    """
    version = report.get("schema_version")
    version = version if version in SCHEMA_VERSIONS else SCHEMA_VERSION
    validator = Draft202012Validator(report_schema(version))
    errors = sorted(validator.iter_errors(report), key=lambda e: [str(p) for p in e.absolute_path])
    problems = [f"{e.json_path}: {e.message}" for e in errors]
    if not problems:
        problems = _reference_problems(report)
    if problems:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise ReportError(f"invalid report {version}: " + "; ".join(problems[:5]) + more)


def _reference_problems(report: dict[str, Any]) -> list[str]:
    """What a schema cannot say: ids unique, duplicates point at a representative, shots exist."""
    keyframes = report["keyframes"]
    ids = [k["id"] for k in keyframes]
    problems = [
        f"keyframe id {i!r} is not unique"
        for i in sorted(set(map(str, ids)))
        if [str(x) for x in ids].count(i) > 1
    ]
    representatives = {k["id"] for k in keyframes if k["duplicate_of"] is None}
    shots = {s["index"] for s in report["shots"]}
    for k in keyframes:
        dup = k["duplicate_of"]
        if dup is not None and (dup == k["id"] or dup not in representatives):
            problems.append(f"keyframe {k['id']!r}: duplicate_of {dup!r} is not a representative")
        if k["shot"] is not None and shots and k["shot"] not in shots:
            problems.append(f"keyframe {k['id']!r}: shot {k['shot']} does not exist")
    return problems

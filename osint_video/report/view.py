"""The HTML report's view model: what the template shows that is not a plain lookup in the
report (table rows with the anomalies that concern them, inlined thumbnails, the matches'
side-by-side pictures, the signer's thumbnail, custody details as printed).

Reads report.json and files of the workspace's derived folders only: never the evidence.
"""

from __future__ import annotations

import base64
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from ..models import describe_credentials
from .sheet import thumbnail_uri
from .text import first_seen, human_size, location_text, osm_link, show
from .validation import META_KEYS

RAW_TAGS_LIMIT = 200_000  # characters of raw tags shown inline; report.json keeps them all
PRINT_OUTPUTS_LIMIT = 12  # a printed custody row lists this many output files at most

# Anomaly codes are free-form names chosen by the anomaly step; a row of the metadata table is
# highlighted when an anomaly code contains one of its keywords. Every anomaly is also listed in
# full, so a code that matches no row is still shown.
FIELD_KEYWORDS: dict[str, tuple[str, ...]] = {
    "creation_time": ("time", "date", "future", "no_metadata"),
    "location": ("gps", "location", "null_island", "no_metadata"),
    "make": ("make", "device", "no_metadata"),
    "model": ("model", "device", "no_metadata"),
    "software": ("software", "encode", "edit", "lavf", "ffmpeg"),
    "encoder": ("encode", "edit", "lavf", "ffmpeg"),
    "handler_names": ("handler", "encode", "edit"),
    "content_credentials": ("c2pa",),
    "duration_s": ("duration", "truncat"),
    "width": ("dimension", "resiz"),
    "height": ("dimension", "resiz"),
    "rotation_deg": ("rotat",),
    "frame_count": ("frame_count", "truncat", "header_only", "no_frames"),
    "frames_decoded": ("frame_count", "truncat", "header_only", "no_frames", "decod"),
    "variable_frame_rate": ("vfr", "variable"),
}


@dataclass(frozen=True)
class Row:
    """One line of a facts table; `codes` are the anomalies that concern it."""

    label: str
    value: str
    codes: tuple[str, ...] = ()


def _codes_for(field: str, anomalies: Sequence[dict[str, Any]]) -> tuple[str, ...]:
    keys = FIELD_KEYWORDS.get(field, ())
    return tuple(a["code"] for a in anomalies if any(k in a["code"].lower() for k in keys))


def _metadata_rows(report: dict[str, Any]) -> list[Row]:
    meta, anomalies = report["metadata"], report["anomalies"]
    rows = []
    for key in META_KEYS:
        if key == "raw":
            continue
        value = (
            location_text(meta[key])
            if key == "location"
            else describe_credentials(meta.get(key))
            if key == "content_credentials"
            else show(meta[key])
        )
        rows.append(Row(key, value, _codes_for(key, anomalies)))
    return rows


def _media_rows(report: dict[str, Any]) -> list[Row]:
    media, anomalies = report["media"], report["anomalies"]
    return [Row(key, show(value), _codes_for(key, anomalies)) for key, value in media.items()]


def _raw_text(raw: dict[str, Any]) -> str:
    text = json.dumps(raw, indent=2, ensure_ascii=False, default=str)
    if len(text) > RAW_TAGS_LIMIT:
        return (
            text[:RAW_TAGS_LIMIT]
            + f"\n… truncated here; report.json holds all {len(text):,} characters"
        )
    return text


def _printable_details(details: dict[str, Any], print_layout: bool) -> dict[str, Any]:
    """Custody details as shown: on paper a list of hundreds of output hashes is summarised
    (report.json and the HTML keep every one; `verify` checks every one)."""
    outputs = details.get("outputs")
    if not print_layout or not isinstance(outputs, dict) or len(outputs) <= PRINT_OUTPUTS_LIMIT:
        return details
    note = f"{len(outputs)} files: every sha256 is in report.json and the HTML report"
    return {**details, "outputs": note}


def _nearest_keyframe(keyframes: Sequence[dict[str, Any]], t: float) -> str | None:
    if not keyframes:
        return None
    return str(min(keyframes, key=lambda k: abs(float(k["time_s"]) - t))["path"])


def _other_keyframes(workspace: Path, sha256: str) -> list[dict[str, Any]]:
    """Keyframes of another clip, read from its own report.json in the same workspace."""
    if not re.fullmatch(r"[0-9a-f]{64}", sha256 or ""):
        return []
    try:
        other = json.loads((workspace / "derived" / sha256 / "report.json").read_text("utf-8"))
        return list(other.get("keyframes") or [])
    except (OSError, ValueError):
        return []


def _match_thumbs(
    report: dict[str, Any], workspace: Path, width: int
) -> list[list[tuple[str | None, str | None]]]:
    """(there, here) thumbnails for every range of every match, so a reader can compare."""
    out = []
    for m in report.get("matches") or []:
        theirs = _other_keyframes(workspace, m.get("sha256", ""))
        pairs = []
        for rng in m.get("ranges") or []:
            there = _nearest_keyframe(theirs, rng["other_start_s"])
            here = _nearest_keyframe(report["keyframes"], rng["this_start_s"])
            pairs.append(
                (
                    thumbnail_uri(workspace, there, width) if there else None,
                    thumbnail_uri(workspace, here, width) if here else None,
                )
            )
        out.append(pairs)
    return out


def build_view(
    report: dict[str, Any], workspace: Path, thumb_width: int, print_layout: bool = False
) -> dict[str, Any]:
    """Everything the template shows that is not a plain lookup in the report."""
    anomalies = report["anomalies"]
    keyframes = [
        {**k, "thumb": thumbnail_uri(workspace, k["path"], thumb_width)}
        for k in report["keyframes"]
    ]
    return {
        "size_text": human_size(report["clip"]["size_bytes"]),
        "location_text": location_text(report["metadata"]["location"]),
        "osm": osm_link(report["metadata"]["location"]),
        "important": [a for a in anomalies if a["severity"] in ("warning", "critical")],
        "metadata_rows": _metadata_rows(report),
        "media_rows": _media_rows(report),
        "raw_text": _raw_text(report["metadata"]["raw"]),
        "keyframes": keyframes,
        "unique_keyframes": sum(1 for k in keyframes if k["duplicate_of"] is None),
        "thumb_width": thumb_width,
        "print_layout": print_layout,
        "custody_details": [
            _printable_details(e["details"], print_layout) for e in report["custody"]
        ],
        "matches": list(report.get("matches") or []),
        "first_seen": first_seen(report.get("matches") or []),
        "match_thumbs": _match_thumbs(report, workspace, thumb_width // 2),
        "signature": report.get("signature"),
        "c2pa_thumb": _signed_thumbnail(report, workspace, thumb_width),
    }


# The custody actions of the step that keeps the signer's thumbnail (steps/credentials.py).
THUMBNAIL_ACTION = "c2pa_thumbnail_extracted"
THUMBNAIL_ACTIONS = (THUMBNAIL_ACTION, "c2pa_thumbnail_failed")
SIGNED_THUMB_QUALITY = 85
# A signer's thumbnail is a preview (~1,000 px wide); one far larger is not decoded to show it.
SIGNED_THUMB_MAX_PIXELS = 25_000_000


@dataclass(frozen=True)
class SignedThumb:
    """What the report shows of the signer's thumbnail: the picture (a data: URI), or a note
    saying why there is none to show (both None: nothing to say)."""

    uri: str | None = None
    note: str | None = None


def _signed_thumbnail(report: dict[str, Any], workspace: Path, width: int) -> SignedThumb:
    """The Content Credentials' own thumbnail, from the derived file triage kept (never from the
    evidence), shrunk to `width`; or why it is not shown (its file is unreadable, reading it
    failed at triage, or the clip was triaged before the thumbnail was kept). Nothing without
    credentials, or when they embed no thumbnail."""
    if not (report["metadata"].get("content_credentials") or {}).get("state"):
        return SignedThumb()
    rel = (report.get("derived") or {}).get("c2pa_thumbnail")
    if rel:
        uri = _picture_uri(workspace, rel, width)
        return SignedThumb(uri, None if uri else f"the kept thumbnail {rel} cannot be shown")
    tried = [e for e in report.get("custody") or [] if e.get("action") in THUMBNAIL_ACTIONS]
    if tried and tried[-1]["action"] == THUMBNAIL_ACTION:
        return SignedThumb()  # looked for at triage: the credentials embed none
    if tried:
        error = (tried[-1].get("details") or {}).get("error")
        return SignedThumb(note=f"not read at triage: {error}")
    return SignedThumb(
        note="not kept: this clip was triaged before the signer's thumbnail was stored at "
        "triage (triage it again with --reprocess to keep it); the report does not open the "
        "evidence file"
    )


def _picture_uri(workspace: Path, rel: str, width: int) -> str | None:
    """A JPEG data: URI of an image of the workspace at most `width` wide and high; None when
    it is missing, unreadable, or larger than `SIGNED_THUMB_MAX_PIXELS`."""
    root = workspace.resolve()
    path = (root / rel).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        return None
    try:
        with Image.open(path) as img:
            if img.width * img.height > SIGNED_THUMB_MAX_PIXELS:
                return None
            img.thumbnail((width, width))
            out = io.BytesIO()
            img.convert("RGB").save(out, "JPEG", quality=SIGNED_THUMB_QUALITY)
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode("ascii")

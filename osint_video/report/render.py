"""Turn report.json (the source of truth) into a self-contained HTML page and a contact sheet.

The HTML is read by desk editors and archived next to the evidence, possibly for years, so it
must work offline and never reach out: CSS is inline, keyframes are inlined as data: URIs, there
is no script, and a Content-Security-Policy forbids fetching anything even if a browser tried.
Every string that came from the file (tags, names, maker notes) is hostile until escaped: Jinja2
autoescaping is on for every template and nothing is marked safe.
"""

from __future__ import annotations

import base64
import functools
import io
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from jsonschema import Draft202012Validator
from PIL import Image, ImageDraw, ImageFont

from ..errors import ReportError
from ..media.credentials import describe, signed_thumbnail

SCHEMA_VERSION = "1.4"  # what new reports are written as
# what still validates (published reports stay valid)
SCHEMA_VERSIONS = ("1.0", "1.1", "1.2", "1.3", "1.4")
RAW_TAGS_LIMIT = 200_000  # characters of raw tags shown inline; report.json keeps them all
THUMB_QUALITY = 80

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


def timecode(seconds: float) -> str:
    """`62.345` -> `"00:01:02.345"` (hours grow past 99 if needed).

    Raises:
        ValueError: a negative, infinite or NaN time.
    """
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"not a time position: {seconds!r}")
    total_ms = round(seconds * 1000)
    hours, rest = divmod(total_ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, ms = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{ms:03d}"


def _human_size(n: int) -> str:
    size = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{n:,} bytes" if unit == "bytes" else f"{size:.1f} {unit} ({n:,} bytes)"
        size /= 1024
    return f"{n:,} bytes"


def _show(value: Any) -> str:
    """Plain text for a table cell; None is an em dash so 'absent' never looks like 'empty'."""
    if value is None:
        return "\u2014"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value)) if value else "\u2014"
    return str(value)


def _location_text(loc: dict[str, Any] | None) -> str:
    if loc is None:
        return "\u2014"
    alt = f", {loc['alt_m']:g} m" if loc.get("alt_m") is not None else ""
    src = f" [{loc['source']}]" if loc.get("source") else ""
    return f"{loc['lat']:.6f}, {loc['lon']:.6f}{alt}{src}"


def osm_link(loc: dict[str, Any] | None) -> str | None:
    """A plain OpenStreetMap link a reader may click; the report never fetches it."""
    if loc is None:
        return None
    lat, lon = float(loc["lat"]), float(loc["lon"])
    return (
        f"https://www.openstreetmap.org/?mlat={lat:.6f}&mlon={lon:.6f}#map=16/{lat:.6f}/{lon:.6f}"
    )


def _codes_for(field: str, anomalies: Sequence[dict[str, Any]]) -> tuple[str, ...]:
    keys = FIELD_KEYWORDS.get(field, ())
    return tuple(a["code"] for a in anomalies if any(k in a["code"].lower() for k in keys))


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


def _metadata_rows(report: dict[str, Any]) -> list[Row]:
    meta, anomalies = report["metadata"], report["anomalies"]
    rows = []
    for key in META_KEYS:
        if key == "raw":
            continue
        value = (
            _location_text(meta[key])
            if key == "location"
            else describe(meta.get(key))
            if key == "content_credentials"
            else _show(meta[key])
        )
        rows.append(Row(key, value, _codes_for(key, anomalies)))
    return rows


def _media_rows(report: dict[str, Any]) -> list[Row]:
    media, anomalies = report["media"], report["anomalies"]
    return [Row(key, _show(value), _codes_for(key, anomalies)) for key, value in media.items()]


def _thumbnail_uri(workspace: Path, rel_path: str, width: int) -> str | None:
    """A JPEG data: URI of a downscaled keyframe, or None when the file is missing or unreadable
    (the report must still render: a missing derived file is itself worth seeing)."""
    root = workspace.resolve()
    path = (root / rel_path).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        return None
    try:
        img = _thumbnail(path, width)
        buf = io.BytesIO()
        img.convert("RGB").save(buf, "JPEG", quality=THUMB_QUALITY)
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _raw_text(raw: dict[str, Any]) -> str:
    text = json.dumps(raw, indent=2, ensure_ascii=False, default=str)
    if len(text) > RAW_TAGS_LIMIT:
        return (
            text[:RAW_TAGS_LIMIT]
            + f"\n… truncated here; report.json holds all {len(text):,} characters"
        )
    return text


PRINT_OUTPUTS_LIMIT = 12  # a printed custody row lists this many output files at most


def _printable_details(details: dict[str, Any], print_layout: bool) -> dict[str, Any]:
    """Custody details as shown: on paper a list of hundreds of output hashes is summarised
    (report.json and the HTML keep every one; `verify` checks every one)."""
    outputs = details.get("outputs")
    if not print_layout or not isinstance(outputs, dict) or len(outputs) <= PRINT_OUTPUTS_LIMIT:
        return details
    note = f"{len(outputs)} files: every sha256 is in report.json and the HTML report"
    return {**details, "outputs": note}


def _chunks(text: str, size: int = 64) -> list[str]:
    """Long text in pieces (joined by <wbr> in templates): same text on screen, and WeasyPrint
    lays out many short text boxes in linear time where one long box costs quadratic time."""
    return [text[i : i + size] for i in range(0, len(text), size)]


TEMPLATE_CACHE = "cache/templates"  # inside the workspace: nothing is written under ~/.cache


def template_cache_dir(workspace: Path) -> Path:
    """Where a workspace keeps its compiled templates (WORKSPACE/cache/templates)."""
    return workspace / TEMPLATE_CACHE


@functools.cache
def environment(cache_dir: Path | None = None) -> jinja2.Environment:
    """The Jinja2 environment; with `cache_dir`, compiled templates are kept there: compiling
    the report's templates costs ~0.1 s in every process that writes a report (each `triage`).
    Without it they are compiled once per process and never written anywhere."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("osint_video.report", "templates"),
        autoescape=True,  # every template, whatever its extension: file metadata is hostile
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        bytecode_cache=_bytecode_cache(cache_dir),
    )
    env.filters["timecode"] = timecode
    env.filters["show"] = _show
    env.filters["credentials"] = describe
    env.filters["json"] = lambda v: json.dumps(v, ensure_ascii=False, default=str, sort_keys=True)
    env.filters["chunks"] = _chunks
    return env


def _bytecode_cache(folder: Path | None) -> jinja2.BytecodeCache | None:
    if folder is None:
        return None
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None  # a read-only workspace compiles in memory
    return jinja2.FileSystemBytecodeCache(str(folder))


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
                    _thumbnail_uri(workspace, there, width) if there else None,
                    _thumbnail_uri(workspace, here, width) if here else None,
                )
            )
        out.append(pairs)
    return out


def first_seen(matches: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The matched clip acquired first: where the footage was seen before anywhere else (the
    one fact a desk reads first). None without matches or acquisition times."""
    dated = [m for m in matches if m.get("earliest_acquired_at")]
    if not dated:
        return None
    return min(dated, key=lambda m: (m["earliest_acquired_at"], str(m["clip_id"])))


def seen_before_line(report: dict[str, Any]) -> str | None:
    """One line for the terminal: where this footage was first seen and how much earlier than
    this clip's first acquisition, e.g. "seen before: clip 1 (a.mp4), acquired 3 days earlier
    from https://t.me/x/1 (picture and sound)" (and whether this clip is it mirrored); when
    only the sound matched anything, "shares sound with: clip 2 ..."; None without matches."""
    matches = report.get("matches") or []
    footage = [m for m in matches if m.get("modality", "picture") != "sound"]
    first = first_seen(footage or matches)
    if first is None:
        return None
    name = f" ({first['filename']})" if first.get("filename") else ""
    when = f"acquired {first['earliest_acquired_at']}"
    ours = [a.get("at") for a in report.get("acquisitions") or [] if a.get("at")]
    try:
        gap = (_utc(min(ours)) - _utc(first["earliest_acquired_at"])).total_seconds()
        when = f"acquired {_duration_text(gap)} earlier" if gap >= 0 else when
    except ValueError:
        pass
    where = f" from {first['source_url']}" if first.get("source_url") else ""
    others = len(matches) - 1
    what = "footage or sound" if any(m.get("modality") == "sound" for m in matches) else "footage"
    more = f"; {others} more earlier clip(s) share {what}" if others > 0 else ""
    flipped = "; this clip is it mirrored (flipped left to right)" if first.get("mirrored") else ""
    head, senses = SENSES_LINE.get(first.get("modality", ""), ("seen before", ""))
    return f"{head}: clip {first['clip_id']}{name}, {when}{where}{senses}{flipped}{more}"


# How the terminal line names what agrees (absent `modality`: a report before sound matching).
SENSES_LINE = {
    "picture": ("seen before", " (picture)"),
    "both": ("seen before", " (picture and sound)"),
    "sound": ("shares sound with", " (sound only: not the same footage)"),
}


def _utc(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def _duration_text(seconds: float) -> str:
    """3 days, 5 h, 12 min, 4 s: the largest unit that is at least 1."""
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            n = seconds / size
            return f"{n:.0f} {unit}" if n >= 10 or unit != "days" else f"{n:.1f} {unit}"
    return f"{seconds:.0f} s"


def _view(
    report: dict[str, Any], workspace: Path, thumb_width: int, print_layout: bool = False
) -> dict[str, Any]:
    """Everything the template shows that is not a plain lookup in the report."""
    anomalies = report["anomalies"]
    keyframes = [
        {**k, "thumb": _thumbnail_uri(workspace, k["path"], thumb_width)}
        for k in report["keyframes"]
    ]
    return {
        "size_text": _human_size(report["clip"]["size_bytes"]),
        "location_text": _location_text(report["metadata"]["location"]),
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
        "c2pa_thumb": _signed_thumbnail_uri(report, workspace, thumb_width),
    }


def _signed_thumbnail_uri(report: dict[str, Any], workspace: Path, width: int) -> str | None:
    """The Content Credentials' own thumbnail (read from the evidence original), shrunk to
    `width` as a data URI; None without credentials or thumbnail."""
    if not (report["metadata"].get("content_credentials") or {}).get("state"):
        return None
    from ..store.evidence import EvidenceStore

    original = EvidenceStore(workspace).path_for(report["clip"]["sha256"])
    data = signed_thumbnail(original) if original.is_file() else None
    if data is None:
        return None
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.thumbnail((width, width))
            out = io.BytesIO()
            img.convert("RGB").save(out, "JPEG", quality=85)
    except (OSError, ValueError):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode("ascii")


def render_html(
    report: dict[str, Any],
    workspace: Path,
    *,
    thumb_width: int = 320,
    print_layout: bool = False,
    cache_dir: Path | None = None,
) -> str:
    """The self-contained HTML report of one clip.

    Args:
        report: a report.json dict; validated first.
        workspace: the folder that keyframe paths in the report are relative to.
        thumb_width: width in pixels of the inlined keyframe thumbnails.
        print_layout: lay keyframes out for a PDF (a table rather than a CSS grid).
        cache_dir: keep compiled templates here (`template_cache_dir` of the workspace).

    Returns:
        One HTML document (UTF-8 text) with no script and nothing fetched from anywhere.

    Raises:
        ReportError: the report does not match the schema, or the template failed.
    """
    validate_report(report)
    try:
        template = environment(cache_dir).get_template("report.html.j2")
        view = _view(report, workspace, thumb_width, print_layout)
        return template.render(r=report, report=report, v=view)
    except jinja2.TemplateError as exc:
        raise ReportError(f"could not render the HTML report: {exc}") from exc


def _label_font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _thumbnail(path: Path, width: int) -> Image.Image:
    """The keyframe shrunk to `width`: the triage step already wrote it as `thumbs/<name>` next
    to the keyframe, made by this same `thumbnail` call (identical pixels); reading that small
    file instead of the full PNG saves decoding a full-resolution PNG per keyframe. Narrower
    pictures (the matches' side-by-side pairs) are shrunk from that file too: they are only
    shown, and decoding a 1080p PNG costs ~10 ms each."""
    cached = path.parent / "thumbs" / path.name
    if cached.is_file():
        with Image.open(cached) as small:
            if small.width >= width:
                small.load()
                out = small.copy() if small.mode == "RGB" else small.convert("RGB")
                if small.width > width:
                    out.thumbnail((width, width * 4), Image.Resampling.LANCZOS)
                return out
    with Image.open(path) as img:
        img.thumbnail((width, width * 4), Image.Resampling.LANCZOS)
        return img.copy() if img.mode == "RGB" else img.convert("RGB")


def _load_tile(path: Path, width: int) -> Image.Image:
    try:
        return _thumbnail(path, width).convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ReportError(f"cannot read keyframe {path}: {exc}") from exc


def make_contact_sheet(
    images: Sequence[tuple[Path, str]], out: Path, columns: int, thumb_width: int
) -> Path:
    """One image with every keyframe as a tile, each labelled (typically with its timecode).

    Args:
        images: (keyframe image path, label text) in display order.
        out: where to write it: JPEG for a .jpg/.jpeg name, else PNG; written to a temporary
            name first, then renamed, so a crash never leaves half a sheet.
        columns: tiles per row.
        thumb_width: tile width in pixels (height follows the aspect ratio).

    Returns:
        `out`.

    Raises:
        ReportError: no images, an unreadable image, or the sheet could not be written.
        ValueError: columns < 1 or thumb_width < 16.
    """
    if columns < 1 or thumb_width < 16:
        raise ValueError(f"bad contact sheet geometry: {columns} columns of {thumb_width} px")
    if not images:
        raise ReportError("no keyframes to put on a contact sheet")
    tiles = [(_load_tile(Path(p), thumb_width), label) for p, label in images]
    font_px = max(12, thumb_width // 16)
    pad, label_h = 8, font_px + 10
    cell_h = max(t.height for t, _ in tiles) + label_h
    rows = -(-len(tiles) // columns)
    sheet = Image.new(
        "RGB", (pad + columns * (thumb_width + pad), pad + rows * (cell_h + pad)), (32, 32, 32)
    )
    draw, font = ImageDraw.Draw(sheet), _label_font(font_px)
    for i, (tile, label) in enumerate(tiles):
        x = pad + (i % columns) * (thumb_width + pad)
        y = pad + (i // columns) * (cell_h + pad)
        sheet.paste(tile, (x + (thumb_width - tile.width) // 2, y))
        draw.text((x + 2, y + cell_h - label_h + 4), label, fill=(240, 240, 240), font=font)
    return _save_atomically(sheet, out)


def _save_atomically(img: Image.Image, out: Path) -> Path:
    tmp = out.with_name(f".{out.name}.partial")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.suffix.lower() in (".jpg", ".jpeg"):
            img.save(tmp, "JPEG", quality=88)
        else:
            img.save(tmp, "PNG")
        tmp.replace(out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ReportError(f"cannot write contact sheet {out}: {exc}") from exc
    return out

"""Build the provenance record (report.json) of a clip from the case store.

report.json is the source of truth; the HTML report and the contact sheet are rendered from it.
Keys are stable: later issues (Label Studio, matches, signatures) and external checks read them.

Nothing published names a directory of the desk's machines: paths are workspace-relative, and
an acquisition's source path becomes `source_name` (the file name) plus `source_path_sha256`
(SHA-256 of the full path as UTF-8, or of its bytes when it is not UTF-8), so a desk that kept
the path can still prove it; a symbolic link's target likewise (`link_target_name`,
`link_target_path_sha256`). Names and text that were not UTF-8 are readable (`\\xNN`), with
their exact bytes in `original_bytes` (osint_video/lossless.py). When the
desk has a key (`keys init`), report.json is signed: the public facts go in `signature`, the
detached signature in report.json.sig beside it.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from sqlalchemy import select

from .. import lossless
from ..config import CustodyConfig
from ..custody.chain import public_path
from ..custody.signing import load_private, sign_report, signature_block
from ..custody.timestamp import stamp_outcome, token_path
from ..models import AcquisitionRecord, ClipRecord, KeyframeRecord
from ..store.cases import CaseStore, iso, utcnow
from ..store.evidence import sha256_file
from ..store.schema import MatchRow
from ..version import __version__
from ..workspace import Workspace
from .validation import META_KEYS, SCHEMA_VERSION

MEDIA_KEYS = (
    "duration_s",
    "width",
    "height",
    "fps",
    "fps_nominal",
    "codec",
    "rotation_deg",
    "frame_count",
    "variable_frame_rate",
)


def _jsonable(value: Any) -> Any:
    """A record's values as plain JSON (tuples as lists, dataclasses as objects)."""
    return json.loads(json.dumps(value, default=str))


def _media(clip: ClipRecord) -> dict[str, Any]:
    media = _jsonable(dataclasses.asdict(clip.media)) if clip.media else {}
    out = {k: media.get(k) for k in MEDIA_KEYS}
    out["rotation_deg"] = out["rotation_deg"] or 0
    out["frames_decoded"] = clip.decode.frames_decoded if clip.decode else None
    return out


def _metadata(clip: ClipRecord) -> dict[str, Any]:
    meta = _jsonable(dataclasses.asdict(clip.metadata)) if clip.metadata else {}
    out = {k: meta.get(k) for k in META_KEYS}
    out["handler_names"] = list(out["handler_names"] or [])
    out["raw"] = out["raw"] or {}
    return out


def _keyframe(k: KeyframeRecord) -> dict[str, Any]:
    return {
        "id": k.index,
        "shot": k.shot,
        "frame": k.frame,
        "time_s": k.time_s,
        "hashes": {"phash": k.phash, "dhash": k.dhash},
        "path": k.path,
        "duplicate_of": k.duplicate_of,
        "informative": k.informative,
        "sharpness": k.sharpness,
    }


def _acquisition(a: AcquisitionRecord) -> dict[str, Any]:
    """One acquisition as published: names readable, their bytes in `original_bytes` when
    they were not UTF-8 (`lossless`), a symbolic link's target beside its own name."""
    kept = a.original_bytes or {}

    def original(key: str) -> str | None:
        value = getattr(a, key)
        return None if value is None else lossless.restore(value, kept.get(key))

    src = original("source_path")
    pub = public_path(src) if src else None
    fields, originals = lossless.split(
        {
            "operator": original("operator"),
            "case": original("case"),
            "source_name": pub["name"] if pub else None,
            "source_url": original("source_url"),
            "note": original("note"),
        }
    )
    out: dict[str, Any] = {
        "at": iso(a.at),
        **fields,
        "source_path_sha256": pub["path_sha256"] if pub else None,
    }
    target = original("link_target")
    if target:
        link = public_path(target)
        name, name_bytes = lossless.split({"link_target_name": link["name"]})
        out.update(name, link_target_path_sha256=link["path_sha256"])
        originals.update(name_bytes)
    if originals:
        out["original_bytes"] = originals
    return out


SOURCE_KEYS = ("url", "platform", "uploader", "uploaded_at", "title", "platform_id")


def _source(clip: ClipRecord) -> dict[str, Any]:
    """Where a URL intake found the clip (yt-dlp info JSON); every field null for a local file."""
    source = dataclasses.asdict(clip.source) if clip.source else {}
    return {k: source.get(k) for k in SOURCE_KEYS}


def annotation_block(store: CaseStore, clip: ClipRecord) -> dict[str, Any]:
    """`annotations` (Label Studio, per keyframe and per clip) and `verdict` of a clip."""
    from ..annotate.validate import values
    from ..store import annotations as labels

    by_frame = {k.frame: k for k in clip.keyframes}
    out = []
    for a in labels.annotations_of(store, clip.id):
        k = by_frame.get(a.frame) if a.frame is not None else None
        out.append(
            {
                "id": a.ls_id,
                "level": a.kind,
                "keyframe_id": k.index if k else None,
                "frame": a.frame,
                "time_s": k.time_s if k else None,
                "project_id": a.ls_project_id,
                "task_id": a.task_id,
                "annotator": a.annotator,
                "created_at": a.created_at,
                "updated_at": a.updated_at,
                "lead_time": a.lead_time,
                "valid": a.valid,
                "problems": list(a.problems),
                "values": values(a.result),
                "result": a.result,
            }
        )
    v = labels.verdict_of(store, clip.id)
    verdict = None
    if v is not None:
        verdict = {
            "value": v.value,
            "confidence": v.confidence,
            "annotators": list(v.annotators),
            "agreement": v.agreement,
            "decision": v.decision,
            "decided_at": iso(v.decided_at),
        }
    return {"annotations": out, "verdict": verdict}


def build_report(
    clip: ClipRecord,
    signature: dict[str, str] | None = None,
    labels: dict[str, Any] | None = None,
    later: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The report dict of a clip's read model (`CaseStore.record`).

    Args:
        clip: the clip.
        signature: the `signature` block (public key facts) when the report will be signed.
        labels: `annotation_block` of the clip (Label Studio annotations and verdict).
        later: `seen_later` of the clip (reposts found by later clips' matching).
    """
    labels = labels or {"annotations": [], "verdict": None}
    custody = [
        {
            "seq": e.seq,
            "at": e.at,
            "actor": e.actor,
            "action": e.action,
            "details": e.details,
            "prev_hash": e.prev_hash,
            "hash": e.hash,
        }
        for e in clip.custody
    ]
    return {
        "schema_version": SCHEMA_VERSION,
        "generated_at": iso(utcnow()),
        "tool": {"name": "osint-video", "version": __version__},
        "clip": {
            "id": clip.id,
            "sha256": clip.sha256,
            "size_bytes": clip.size_bytes,
            "filename": clip.filename,
            "kind": clip.kind,
            "evidence_path": clip.evidence_path,
            **({"original_bytes": dict(clip.original_bytes)} if clip.original_bytes else {}),
        },
        "status": clip.status,
        "error": clip.error,
        "acquisitions": [_acquisition(a) for a in clip.acquisitions],
        "source": _source(clip),
        "media": _media(clip),
        "metadata": _metadata(clip),
        "anomalies": [dataclasses.asdict(a) for a in clip.anomalies],
        "shots": [dataclasses.asdict(s) for s in clip.shots],
        "keyframes": [_keyframe(k) for k in clip.keyframes],
        "derived": {
            "stripped_copy": clip.derived.stripped_copy,
            "contact_sheet": clip.derived.contact_sheet,
            "html_report": clip.derived.html_report,
            "c2pa_thumbnail": clip.derived.c2pa_thumbnail,
        },
        "duplicate_of_clip": clip.duplicate_of,
        "matches": [dict(m.entry) for m in clip.matches],
        "seen_later": list(later or []),
        "onscreen_text": _jsonable([dataclasses.asdict(t) for t in clip.onscreen_text or ()]),
        "sound": _jsonable(dataclasses.asdict(clip.sound)) if clip.sound else None,
        "custody": custody,
        "custody_head": custody_head(custody),
        "signature": signature,
        "annotations": labels["annotations"],
        "verdict": labels["verdict"],
    }


def custody_head(custody: list[dict[str, Any]]) -> dict[str, Any] | None:
    """{seq, hash, at} of the last custody entry: the head this report commits to (signed with
    it), so a published copy shows how far the log reached when it was written."""
    last = custody[-1] if custody else None
    if last is None or not last["hash"]:
        return None
    return {"seq": last["seq"], "hash": last["hash"], "at": last["at"]}


def write_atomic(path: Path, data: bytes) -> None:
    """Write `path` whole or not at all (a temporary name beside it, then a rename)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def seen_later(cases: CaseStore, clip_id: int) -> list[dict[str, Any]]:
    """Later clips whose matching found `clip_id` (reposts), oldest first, ranges swapped into
    this clip's terms. Read from their stored matches: nothing is decoded or searched again."""
    with cases.session() as ses:
        rows = ses.scalars(
            select(MatchRow).where(MatchRow.other_clip_id == clip_id).order_by(MatchRow.clip_id)
        ).all()
        found = [(m.clip_id, float(m.score), dict(m.details)) for m in rows]
    out = []
    for later_id, score, details in found:
        facts = cases.clip_facts(later_id)
        out.append(
            {
                "clip_id": later_id,
                "sha256": facts["sha256"],
                "filename": facts["filename"],
                "case": facts["case"],
                "source_url": facts["source_url"],
                "first_acquired_at": facts["earliest_acquired_at"],
                "score": score,
                "ranges": [_swapped(r) for r in details.get("ranges") or []],
                "duplicate": facts["duplicate_of"] == clip_id,
                "mirrored": bool(details.get("mirrored", False)),
                "modality": details.get("modality", "picture"),
            }
        )
    return sorted(out, key=lambda e: (e["first_acquired_at"] or "", e["clip_id"]))


def _swapped(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "this_start_s": r["other_start_s"],
        "this_end_s": r["other_end_s"],
        "other_start_s": r["this_start_s"],
        "other_end_s": r["this_end_s"],
    }


def write_clip_reports(
    ws: Workspace, clip_id: int
) -> tuple[str, dict[str, str], dict[str, Any] | None]:
    """Render every report file of a clip into its derived folder.

    Returns:
        report.json's workspace-relative path, {relpath: sha256} of every file written, and
        the outcome of the RFC 3161 timestamp request (None when no TSA is configured).
    """
    from .render import render_html, template_cache_dir
    from .sheet import make_contact_sheet
    from .validation import validate_report

    clip = ws.cases.record(clip_id)
    out_dir = ws.derived_dir(clip.sha256)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "contact_sheet": out_dir / "contact_sheet.jpg",
        "html_report": out_dir / "report.html",
        "report_json": out_dir / "report.json",
    }
    derived = {
        "contact_sheet": None,
        "html_report": ws.rel(paths["html_report"]),
        "report_json": ws.rel(paths["report_json"]),
    }
    unique = clip.unique_keyframes
    if unique:
        tiles = [(ws.home / k.path, _timecode(k.time_s)) for k in unique]
        make_contact_sheet(
            tiles,
            paths["contact_sheet"],
            ws.config.report.contact_sheet_columns,
            ws.config.report.thumbnail_width,
        )
        derived["contact_sheet"] = ws.rel(paths["contact_sheet"])
    ws.cases.update_derived(clip_id, derived)
    key = load_private(keys_dir(ws))
    clip = ws.cases.record(clip_id)
    report = build_report(
        clip,
        signature_block(key) if key else None,
        annotation_block(ws.cases, clip),
        seen_later(ws.cases, clip.id),
    )
    validate_report(report)
    stamp = write_signed_json(report, paths["report_json"], key, ws.config.custody)
    html = render_html(report, ws.home, cache_dir=template_cache_dir(ws.home))
    write_atomic(paths["html_report"], html.encode("utf-8"))
    sig = paths["report_json"].with_name("report.json.sig")
    files = [*paths.values(), sig, token_path(sig)]
    written = {ws.rel(p): sha256_file(p) for p in files if p.exists()}
    return ws.rel(paths["report_json"]), written, stamp


def keys_dir(ws: Workspace) -> Path:
    """WORKSPACE/keys: the desk's signing key pair."""
    return ws.home / "keys"


def write_signed_json(
    report: dict[str, Any], path: Path, key: Any | None, custody: CustodyConfig | None = None
) -> dict[str, Any] | None:
    """Write report JSON and, with a key, its detached signature and (when `[custody] tsa_url`
    is set) an RFC 3161 timestamp of that signature. A stale signature or token is removed: an
    old token would vouch for a signature that is no longer there.

    Returns:
        The timestamp outcome to record in custody ({tsa_url, file, time, ...} or {tsa_url,
        error}); None when no timestamp was asked for.
    """
    sig = path.with_name(path.name + ".sig")
    write_atomic(path, json.dumps(report, indent=2, ensure_ascii=False).encode())
    token_path(sig).unlink(missing_ok=True)
    if key is None:
        sig.unlink(missing_ok=True)
        return None
    write_atomic(sig, sign_report(report, key).encode("ascii"))
    if custody is None or not custody.tsa_url:
        return None
    return stamp_outcome(sig, custody)


def _timecode(seconds: float) -> str:
    from .text import timecode

    return timecode(seconds)

"""The pipeline's steps as small functions, each with the custody event that documents it.

`pipeline.py` reads top to bottom; the work and the record-keeping of each step live here so
that the order of steps stays visible in one place.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from . import anomalies as anomaly_rules
from .config import Config
from .errors import ExtractionError, InputError, OsintVideoError
from .hashing.dedup import group_near_duplicates
from .hashing.hashes import FrameHash, compute_hashes, texture_std
from .keyframes.extract import extract_keyframes
from .media import ffmpeg
from .media.decode import SampleTap
from .media.images import load_upright, require_pixels_within
from .media.probe import probe_file
from .media.sniff import sniff_kind
from .media.strip import strip_metadata, stripped_suffix
from .models import Anomaly, DecodeStats, KeyframeImage, MediaKind, ProbeResult, Shot
from .store.cases import NewEvent, utcnow
from .store.evidence import StoredFile, sha256_file
from .version import package_versions
from .workspace import Workspace

# -- 1-3: sniff, ingest, probe ---------------------------------------------------------------


def sniff(path: Path) -> MediaKind:
    """Refuse anything that is not a readable, non-empty video or image."""
    if not path.is_file():
        raise InputError("not a regular file" if path.exists() else "no such file")
    if path.stat().st_size == 0:
        raise InputError("empty file (0 bytes)")
    kind = sniff_kind(path)
    if kind is None:
        raise InputError("not a video or image file (content not recognised)")
    return kind


def source_of(path: Path) -> tuple[str, str | None]:
    """The path as given (absolute, a symbolic link's own name), and where it leads when it is
    a symbolic link (fully resolved), else None. A link is recorded as a link: the clip's
    file name and the acquisition's source are the name the user gave, the target beside it."""
    given = os.path.abspath(path)
    return given, os.path.realpath(given) if os.path.islink(given) else None


def probe_stored(ws: Workspace, stored: StoredFile, kind: MediaKind) -> ProbeResult:
    """Probe the evidentiary copy (never the source, which may change meanwhile)."""
    return probe_file(ws.evidence.path_for(stored.sha256), kind, ws.config.probe)


def undo_store(ws: Workspace, stored: StoredFile) -> None:
    """After a failed intake: remove the evidence file it stored, so none exists without its
    clip. Called under the original's ingest lock. Never raises (the intake's own error is
    what the user must see).

    Only a file this intake stored newly is removed, and only when no clip owns those bytes
    (one whose evidence had gone missing and was stored again here keeps it). When the case
    store cannot say (the failure was the database's, and a commit may have landed), the file
    is kept: a file without a clip is reported by `verify --all`; a clip without its original
    could not be repaired.
    """
    if not stored.newly_stored:
        return
    try:
        owner = ws.cases.clip_with_sha(stored.sha256)
    except Exception:  # noqa: BLE001 - cannot tell: keep the file
        return
    if owner is None:
        with suppress(OSError):
            ws.evidence.remove(stored.sha256)


def tool_versions() -> dict[str, str]:
    try:
        ff = ffmpeg.ffmpeg_version()
    except OsintVideoError:
        ff = "missing"
    return {"ffmpeg": ff, **package_versions()}


def acquired_event(req: Any, stored: StoredFile) -> NewEvent:
    given, target = source_of(req.path)
    link = {"link_target": target} if target is not None else {}
    return NewEvent(
        "acquired",
        {
            "source_path": given,
            **link,
            "source_url": req.source_url,
            "case": req.case,
            "note": req.note,
            "outputs": {"evidence": stored.relpath, "sha256": stored.sha256},
            "size_bytes": stored.size_bytes,
            "newly_stored": stored.newly_stored,
            "tools": tool_versions(),
        },
    )


def probed_event(sha256: str, probe: ProbeResult) -> NewEvent:
    return NewEvent(
        "probed", {"input_sha256": sha256, "kind": probe.media.kind, "tools": tool_versions()}
    )


# -- 5: strip ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stripped:
    path: Path
    sha256: str


def strip(evidence: Path, work: Path, kind: MediaKind, probe: ProbeResult, cfg: Config) -> Stripped:
    # a still whose header the bounded probe could not read is not opened here, unbounded
    require_pixels_within(probe.media.width, probe.media.height, None, still=kind == "image")
    suffix = stripped_suffix(evidence, kind, timeout=cfg.probe.timeout_s)
    dst = work / f"stripped{suffix}"
    strip_metadata(
        evidence, dst, kind, timeout=cfg.probe.timeout_s * 5, max_pixels=cfg.probe.max_pixels
    )
    return Stripped(dst, sha256_file(dst))


def stripped_event(sha256: str, s: Stripped) -> NewEvent:
    return NewEvent(
        "stripped",
        {
            "input_sha256": sha256,
            "outputs": {s.path.name: s.sha256},
            "parameters": {"reencode": False},
            "tools": tool_versions(),
        },
    )


HASH_ALGORITHMS = ("phash", "dhash")
HASH_BATCH = 32

# -- 6: keyframes -----------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyframeFacts:
    """What is learnt from a keyframe's in-memory picture while its PNG is written, so no step
    reads the PNG back: hashes (equal to hashing the PNG: it is lossless), texture, thumbnail."""

    hashes: dict[str, FrameHash]
    texture: float
    thumbnail: bytes  # PNG, `report.thumbnail_width` wide, made exactly as the report would


@dataclass(frozen=True)
class Frames:
    """Keyframes of a clip (or the still itself) written into the work folder."""

    shots: tuple[Shot, ...]
    keyframes: tuple[KeyframeImage, ...]
    decode: DecodeStats | None
    decoded_size: tuple[int, int] | None
    method: str
    params: dict[str, Any]
    # per keyframe, in order; None where unknown (then the PNG is read)
    sha256: tuple[str | None, ...] = ()
    facts: tuple[KeyframeFacts | None, ...] = ()


THUMBS_DIR = "thumbs"  # next to the keyframes; the report's contact sheet and HTML reuse them


def keyframes(
    evidence: Path,
    kind: MediaKind,
    probe: ProbeResult,
    work: Path,
    cfg: Config,
    progress: Any,
    tap: SampleTap | None = None,
) -> Frames:
    """Shots and keyframe PNGs (or the still itself); `tap` samples frames for matching from
    the same decode (see `media.decode.SampleTap`)."""
    out = work / "keyframes"
    out.mkdir(parents=True, exist_ok=True)
    m = probe.media
    require_pixels_within(m.width, m.height, cfg.probe.max_pixels, still=kind == "image")
    if kind == "image":
        img = load_upright(evidence, cfg.probe.max_pixels)
        dst = out / "kf_0000_f000000.png"
        img.save(dst, format="PNG")
        kf = KeyframeImage(index=0, shot=0, frame=0, time_s=0.0, path=str(dst))
        return Frames((), (kf,), None, img.size, "still", {})
    width = cfg.report.thumbnail_width
    result = extract_keyframes(
        evidence, probe.media, out, cfg.keyframes, progress, lambda img: _facts(img, width), tap
    )
    if not result.keyframes:
        raise ExtractionError("no keyframe could be extracted")
    facts = tuple(result.extras.get(k.path) for k in result.keyframes)
    _write_thumbnails(out / THUMBS_DIR, result.keyframes, facts)
    return Frames(
        tuple(result.shots),
        tuple(result.keyframes),
        result.decode,
        _png_size(Path(result.keyframes[0].path)),
        result.method,
        dict(result.params),
        tuple(result.sha256.get(k.path) for k in result.keyframes),
        facts,
    )


def _facts(img: Any, thumb_width: int) -> KeyframeFacts:
    """Runs in a keyframe writer thread (PIL releases the GIL while resizing)."""
    from PIL import Image

    thumb = img.copy()
    thumb.thumbnail((thumb_width, thumb_width * 4), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    thumb.save(buf, format="PNG", compress_level=1)
    hashes = compute_hashes([img], HASH_ALGORITHMS)[0]
    return KeyframeFacts(hashes, texture_std(img), buf.getvalue())


def _write_thumbnails(
    folder: Path, kfs: tuple[KeyframeImage, ...], facts: tuple[KeyframeFacts | None, ...]
) -> None:
    folder.mkdir(exist_ok=True)
    for kf, fact in zip(kfs, facts, strict=True):
        if fact is not None:
            (folder / Path(kf.path).name).write_bytes(fact.thumbnail)


def _png_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as img:
        return img.size


def keyframes_event(sha256: str, f: Frames) -> NewEvent:
    known = f.sha256 or (None,) * len(f.keyframes)
    outputs = {
        Path(k.path).name: digest or sha256_file(Path(k.path))
        for k, digest in zip(f.keyframes, known, strict=True)
    }
    thumbs = Path(f.keyframes[0].path).parent / THUMBS_DIR if f.keyframes else None
    details: dict[str, Any] = {
        "input_sha256": sha256,
        "method": f.method,
        "parameters": f.params,
        "shots": len(f.shots),
        "outputs": outputs,
        "tools": tool_versions(),
    }
    if thumbs is not None and thumbs.is_dir():
        details["thumbnails"] = {
            f"{THUMBS_DIR}/{p.name}": sha256_file(p) for p in sorted(thumbs.glob("*.png"))
        }
    return NewEvent("keyframes_extracted", details)


# -- 7: hashes and dedup ----------------------------------------------------------------------


@dataclass(frozen=True)
class Hashed:
    hashes: list[dict[str, FrameHash]]
    informative: list[bool]
    duplicate_of: list[int | None]


def hash_keyframes(f: Frames, cfg: Config) -> Hashed:
    """Hash keyframes and group near-duplicates.

    The hashes computed from each keyframe's picture while its PNG was written are used when
    present (bit-identical to hashing the PNG, which is lossless); otherwise the PNGs are read
    in batches (bounded memory, batched DCT).
    """
    if f.facts and all(x is not None for x in f.facts):
        hashes = [x.hashes for x in f.facts if x is not None]
        informative = [x.texture >= cfg.hashing.min_texture_std for x in f.facts if x is not None]
    else:
        hashes, informative = _hash_pngs(f, cfg)
    algo = cfg.hashing.dedup_algorithm
    groups = group_near_duplicates(
        [h[algo] for h in hashes], cfg.hashing.dedup_max_distance, informative
    )
    return Hashed(hashes, informative, groups)


def _hash_pngs(f: Frames, cfg: Config) -> tuple[list[dict[str, FrameHash]], list[bool]]:
    from PIL import Image

    hashes: list[dict[str, FrameHash]] = []
    informative: list[bool] = []
    for start in range(0, len(f.keyframes), HASH_BATCH):
        images = []
        for kf in f.keyframes[start : start + HASH_BATCH]:
            with Image.open(kf.path) as img:
                images.append(img.convert("RGB"))
        hashes.extend(compute_hashes(images, HASH_ALGORITHMS))
        informative.extend(texture_std(img) >= cfg.hashing.min_texture_std for img in images)
    return hashes, informative


def hashed_event(h: Hashed, cfg: Config) -> NewEvent:
    return NewEvent(
        "hashed",
        {
            "parameters": {
                "algorithms": list(HASH_ALGORITHMS),
                "dedup_algorithm": cfg.hashing.dedup_algorithm,
                "dedup_max_distance": cfg.hashing.dedup_max_distance,
            },
            "keyframes": len(h.hashes),
            "duplicates": sum(1 for d in h.duplicate_of if d is not None),
            "tools": tool_versions(),
        },
    )


def rows(f: Frames, h: Hashed, final_dir: Path, ws: Workspace) -> tuple[list[dict], list[dict]]:
    """Database rows; keyframe paths point where the work folder will be published."""
    shots = [dataclasses.asdict(s) for s in f.shots]
    kfs = []
    for i, kf in enumerate(f.keyframes):
        hashes = h.hashes[i]
        rel = (final_dir / "keyframes" / Path(kf.path).name).relative_to(ws.home).as_posix()
        dup = h.duplicate_of[i]
        kfs.append(
            {
                "index": kf.index,
                "shot": kf.shot,
                "frame": kf.frame,
                "time_s": kf.time_s,
                "path": rel,
                "phash": str(hashes["phash"]),
                "dhash": str(hashes["dhash"]),
                "duplicate_of": f.keyframes[dup].index if dup is not None else None,
                "informative": h.informative[i],
                "sharpness": kf.sharpness,
            }
        )
    return shots, kfs


# -- 8: anomalies, fields ---------------------------------------------------------------------


def anomalies(
    probe: ProbeResult,
    decode: DecodeStats | None,
    acquired_at: datetime,
    decoded_size: tuple[int, int] | None,
    cfg: Config,
) -> list[Anomaly]:
    return anomaly_rules.detect_anomalies(
        probe,
        decode=decode,
        acquired_at=acquired_at,
        now=utcnow(),
        cfg=cfg.probe,
        decoded_size=decoded_size,
    )


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def clip_fields(
    probe: ProbeResult,
    decode: DecodeStats | None,
    found: list[Anomaly],
    stripped: Stripped | None,
    final_dir: Path | None,
    ws: Workspace,
) -> dict[str, Any]:
    meta = dataclasses.asdict(probe.metadata)
    derived: dict[str, Any] = {
        "stripped_copy": None,
        "contact_sheet": None,
        "html_report": None,
        "report_json": None,
    }
    if stripped is not None and final_dir is not None:
        derived["stripped_copy"] = (final_dir / stripped.path.name).relative_to(ws.home).as_posix()
    return {
        "media": _jsonable(dataclasses.asdict(probe.media)),
        "meta": _jsonable(meta),
        "anomalies": [dataclasses.asdict(a) for a in found],
        "decode": dataclasses.asdict(decode) if decode else None,
        "duration_s": probe.media.duration_s,
        "derived": derived,
    }


# -- 10: reports ------------------------------------------------------------------------------


def write_reports(ws: Workspace, clip_id: int, operator: str) -> str:
    """Write report.json, the contact sheet and report.html; returns report.json's relpath.

    One writer at a time per clip (`CaseStore.report_lock`): the files are written one after
    the other, and two writers at once could pair one's report.json with the other's signature.
    """
    with ws.cases.report_lock(clip_id):
        return _write_reports(ws, clip_id, operator)


def _write_reports(ws: Workspace, clip_id: int, operator: str) -> str:
    from .report.provenance import write_clip_reports

    rel, outputs, stamp = write_clip_reports(ws, clip_id)
    details = {"outputs": outputs, "generated_at": utcnow().isoformat(), "tools": tool_versions()}
    if stamp is not None:
        details["timestamp"] = stamp  # the RFC 3161 token, or why there is none
    ws.cases.append_events(clip_id, operator, [NewEvent("report_generated", details)])
    return rel


def matched_earlier(report: dict[str, Any] | None) -> list[int]:
    """The clips a report's archive matching found (the ones whose `seen_later` may change)."""
    found = (report or {}).get("matches") or []
    return sorted({m["clip_id"] for m in found if isinstance(m.get("clip_id"), int)})


def refresh_seen_later(ws: Workspace, clip_id: int, operator: str) -> bool:
    """Rewrite an earlier clip's reports when they do not list every later clip that matched
    it (the original's report names its reposts). Checked and written under the clip's report
    lock, so two workers that matched the same original at once rewrite it once, not twice.
    Returns whether it was rewritten."""
    from .report.provenance import seen_later

    with ws.cases.report_lock(clip_id):
        now = {e["clip_id"] for e in seen_later(ws.cases, clip_id)}
        rel = (ws.cases.load(clip_id).derived or {}).get("report_json")
        shown = json.loads((ws.home / rel).read_text("utf-8")) if rel else {}
        if {e.get("clip_id") for e in shown.get("seen_later") or []} == now:
            return False
        _write_reports(ws, clip_id, operator)
        return True

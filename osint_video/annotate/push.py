"""`annotate push`: unique keyframes and one verdict task per clip into the case's projects.

Resumable without duplicates: before each batch is imported its tasks are recorded as intents
(no task id); the server's ids complete them after the import. A push that dies in between
leaves intents behind, and the next push first lists the project's tasks (each carries our
clip sha256 and frame) to tell which intents reached the server and which did not. Images are
referenced through a Local Files storage when the server can serve the workspace (our own
server) and uploaded otherwise (`commit_to_project=false`, then JSON tasks that point at them).

Sent: keyframes that are not duplicates of another keyframe of the clip (`duplicate_of`
unset). Low-texture keyframes (dark or flat frames, e.g. text on black) are sent too unless
`[annotate] push_low_texture = false`: their hash is unreliable, not their content.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..desk.workflow import change_status
from ..errors import InputError, NotFound
from ..models import ClipRecord, MediaInfo, Metadata, OnScreenText, describe_credentials
from ..store import annotations as db
from ..store.cases import NewEvent
from ..workspace import Workspace
from .client import Client
from .project import Ensured, ensure_project, ensure_storage, storage_root

READY = ("processed", "in_review", "verified", "disputed", "rejected")
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Item:
    """One task to send: `key` is unique in its project (kind, clip sha256, frame)."""

    key: str
    kind: str
    clip_id: int
    frame: int | None
    path: Path
    data: dict[str, Any]
    flags: tuple[str, ...] = ()  # `flags` choices the file's Content Credentials suggest
    # on-screen text triage read on this keyframe (None: the clip's text was never read)
    text: tuple[OnScreenText, ...] | None = None
    text_model: str = ""


@dataclass(frozen=True)
class ProjectPush:
    case: str
    kind: str
    project_id: int
    title: str
    sent: int
    already: int
    reconciled: int
    created: bool
    recreated: bool


@dataclass(frozen=True)
class PushSummary:
    server: str
    images: str
    projects: list[ProjectPush] = field(default_factory=list)
    clips_in_review: list[int] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def keyframe_key(sha256: str, frame: int) -> str:
    return f"kf:{sha256}:{frame}"


def clip_key(sha256: str) -> str:
    return f"clip:{sha256}"


def key_of(data: dict[str, Any]) -> str | None:
    """Our key of a task from its data alone (tasks pushed by anyone with this tool)."""
    sha = data.get("sha256")
    if not isinstance(sha, str):
        return None
    if "contact_sheet" in data:
        return clip_key(sha)
    frame = data.get("frame")
    if isinstance(frame, int) and not isinstance(frame, bool):
        return keyframe_key(sha, frame)
    return None  # no frame, or not one we could have written: not our task


def select_clips(ws: Workspace, refs: list[str], case: str | None) -> dict[str, list[ClipRecord]]:
    """{case: clips} to push: the clips named, a case's clips, or every triaged clip."""
    default = ws.config.annotate.default_case
    if refs:
        ids = [ws.cases.resolve(r) for r in refs]
    else:
        ids = [c.id for c in ws.cases.list_clips(case=case) if c.status in READY]
        if case and not ids:
            raise NotFound(f"no triaged clip in case {case!r}")
    out: dict[str, list[ClipRecord]] = {}
    for cid in dict.fromkeys(ids):
        clip = ws.cases.record(cid)
        if clip.status not in READY:
            raise InputError(f"clip {cid} is {clip.status}: triage it before pushing it")
        out.setdefault(case or next(iter(clip.cases), default), []).append(clip)
    return out


def metadata_summary(clip: ClipRecord, case: str) -> str:
    """The facts an annotator needs beside the contact sheet, as plain text lines."""
    media, meta = clip.media or MediaInfo(kind=clip.kind), clip.metadata or Metadata()
    loc = meta.location
    where = f"{loc.lat}, {loc.lon}" if loc is not None else "-"
    duration = media.duration_s if media.duration_s is not None else "-"
    lines = [
        f"File: {clip.filename} ({clip.kind}, {clip.size_bytes:,} bytes), case {case}",
        f"SHA-256: {clip.sha256}",
        f"Duration: {duration} s; "
        f"{media.width}x{media.height} {media.codec or ''} "
        f"{media.fps or ''} fps".rstrip(),
        f"Created: {meta.creation_time or '-'}; device: "
        f"{meta.make or '-'} / {meta.model or '-'}; "
        f"software: {meta.software or meta.encoder or '-'}",
        f"Location: {where}",
        f"Source URL: {clip.source_url or '-'}",
        f"Content Credentials (C2PA): {describe_credentials(meta.content_credentials)}",
        "Anomalies: " + (", ".join(a.code for a in clip.anomalies) or "none"),
        f"Keyframes: {len(clip.keyframes)} ({len(clip.unique_keyframes)} distinct); "
        f"earlier clips sharing footage: {len(clip.matches)}",
        sound_summary(clip),
        *[f"Disagreement: {a.message}" for a in clip.anomalies if a.code in DISAGREEMENT],
    ]
    return "\n".join(lines)


DISAGREEMENT = ("sound_differs", "picture_differs")


def sound_summary(clip: ClipRecord) -> str:
    """The sound in one line: its tracks, and which earlier clips agree by which sense."""
    snd = clip.sound
    if snd is None:
        heard = "not analysed"
    elif not snd.tracks:
        heard = "no audio track"
    else:
        heard = "; ".join(
            f"{t.codec or '?'} {t.channels or '?'} ch {t.sample_rate or '?'} Hz, "
            f"{t.fingerprint}" + (f" ({t.informative} informative)" if t.items else "")
            for t in snd.tracks
        )
    senses = {"picture": "picture", "both": "picture and sound", "sound": "sound only"}
    seen = ", ".join(
        f"clip {m.other_clip_id} ({senses.get(m.entry.get('modality', 'picture'), '?')})"
        for m in clip.matches
    )
    return f"Sound: {heard}" + (f"; matches: {seen}" if seen else "")


def credential_flags(meta: Metadata | None) -> tuple[str, ...]:
    """The keyframe `flags` a file's C2PA manifest suggests: its signer declares generative AI
    (synthetic/AI), or the file changed after signing (edited/manipulated). Pre-selected in
    the prediction; the annotator confirms or removes them."""
    cc = meta.content_credentials if meta else None
    if cc is None:
        return ()
    out = ["synthetic/AI"] if cc.ai_generated else []
    return (*out, "edited/manipulated") if cc.state == "invalid" else tuple(out)


def clip_items(ws: Workspace, clip: ClipRecord, case: str) -> tuple[list[Item], Item]:
    """The keyframe tasks and the verdict task of one clip (image paths not checked yet)."""
    low_ok = ws.config.annotate.push_low_texture
    flags = credential_flags(clip.metadata)
    common = {
        "clip_id": clip.id,
        "sha256": clip.sha256,
        "source_url": clip.source_url,
        "filename": clip.filename,
        "case": case,
    }
    model = _text_model(clip)
    frames = [
        Item(
            keyframe_key(clip.sha256, k.frame),
            "keyframe",
            clip.id,
            k.frame,
            ws.home / k.path,
            {
                **common,
                "frame": k.frame,
                "time_s": k.time_s,
                "phash": k.phash,
                "keyframe": k.index,
                "informative": k.informative,
            },
            flags,
            _text_at(clip, k.index, k.time_s),
            model,
        )
        for k in clip.keyframes
        if k.duplicate_of is None and (low_ok or k.informative)
    ]
    sheet = clip.derived.contact_sheet
    sheet_path = ws.home / sheet if sheet else ws.derived_dir(clip.sha256) / "contact_sheet.jpg"
    verdict = Item(
        clip_key(clip.sha256),
        "clip",
        clip.id,
        None,
        sheet_path,
        {**common, "metadata_summary": metadata_summary(clip, case)},
    )
    return frames, verdict


def _text_at(clip: ClipRecord, index: int, time_s: float) -> tuple[OnScreenText, ...] | None:
    """The stored on-screen text read from keyframe `index` or on screen when it was shown
    (its boxes then come from the frame it was read from: overlays stay in place); None when
    the clip's text was never read at triage."""
    if clip.onscreen_text is None:
        return None
    return tuple(
        t for t in clip.onscreen_text if t.keyframe == index or t.start_s <= time_s <= t.end_s
    )


def _text_model(clip: ClipRecord) -> str:
    """What read the clip's text: the last `text_read` event's engine and languages."""
    read = [e for e in clip.custody if e.action == "text_read"]
    if not read:
        return "tesseract"
    d = read[-1].details
    return f"{d.get('engine', 'tesseract')} {d.get('languages', '')} (triage)".strip()


def check_images(items: list[Item]) -> None:
    """Raises InputError naming every image missing from the workspace (nothing is sent)."""
    missing = sorted({str(i.path) for i in items if not i.path.is_file()})
    if missing:
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise InputError(
            f"{len(missing)} image(s) missing from the workspace, nothing was pushed: "
            + ", ".join(missing[:5])
            + more
            + " (triage the clip again with --reprocess to rebuild them)"
        )


def _image_urls(
    client: Client, project_id: int, batch: list[Item], local: Path | None, files_root: Any
) -> dict[str, str]:
    """{key: image URL}: Local Files paths when the server serves the workspace, else uploads."""
    if local is not None:
        root = Path(files_root).resolve()
        return {
            i.key: "/data/local-files/?d=" + quote(i.path.resolve().relative_to(root).as_posix())
            for i in batch
        }
    names = {
        f"{i.data['sha256'][:16]}_{i.frame if i.frame is not None else 'sheet'}{i.path.suffix}": i
        for i in batch
    }
    urls = client.upload_files(project_id, {n: i.path.read_bytes() for n, i in names.items()})
    return {names[n].key: url for n, url in urls.items()}


def _predictions(ws: Workspace, batch: list[Item]) -> dict[str, dict[str, Any]]:
    """{key: prediction} of the keyframes of a batch: OCR ([ocr] enabled) and the flags the
    clip's Content Credentials suggest, in one prediction (Label Studio preloads one)."""
    frames = [i for i in batch if i.kind == "keyframe"]
    out: dict[str, dict[str, Any]] = {}
    if ws.config.ocr.enabled and frames:
        out.update(_text_predictions(ws, frames))
    for item in frames:
        if item.flags:
            out[item.key] = _with_flags(out.get(item.key), item.flags)
    return out


def _text_predictions(ws: Workspace, frames: list[Item]) -> dict[str, dict[str, Any]]:
    """On-screen text as predictions: what triage read (stored with the clip), else (a clip
    triaged before text was read at triage) read now."""
    from ..ocr import read_many, to_prediction
    from ..ocr.prediction import stored_prediction

    out: dict[str, dict[str, Any]] = {}
    unread = [i for i in frames if i.text is None]
    for item in frames:
        if item.text is not None:
            width, height = _image_size(item.path)
            pred = stored_prediction(item.text, width, height, item.text_model)
            if pred is not None:
                out[item.key] = pred
    if unread:
        pages = read_many([i.path for i in unread], ws.config.ocr)
        for item, page in zip(unread, pages, strict=True):
            pred = to_prediction(page)
            if pred is not None:
                out[item.key] = pred
    return out


def _image_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as img:  # the header only
        return img.size


def _with_flags(pred: dict[str, Any] | None, flags: tuple[str, ...]) -> dict[str, Any]:
    region = {
        "id": "c2pa_flags",
        "from_name": "flags",
        "to_name": "image",
        "type": "choices",
        "value": {"choices": list(flags)},
    }
    if pred is None:
        return {"model_version": "c2pa", "score": 1.0, "result": [region]}
    return {
        **pred,
        "model_version": f"{pred['model_version']}+c2pa",
        "result": [*pred["result"], region],
    }


def _task(item: Item, url: str, prediction: dict[str, Any] | None) -> dict[str, Any]:
    image_field = "image" if item.kind == "keyframe" else "contact_sheet"
    task: dict[str, Any] = {"data": {image_field: url, **item.data}}
    if prediction:
        task["predictions"] = [prediction]
    return task


def reconcile(ws: Workspace, client: Client, ref: db.ProjectRef, items: list[Item]) -> int:
    """Settle unconfirmed intents (and tasks of an adopted project) against the server's list.

    Returns:
        How many tasks were found already on the server.
    """
    on_server: dict[str, int] = {}
    for task_id, data in client.task_data(ref.project_id):
        key = key_of(data)
        if key is not None:
            on_server.setdefault(key, task_id)
    known = db.tasks(ws.cases, ref.row)
    wanted = {i.key: i for i in items}
    found = {k: on_server[k] for k in wanted if k in on_server and known.get(k) is None}
    found.update(
        {k: on_server[k] for k, t in known.items() if t.task_id is None and k in on_server}
    )
    db.record_intents(ws.cases, ref.row, [_ref(wanted[k]) for k in found if k in wanted])
    db.mark_sent(ws.cases, ref.row, found)
    db.drop_intents(ws.cases, ref.row, [k for k, t in known.items() if t.task_id is None])
    return len(found)


def _ref(i: Item) -> db.TaskRef:
    return db.TaskRef(i.key, i.clip_id, i.frame, None)


def push_project(
    ws: Workspace,
    client: Client,
    server: Any,
    ens: Ensured,
    items: list[Item],
    progress: Progress | None = None,
    upload_to: int | None = None,
) -> ProjectPush:
    """Send the items a project lacks, in batches, each recorded before and after its import.

    `upload_to` is the project that receives uploaded images (default: this one). Label Studio
    refuses direct uploads into a project whose config has more than one data key (the verdict
    project: contact sheet and metadata text), so its images go to the case's keyframe project;
    uploads are served to every member of the organisation.
    """
    ref = ens.ref
    known = db.tasks(ws.cases, ref.row)
    reconciled = 0
    if ens.reconcile or any(t.task_id is None for t in known.values()):
        reconciled = reconcile(ws, client, ref, items)
        known = db.tasks(ws.cases, ref.row)
    todo = [i for i in items if known.get(i.key) is None or known[i.key].task_id is None]
    local = storage_root(ws, getattr(server, "files_root", None))
    if local is not None and todo:
        ensure_storage(ws, client, ref, local)
    size = max(1, ws.config.annotate.batch_size)
    for start in range(0, len(todo), size):
        batch = todo[start : start + size]
        db.record_intents(ws.cases, ref.row, [_ref(i) for i in batch])
        urls = _image_urls(client, upload_to or ref.project_id, batch, local, server.files_root)
        preds = _predictions(ws, batch)
        ids = client.import_tasks(
            ref.project_id, [_task(i, urls[i.key], preds.get(i.key)) for i in batch]
        )
        db.mark_sent(ws.cases, ref.row, {i.key: t for i, t in zip(batch, ids, strict=True)})
        if progress:
            progress(len(batch), len(todo))
    return ProjectPush(
        ref.case,
        ref.kind,
        ref.project_id,
        ref.title,
        len(todo),
        len(items) - len(todo),
        reconciled,
        ens.created,
        ens.recreated,
    )


def _record(
    ws: Workspace, clips: list[ClipRecord], results: list[ProjectPush], actor: str
) -> list[int]:
    """Custody event per clip (when this push sent anything), processed clips to in_review."""
    moved = []
    projects = {r.kind: r.project_id for r in results}
    sent = any(r.sent or r.reconciled for r in results)
    for clip in clips:
        details = {"server_projects": projects, "case": results[0].case if results else None}
        if sent:
            ws.cases.append_events(clip.id, actor, [NewEvent("annotation_tasks_pushed", details)])
        if clip.status == "processed":
            change_status(
                ws.cases,
                clip.id,
                "in_review",
                actor=actor,
                note="pushed to Label Studio",
                expected="processed",
            )
            moved.append(clip.id)
    return moved


def push(
    ws: Workspace,
    client: Client,
    server: Any,
    *,
    refs: list[str] | None = None,
    case: str | None = None,
    progress: Progress | None = None,
    notify: Callable[[str], None] = lambda _m: None,
) -> PushSummary:
    """Push clips (by reference, by case, or every triaged clip) to their cases' projects.

    Args:
        ws: the open workspace.
        client: a Label Studio client (see `client.Client`).
        server: the `Connection` it was made from (`files_root` selects Local Files).
        refs: clip ids or sha256 prefixes; case: push that case's clips (and name its project).
        progress: called with (tasks just sent, tasks to send in this project).
        notify: one-line messages for the user (a project recreated...).

    Raises:
        InputError: images missing from the workspace, or a clip not triaged yet.
        AnnotateError: the server is unreachable, refuses the key, or fails a request; tasks
            already confirmed stay recorded, the rest is sent by the next push.
    """
    groups = select_clips(ws, list(refs or []), case)
    plans = {}
    for name, clips in groups.items():
        pairs = [clip_items(ws, c, name) for c in clips]
        plans[name] = ([i for f, _ in pairs for i in f], [v for _, v in pairs])
    check_images([i for f, v in plans.values() for i in (*f, *v)])
    client.whoami()
    images = "local-files" if storage_root(ws, getattr(server, "files_root", None)) else "upload"
    summary = PushSummary(client.url, images)
    for name, (frames, verdicts) in plans.items():
        results: list[ProjectPush] = []
        for kind, items in (("keyframe", frames), ("clip", verdicts)):
            ens = ensure_project(ws, client, name, kind, notify)
            upload_to = results[0].project_id if results else None
            results.append(push_project(ws, client, server, ens, items, progress, upload_to))
        summary.projects.extend(results)
        summary.clips_in_review.extend(_record(ws, groups[name], results, ws.config.operator()))
    return summary

"""`report`: a clip's report in any format, or a case report, written into the workspace.

JSON, HTML and the signature are written by the pipeline's report step (so the report command
and triage record the same custody event); PDF and Markdown are rendered from that report.json
and recorded by a `report_rendered` event so `verify` re-hashes them too.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from ..config import Config
from ..custody.signing import load_private, signature_block
from ..custody.timestamp import token_path
from ..lossless import readable
from ..store.cases import NewEvent
from ..store.evidence import sha256_file
from ..workspace import Workspace
from . import formats
from .case import build_case_report, case_dir, case_file_name, validate_case_report
from .formats import Render, RenderContext
from .provenance import keys_dir
from .render import template_cache_dir


def clip_report(cfg: Config, ref: str, fmt: str, out: Path | None = None) -> Path:
    """Regenerate a clip's reports and return the file of the asked format.

    Args:
        cfg: the effective configuration.
        ref: clip id or unique sha256 prefix.
        fmt: a format of the registry (`formats.names()`: html, pdf, md, json).
        out: copy the file here too (with report.json.sig beside a JSON copy when signed).

    Raises:
        InputError: unknown format. NotFound: no such clip. ReportError: rendering failed.
    """
    from ..steps.report import publish

    renderer = formats.get(fmt)
    ws = Workspace.open(cfg)
    try:
        clip_id = ws.cases.resolve(ref)
        report_json = ws.home / publish(ws, clip_id, cfg.operator())
        path = report_json.with_name(renderer.file_name())
        if renderer.clip is not None:
            _render_extra(ws, clip_id, report_json, renderer.name, renderer.clip, cfg.operator())
        return _copy_out(path, out) if out is not None else path
    finally:
        ws.close()


def _render_extra(
    ws: Workspace, clip_id: int, report_json: Path, fmt: str, render: Render, actor: str
) -> Path:
    """A format the report step does not write (PDF, Markdown), from its report.json, recorded
    by a `report_rendered` event so `verify` re-hashes it too."""
    report: dict[str, Any] = json.loads(report_json.read_text("utf-8"))
    target = report_json.with_name(formats.get(fmt).file_name())
    render(report, target, RenderContext(ws.home, template_cache_dir(ws.home)))
    details = {
        "input_sha256": sha256_file(report_json),
        "format": fmt,
        "outputs": {ws.rel(target): sha256_file(target)},
    }
    ws.cases.append_events(clip_id, actor, [NewEvent("report_rendered", details)])
    return target


def _copy_out(path: Path, out: Path) -> Path:
    """Copy a report out, with its signature and timestamp token beside a JSON copy."""
    shutil.copyfile(path, out)
    sig = path.with_name(path.name + ".sig")
    if path.suffix == ".json" and sig.is_file():
        out_sig = out.with_name(out.name + ".sig")
        shutil.copyfile(sig, out_sig)
        token, out_token = token_path(sig), token_path(out_sig)
        if token.is_file():
            shutil.copyfile(token, out_token)
        else:
            out_token.unlink(missing_ok=True)  # an older token would not match this signature
    return out


def case_report(cfg: Config, case: str, fmt: str, out: Path | None = None) -> Path:
    """Write the report of every clip of `case` (WORKSPACE/reports/case-<name>.<ext> or `out`).

    Raises:
        InputError: unknown format. NotFound: no clip in that case. ReportError: the case
        report is invalid or could not be rendered.
    """
    renderer = formats.get(fmt)
    render = formats.case_renderer(renderer)
    case = readable(case)  # as stored: bytes that are not UTF-8 as \xNN (osint_video/lossless.py)
    ws = Workspace.open(cfg)
    try:
        key = load_private(keys_dir(ws))
        data = build_case_report(ws, case, signature_block(key) if key else None)
        validate_case_report(data)
        target = out or case_dir(ws) / case_file_name(case, renderer.suffix)
        target.parent.mkdir(parents=True, exist_ok=True)
        ctx = RenderContext(ws.home, template_cache_dir(ws.home), key, cfg.custody)
        render(data, target, ctx)
        return target
    finally:
        ws.close()

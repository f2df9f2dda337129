"""URL intake: download a clip with yt-dlp and bring it in like a local file, plus its provenance.

A platform page says things the file does not: who uploaded it, when, under what title, with
which platform id. yt-dlp's info JSON is that statement, so it is kept as evidence beside the
video (its SHA-256 in a "downloaded" custody event) and its key facts become the report's
`source{url, platform, uploader, uploaded_at, title, platform_id}`.

The download goes to a temporary folder inside the workspace (same file system as the evidence
store, nothing left in /tmp), and yt-dlp talks through a logger object: nothing it says reaches
the user's terminal except through our one-line errors.
"""

from __future__ import annotations

import json
import shutil
import signal
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..addresses import AddressPolicy, AddressRefused, parse_networks
from ..config import QueueConfig
from ..errors import InputError, OsintVideoError
from ..pipeline import Intake, TriageRequest, intake
from ..store.cases import NewEvent
from ..store.evidence import StoredFile
from ..store.schema import ClipRow
from ..tools import tool_versions
from ..workspace import Workspace
from .child import Fetched, Progress, run_fetch


class DownloadFailed(OsintVideoError):
    """A URL gave no video: HTTP error, not a video page, timeout, malformed URL."""


@dataclass(frozen=True)
class Download:
    """A downloaded video and the platform's info JSON, both in a temporary folder."""

    url: str
    media: Path
    info_json: Path
    info: dict[str, Any]
    ytdlp_version: str


def check_url(url: str) -> str:
    """Return `url` if it is an http(s) URL with a host.

    Raises:
        DownloadFailed: another scheme, no host, spaces or control characters.
    """
    parts = urlsplit(url)
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise DownloadFailed("malformed URL: contains spaces or control characters")
    if parts.scheme.lower() not in ("http", "https"):
        raise DownloadFailed(f"malformed URL: scheme {parts.scheme!r} (only http and https)")
    try:
        port_ok = parts.hostname is not None and (parts.port is None or parts.port > 0)
    except ValueError:
        port_ok = False
    if not port_ok:
        raise DownloadFailed("malformed URL: no valid host[:port]")
    return url


def download(url: str, dest: Path, cfg: QueueConfig, progress: Progress | None = None) -> Download:
    """Download the best video at `url` into `dest` with its info JSON, in a child process.

    The child (`fetch.py`) is killed at `cfg.download_timeout_s` whatever it is doing, runs
    under memory and file-size limits, reads at most `max_page_mb` of a page and
    `max_download_mb` of a file, and connects only to addresses `cfg.allow_networks` permits.

    Args:
        url: an http(s) page or file yt-dlp understands (a direct file uses its generic
            extractor).
        dest: an empty folder for the files (the caller removes it, partial files included).
        cfg: the [queue] section (timeouts, size caps, allowed networks).
        progress: called with ("download", fraction) while bytes arrive.

    Raises:
        DownloadFailed: a one-line reason (HTTP status, not a video, timeout, too large,
            refused address, malformed URL).
    """
    check_url(url)
    policy = AddressPolicy(parse_networks(cfg.allow_networks))
    _check_host(url, policy)
    run = run_fetch(fetch_request(url, dest, cfg), cfg.download_timeout_s, progress)
    if run.timed_out:
        raise DownloadFailed(f"download took longer than {cfg.download_timeout_s:g} s")
    if "error" in run.answer:
        raise DownloadFailed(str(run.answer["error"]))
    if "ok" not in run.answer:
        raise DownloadFailed(_crash(run, cfg))
    return _result(url, run.answer["ok"], cfg)


def _check_host(url: str, policy: AddressPolicy) -> None:
    """Refuse a URL whose host resolves to any refused address, before anything is started."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        policy.check_host(host, parts.port or (443 if parts.scheme.lower() == "https" else 80))
    except AddressRefused as exc:
        raise DownloadFailed(str(exc)) from None
    except (OSError, UnicodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise DownloadFailed(f"cannot connect: {host}: {reason}") from None


def fetch_request(url: str, dest: Path, cfg: QueueConfig) -> dict[str, Any]:
    """What the download process (`fetch.main`) is told: the URL, where, and its limits."""
    mb = 1 << 20
    return {
        "url": url,
        "dest": str(dest),
        "socket_timeout_s": cfg.socket_timeout_s,
        "max_page_bytes": int(cfg.max_page_mb * mb),
        "max_download_bytes": int(cfg.max_download_mb * mb),
        "memory_bytes": int(cfg.max_memory_mb * mb),
        "allow_networks": list(cfg.allow_networks),
    }


def _crash(run: Fetched, cfg: QueueConfig) -> str:
    """The download process ended without an answer: killed by a limit, or a bug."""
    if run.returncode == -signal.SIGXFSZ:
        return f"file larger than {cfg.max_download_mb:g} MB"
    if "MemoryError" in run.stderr_tail:
        return f"download needed more than {cfg.max_memory_mb:g} MB of memory"
    last = (run.stderr_tail.strip().splitlines() or ["no message"])[-1]
    return f"download process failed (exit code {run.returncode}): {last[:200]}"


def _result(url: str, ok: dict[str, Any], cfg: QueueConfig) -> Download:
    if ok.get("type", "video") != "video":
        raise DownloadFailed("not a single video (a playlist or channel page)")
    media, info_json = Path(ok.get("media") or ""), Path(ok.get("info_json") or "")
    if not media.is_file() or not info_json.is_file():
        raise DownloadFailed("yt-dlp reported success but wrote no video file")
    if media.stat().st_size > cfg.max_download_mb * (1 << 20):
        raise DownloadFailed(f"file larger than {cfg.max_download_mb:g} MB")
    if info_json.stat().st_size > cfg.max_page_mb * (1 << 20):
        raise DownloadFailed(f"info JSON larger than {cfg.max_page_mb:g} MB")
    saved = json.loads(info_json.read_text("utf-8"))
    return Download(url, media, info_json, saved, str(ok.get("version") or ""))


def source_fields(info: dict[str, Any]) -> dict[str, Any]:
    """The report's `source` object from a yt-dlp info dict (None where the platform is silent)."""
    uploaded = None
    if isinstance(info.get("timestamp"), int | float):
        uploaded = datetime.fromtimestamp(info["timestamp"], UTC).isoformat().replace("+00:00", "Z")
    elif isinstance(info.get("upload_date"), str) and len(info["upload_date"]) == 8:
        d = info["upload_date"]
        uploaded = f"{d[:4]}-{d[4:6]}-{d[6:]}"
    return {
        "url": info.get("webpage_url") or info.get("original_url"),
        "platform": info.get("extractor_key") or info.get("extractor"),
        "uploader": info.get("uploader") or info.get("channel") or info.get("uploader_id"),
        "uploaded_at": uploaded,
        "title": info.get("title"),
        "platform_id": str(info["id"]) if info.get("id") is not None else None,
    }


def downloaded_event(dl: Download, info_file: StoredFile) -> NewEvent:
    """Custody: what was downloaded from where, by which yt-dlp, and the info JSON's hash."""
    info = dl.info
    return NewEvent(
        "downloaded",
        {
            "url": dl.url,
            "webpage_url": info.get("webpage_url"),
            "extractor": info.get("extractor"),
            "platform_id": info.get("id"),
            "uploader": info.get("uploader"),
            "upload_date": info.get("upload_date"),
            "title": info.get("title"),
            "outputs": {"info_json": info_file.relpath, "info_json_sha256": info_file.sha256},
            "tools": {**tool_versions(), "yt-dlp": dl.ytdlp_version},
        },
    )


@dataclass(frozen=True)
class UrlIntake:
    """A URL brought in: the clip (steps 1-4 done) and the platform facts."""

    taken: Intake
    source: dict[str, Any]


def intake_url(
    ws: Workspace,
    url: str,
    *,
    case: str | None = None,
    note: str | None = None,
    progress: Progress | None = None,
) -> UrlIntake:
    """Download `url`, store video and info JSON as evidence, record the acquisition.

    Raises:
        DownloadFailed: the URL gave no video.
        InputError: what it gave is not a readable video or image.
    """
    tmp_root = ws.home / "tmp"
    tmp_root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="download-", dir=tmp_root))
    try:
        dl = download(url, work, ws.config.queue, progress)
        source = source_fields(dl.info)
        req = TriageRequest(dl.media, case, source["url"] or url, note)
        try:
            taken = intake(ws, req)
        except InputError as exc:
            raise InputError(f"downloaded file refused: {exc}") from None
        info_file = ws.evidence.put(dl.info_json)
        _record(ws, taken.clip_id, source, downloaded_event(dl, info_file))
        return UrlIntake(taken, source)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _record(ws: Workspace, clip_id: int, source: dict[str, Any], event: NewEvent) -> None:
    """The download event, and the clip's `source` if it has none yet, in one transaction."""
    with ws.cases.session() as ses:
        clip = ses.get(ClipRow, clip_id)
        if clip is not None and clip.source is None:
            clip.source = source
        ws.cases._append_events(ses, clip_id, ws.config.operator(), [event])

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
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..config import QueueConfig
from ..errors import InputError, OsintVideoError
from ..pipeline import Intake, TriageRequest, intake
from ..store.cases import NewEvent
from ..store.evidence import StoredFile
from ..store.schema import ClipRow
from ..tools import tool_versions
from ..workspace import Workspace

Progress = Callable[[str, float], None]


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


class _Log:
    """yt-dlp's logger: keep the last error for our message, print nothing."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def debug(self, msg: str) -> None:
        pass

    def info(self, msg: str) -> None:
        pass

    def warning(self, msg: str) -> None:
        pass

    def error(self, msg: str) -> None:
        self.errors.append(msg)


def _options(dest: Path, cfg: QueueConfig, hook: Callable[[dict[str, Any]], None]) -> dict:
    return {
        "outtmpl": str(dest / "%(id).80B.%(ext)s"),
        "writeinfojson": True,
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "noplaylist": True,
        "socket_timeout": cfg.socket_timeout_s,
        "retries": 0,
        "fragment_retries": 0,
        "extractor_retries": 0,
        "cachedir": False,
        "fixup": "never",  # the bytes as the platform served them: no container rewrites
        "logger": _Log(),
        "progress_hooks": [hook],
    }


def download(url: str, dest: Path, cfg: QueueConfig, progress: Progress | None = None) -> Download:
    """Download the best video at `url` into `dest` with its info JSON.

    Args:
        url: an http(s) page or file yt-dlp understands (a direct file uses its generic
            extractor).
        dest: an empty folder for the files.
        cfg: the [queue] section (socket timeout and overall download deadline).
        progress: called with ("download", fraction) while bytes arrive.

    Raises:
        DownloadFailed: a one-line reason (HTTP status, not a video, timeout, malformed URL).
    """
    import yt_dlp
    from yt_dlp.utils import DownloadCancelled, DownloadError
    from yt_dlp.version import __version__ as version

    check_url(url)
    deadline = time.monotonic() + cfg.download_timeout_s
    say = progress or (lambda _s, _f: None)

    def hook(d: dict[str, Any]) -> None:
        if time.monotonic() > deadline:
            raise DownloadCancelled(f"timed out after {cfg.download_timeout_s:g} s")
        total = d.get("total_bytes") or d.get("total_bytes_estimate")
        if total:
            say("download", min(1.0, (d.get("downloaded_bytes") or 0) / total))

    try:
        with yt_dlp.YoutubeDL(_options(dest, cfg, hook)) as ydl:  # type: ignore[arg-type]
            info = ydl.sanitize_info(ydl.extract_info(url, download=True))
    except DownloadCancelled as exc:
        raise DownloadFailed(f"download {exc.msg}") from None
    except DownloadError as exc:
        raise DownloadFailed(_reason(exc, cfg)) from None
    except yt_dlp.utils.YoutubeDLError as exc:  # RequestError for e.g. "http://"
        raise DownloadFailed(f"malformed URL: {exc}") from None
    return _result(url, info, version)


def _result(url: str, info: Any, version: str) -> Download:
    if not isinstance(info, dict) or info.get("_type", "video") != "video":
        raise DownloadFailed("not a single video (a playlist or channel page)")
    got = (info.get("requested_downloads") or [{}])[0]
    media = Path(got.get("filepath") or "")
    info_json = Path(got.get("infojson_filename") or "")
    if not media.is_file() or not info_json.is_file():
        raise DownloadFailed("yt-dlp reported success but wrote no video file")
    saved = json.loads(info_json.read_text("utf-8"))
    return Download(url, media, info_json, saved, version)


def _reason(exc: Exception, cfg: QueueConfig) -> str:
    """yt-dlp's error as one line a desk editor understands."""
    from yt_dlp.networking.exceptions import HTTPError, TransportError
    from yt_dlp.utils import UnsupportedError

    cause = (getattr(exc, "exc_info", None) or (None, None))[1]
    text = str(exc).removeprefix("ERROR: ").splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(cause, HTTPError):
        return f"HTTP error {cause.status}: {cause.reason or 'request refused'}"
    if isinstance(cause, UnsupportedError):
        return "not a video: no video found on that page (unsupported URL)"
    if isinstance(cause, TransportError):
        if "timed out" in str(cause).lower():
            return f"timed out: no answer within {cfg.socket_timeout_s:g} s"
        return f"cannot connect: {str(cause).split(': ', 1)[-1][:200]}"
    if "is not a valid URL" in text:
        return "malformed URL"
    return text[:300]


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

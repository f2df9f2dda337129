"""Step: keep the thumbnail the signer embedded in the file's Content Credentials (C2PA).

The picture as it was signed, beside the keyframes, shows at a glance what changed when the
credentials are `invalid`. It is read here, once, from the evidence file (bounded, like the
probe's parsers) and kept verbatim in the clip's derived folder, named in the clip's record
(`derived.c2pa_thumbnail`) and in this step's custody event with its SHA-256, so `verify`
re-hashes it and reports show it without ever opening the evidence original.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..media.credentials import read_signed_thumbnail
from ..store.evidence import sha256_file
from .base import Job, Step, Stored

STEM = "c2pa_thumbnail"
# The thumbnail's own format, by its first bytes (kept as embedded, never converted).
SUFFIXES = (
    (b"\xff\xd8\xff", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", ".png"),
    (b"GIF8", ".gif"),
)


@dataclass(frozen=True)
class SignedThumbnail:
    """The thumbnail's file in the work folder and its SHA-256; None when the credentials
    embed none."""

    path: Path | None
    sha256: str | None = None


class C2paThumbnail(Step[SignedThumbnail]):
    """Only for files with Content Credentials; its failure (a limit hit) is recorded but is
    not the clip's error: the report then shows no thumbnail."""

    name = "c2pa_thumbnail"
    action = "c2pa_thumbnail_extracted"
    weight = 0.005
    tools = ("c2pa-python",)
    critical = False

    def wanted(self, job: Job) -> bool:
        cc = job.probe.metadata.content_credentials
        return cc is not None and bool(cc.state)

    def run(self, job: Job) -> SignedThumbnail:
        cfg = job.ws.config.probe
        data = read_signed_thumbnail(
            job.evidence, time_s=cfg.parse_time_limit_s, memory_mb=cfg.parse_memory_mb
        )
        if data is None:
            return SignedThumbnail(None)
        path = job.work / f"{STEM}{_suffix(data)}"
        path.write_bytes(data)
        return SignedThumbnail(path, sha256_file(path))

    def event(self, job: Job, result: SignedThumbnail) -> dict[str, Any]:
        details: dict[str, Any] = {"input_sha256": job.sha256}
        if result.path is None:
            return {**details, "outputs": {}, "note": "the active manifest embeds no thumbnail"}
        return {**details, "outputs": {result.path.name: result.sha256}}

    def stored(self, job: Job, result: SignedThumbnail) -> Stored:
        if result.path is None:
            return Stored()
        rel = (job.final / result.path.name).relative_to(job.ws.home).as_posix()
        return Stored(derived={"c2pa_thumbnail": rel})


def _suffix(data: bytes) -> str:
    return next((suffix for magic, suffix in SUFFIXES if data.startswith(magic)), ".bin")

"""One exception hierarchy for the whole tool.

Steps raise; only the CLI turns an `OsintVideoError` into a one-line message and an exit code,
so a library caller (a worker, a test) sees the same failure a desk editor sees.
"""

from __future__ import annotations


class OsintVideoError(Exception):
    """Base of every error the tool reports to a user as a one-line message."""

    exit_code = 1


class ConfigError(OsintVideoError):
    """The configuration file or an environment override is invalid."""

    exit_code = 2


class ToolMissing(OsintVideoError):
    """An external binary (ffmpeg, ffprobe, exiftool) is not installed."""

    exit_code = 3


class InputError(OsintVideoError):
    """The input path cannot be read or is not media (zero bytes, junk, unreadable)."""


class MalformedReport(InputError):
    """A report, its signature or a key given to check it is not what it claims to be (too
    large, not strict JSON, nested too deep, a value of the wrong type): nothing was checked.

    Exit code 2, apart from 1 (the report was checked and something in it does not hold).
    """

    exit_code = 2


class ProbeError(OsintVideoError):
    """The container could not be parsed at all (no metadata could be read)."""


class ExtractionError(OsintVideoError):
    """Frames could not be decoded (header only, truncated, unsupported codec)."""


class StoreError(OsintVideoError):
    """The case store or evidence store refused an operation."""


class NotFound(OsintVideoError):
    """A clip id or sha256 prefix matched nothing (or more than one clip)."""


class WorkflowError(OsintVideoError):
    """An unknown queue status or priority, or a status change the workflow does not allow."""


class ConflictError(OsintVideoError):
    """Someone else changed the clip since it was read (compare-and-set lost); reload, retry."""


class ReportError(OsintVideoError):
    """A report does not match its schema, or a report file could not be rendered or written."""


class LabelStudioError(OsintVideoError):
    """The Label Studio server is absent, unreachable, failed to start, or rejected our API key."""


class OcrError(OsintVideoError):
    """Tesseract or one of its language packs is missing, or it failed on an image."""

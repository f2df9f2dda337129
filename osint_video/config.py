"""Typed configuration: packaged defaults < config file < environment < command-line flags.

The defaults live in `configs/default.toml` (copied into the package as
`osint_video/defaults/default.toml`), which documents every option. A user file is chosen by
`--config FILE` or `OSINT_VIDEO_CONFIG`; any single option can be overridden by an environment
variable `OSINT_VIDEO__SECTION__KEY` (e.g. `OSINT_VIDEO__KEYFRAMES__METHOD=interval`).
"""

from __future__ import annotations

import dataclasses
import getpass
import os
import tomllib
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

import platformdirs

from .errors import ConfigError

ENV_PREFIX = "OSINT_VIDEO__"


@dataclass(frozen=True)
class WorkspaceConfig:
    home: str = ""
    operator: str = ""
    database_url: str = ""


@dataclass(frozen=True)
class ProbeConfig:
    timeout_s: float = 60.0
    future_tolerance_s: float = 300.0
    duration_mismatch_ratio: float = 0.05
    c2pa_trust_anchors: str = ""
    parse_time_limit_s: float = 30.0
    parse_memory_mb: int = 1024
    max_pixels: int = 120_000_000


@dataclass(frozen=True)
class KeyframesConfig:
    method: str = "shots"
    analysis_width: int = 64
    cut_threshold: float = 0.5
    tone_threshold: float = 0.3
    min_tone_change: float = 0.1
    min_shot_frames: int = 8
    flash_max_frames: int = 2
    change_threshold: float = 0.5
    max_keyframes_per_shot: int = 6
    interval_s: float = 2.0
    max_keyframes: int = 500
    fast_path: bool = True
    decode_threads: int = 2


@dataclass(frozen=True)
class HashingConfig:
    dedup_algorithm: str = "phash"
    dedup_max_distance: int = 6
    min_texture_std: float = 8.0


@dataclass(frozen=True)
class ReportConfig:
    thumbnail_width: int = 320
    contact_sheet_columns: int = 5


@dataclass(frozen=True)
class CustodyConfig:
    """Checking reports handed to us, and RFC 3161 timestamps of the ones we sign."""

    max_report_mb: float = 10.0
    tsa_url: str = ""
    tsa_ca_file: str = ""
    tsa_timeout_s: float = 10.0


@dataclass(frozen=True)
class MatchingConfig:
    enabled: bool = True
    sample_fps: float = 4.0
    min_samples: int = 8
    max_samples: int = 2400
    sample_width: int = 320
    min_texture_std: float = 8.0
    radius: int = 10
    offset_tolerance_s: float = 0.5
    min_frames: int = 3
    min_score: float = 0.15
    duplicate_min_coverage: float = 0.85
    max_ranges: int = 5
    shards: int = 1
    segment_hashes: int = 20_000
    compact_ratio: float = 0.1
    auto_compact: bool = True


@dataclass(frozen=True)
class LabelStudioConfig:
    """The Label Studio server: a desk's (url) or our own local one (`labelstudio start`)."""

    url: str = ""
    port: int = 8080
    username: str = "admin@osint-video.local"
    start_timeout_s: float = 300.0
    executable: str = ""


@dataclass(frozen=True)
class AnnotateConfig:
    """Push/pull of keyframes and verdicts (issue 3)."""

    project_prefix: str = "osint-video"
    default_case: str = "no case"
    batch_size: int = 250
    push_low_texture: bool = True
    min_annotators: int = 2
    min_agreement: float = 1.0
    status_authentic: str = "verified"
    status_manipulated: str = "rejected"
    status_misattributed: str = "rejected"
    status_unverifiable: str = "disputed"
    status_disagreement: str = "disputed"
    listen_port: int = 8765
    listen_host: str = "127.0.0.1"
    listen_url: str = ""


@dataclass(frozen=True)
class OcrConfig:
    """On-screen text pre-annotations (tesseract)."""

    enabled: bool = True
    languages: str = "rus+ukr+eng"
    psm: int = 11
    min_confidence: float = 80.0
    preprocess: tuple[str, ...] = ("bright",)
    bright_threshold: int = 180
    workers: int = 0
    timeout_s: float = 60.0
    sample_fps: float = 4.0
    min_samples: int = 2


@dataclass(frozen=True)
class SoundConfig:
    """Sound: fingerprints of each audio track (Chromaprint), matched beside the picture."""

    enabled: bool = True
    max_tracks: int = 4
    max_duration_s: float = 21600.0
    timeout_s: float = 600.0
    min_level_db: float = -45.0
    min_flux_db: float = 2.5
    max_energy_entropy: float = 0.7
    probe_bits: int = 1
    max_bucket: int = 2000
    min_hits: int = 4
    max_bit_error: float = 0.2
    min_seconds: float = 4.0
    differs_bit_error: float = 0.35
    min_compare_s: float = 3.0
    late_start_s: float = 0.5
    early_end_s: float = 1.0


@dataclass(frozen=True)
class IntakeConfig:
    """How files are taken in (`triage`, `queue add`)."""

    follow_symlinks: bool = False


@dataclass(frozen=True)
class QueueConfig:
    """The desk's queue workflow and URL intake."""

    download_timeout_s: float = 60.0
    socket_timeout_s: float = 20.0
    max_download_mb: float = 2048.0
    max_page_mb: float = 32.0
    max_memory_mb: float = 1024.0
    allow_networks: tuple[str, ...] = ()


@dataclass(frozen=True)
class WorkerConfig:
    """Workers on the desk's PostgreSQL task queue (procrastinate)."""

    concurrency: int = 1
    stalled_after_s: float = 60.0
    triage_processes: int = 0


@dataclass(frozen=True)
class WebConfig:
    """The web desk (`osint-video serve`)."""

    host: str = "127.0.0.1"
    port: int = 8080
    max_upload_mb: float = 2048.0
    session_hours: float = 12.0
    idle_minutes: float = 120.0
    login_attempts: int = 5
    login_window_s: float = 300.0
    cookie_secure: str = "auto"
    trusted_proxies: tuple[str, ...] = ()
    page_size: int = 48


@dataclass(frozen=True)
class Config:
    workspace: WorkspaceConfig = field(default_factory=WorkspaceConfig)
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    keyframes: KeyframesConfig = field(default_factory=KeyframesConfig)
    hashing: HashingConfig = field(default_factory=HashingConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    custody: CustodyConfig = field(default_factory=CustodyConfig)
    matching: MatchingConfig = field(default_factory=MatchingConfig)
    labelstudio: LabelStudioConfig = field(default_factory=LabelStudioConfig)
    annotate: AnnotateConfig = field(default_factory=AnnotateConfig)
    ocr: OcrConfig = field(default_factory=OcrConfig)
    sound: SoundConfig = field(default_factory=SoundConfig)
    intake: IntakeConfig = field(default_factory=IntakeConfig)
    queue: QueueConfig = field(default_factory=QueueConfig)
    worker: WorkerConfig = field(default_factory=WorkerConfig)
    web: WebConfig = field(default_factory=WebConfig)

    def home_dir(self) -> Path:
        """The workspace: explicit setting, `OSINT_VIDEO_HOME`, then the per-user data dir."""
        home = self.workspace.home or os.environ.get("OSINT_VIDEO_HOME", "")
        if not home:
            home = platformdirs.user_data_dir("osint-video", appauthor=False)
        return Path(home).expanduser().resolve()

    def operator(self) -> str:
        """Who is acting, for custody: config, `OSINT_VIDEO_OPERATOR`, then the OS user."""
        op = self.workspace.operator or os.environ.get("OSINT_VIDEO_OPERATOR", "")
        if op:
            return op
        try:
            return getpass.getuser()
        except (KeyError, OSError):
            return "unknown"

    def database_url(self) -> str:
        """`OSINT_VIDEO_DB` or the setting wins; default is SQLite inside the workspace."""
        url = os.environ.get("OSINT_VIDEO_DB", "") or self.workspace.database_url
        return url or f"sqlite:///{self.home_dir() / 'cases.sqlite'}"


def _coerce(value: Any, default: Any, where: str) -> Any:
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in (
            "1",
            "true",
            "yes",
            "on",
            "0",
            "false",
            "no",
            "off",
        ):
            return value.lower() in ("1", "true", "yes", "on")
    elif isinstance(default, int):
        try:
            if isinstance(value, bool):
                raise ValueError
            return int(value)
        except (TypeError, ValueError):
            pass
    elif isinstance(default, float):
        try:
            return float(value)
        except (TypeError, ValueError):
            pass
    elif isinstance(default, tuple):
        if isinstance(value, str):
            return tuple(v.strip() for v in value.split(",") if v.strip())
        if isinstance(value, list):
            return tuple(value)
    elif isinstance(default, str):
        return str(value)
    raise ConfigError(f"config option {where}: {value!r} is not a valid {type(default).__name__}")


def _merge(cfg: Config, data: dict[str, Any], origin: str) -> Config:
    sections = {f.name: getattr(cfg, f.name) for f in fields(cfg)}
    for sec_name, values in data.items():
        if sec_name not in sections:
            raise ConfigError(f"{origin}: unknown config section [{sec_name}]")
        if not isinstance(values, dict):
            raise ConfigError(f"{origin}: [{sec_name}] must be a table")
        section = sections[sec_name]
        known = {f.name: f for f in fields(section)}
        changes = {}
        for key, value in values.items():
            if key not in known:
                raise ConfigError(f"{origin}: unknown option {sec_name}.{key}")
            changes[key] = _coerce(value, getattr(section, key), f"{sec_name}.{key}")
        sections[sec_name] = dataclasses.replace(section, **changes)
    return Config(**sections)


def _env_overrides(environ: dict[str, str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for key, value in environ.items():
        if key.startswith(ENV_PREFIX):
            parts = key[len(ENV_PREFIX) :].lower().split("__")
            if len(parts) != 2:
                raise ConfigError(f"environment variable {key}: expected {ENV_PREFIX}SECTION__KEY")
            out.setdefault(parts[0], {})[parts[1]] = value
    return out


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


CHOICES = {
    ("keyframes", "method"): ("shots", "iframes", "interval"),
    ("hashing", "dedup_algorithm"): ("phash", "dhash"),
    ("web", "cookie_secure"): ("auto", "always", "never"),
}


# Limits that must be above zero (zero would stop every probe, not disable the limit).
POSITIVE = (
    ("matching", "shards"),
    ("matching", "segment_hashes"),
    ("matching", "compact_ratio"),
    ("probe", "parse_time_limit_s"),
    ("probe", "parse_memory_mb"),
    ("probe", "max_pixels"),
    ("web", "max_upload_mb"),
    ("web", "session_hours"),
    ("web", "idle_minutes"),
    ("web", "login_attempts"),
    ("web", "login_window_s"),
    ("web", "page_size"),
    ("sound", "max_duration_s"),
    ("sound", "timeout_s"),
    ("sound", "min_seconds"),
)


def _check_choices(cfg: Config) -> None:
    for (section, key), allowed in CHOICES.items():
        value = getattr(getattr(cfg, section), key)
        if value not in allowed:
            raise ConfigError(
                f"config option {section}.{key}: {value!r} is not one of {', '.join(allowed)}"
            )
    for section, key in POSITIVE:
        value = getattr(getattr(cfg, section), key)
        if not value > 0:
            raise ConfigError(f"config option {section}.{key}: {value!r} must be above zero")
    from .addresses import parse_networks

    parse_networks(cfg.queue.allow_networks)  # a typo is refused here, not on every URL


def default_toml_text() -> str:
    """The packaged, fully commented default configuration."""
    return resources.files("osint_video").joinpath("defaults/default.toml").read_text("utf-8")


def load_config(
    path: str | Path | None = None,
    *,
    home: str | Path | None = None,
    environ: dict[str, str] | None = None,
) -> Config:
    """Build the effective configuration.

    Args:
        path: a TOML file; else `OSINT_VIDEO_CONFIG`, else `HOME/config.toml` if present.
        home: the workspace folder given on the command line (wins over everything).
        environ: the environment to read overrides from (default: `os.environ`).

    Raises:
        ConfigError: unreadable file, unknown section or option, or a value of the wrong type.
    """
    env = dict(os.environ if environ is None else environ)
    cfg = _merge(Config(), tomllib.loads(default_toml_text()), "default.toml")
    file = path or env.get("OSINT_VIDEO_CONFIG")
    if home:
        cfg = dataclasses.replace(cfg, workspace=dataclasses.replace(cfg.workspace, home=str(home)))
    if not file:
        candidate = cfg.home_dir() / "config.toml"
        file = candidate if candidate.is_file() else None
    if file:
        cfg = _merge(cfg, _read_toml(Path(file)), str(file))
    cfg = _merge(cfg, _env_overrides(env), "environment")
    _check_choices(cfg)
    if home:
        cfg = dataclasses.replace(cfg, workspace=dataclasses.replace(cfg.workspace, home=str(home)))
    return cfg

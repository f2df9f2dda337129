"""Content Credentials (C2PA): a signed record of who made a file and what was done to it.

Cameras (Leica, Sony, Nikon), phones (Pixel), editors (Photoshop) and AI image and video
generators embed a C2PA manifest store. For a desk it answers questions metadata cannot:
which device or tool signed the file, whether that tool declares the picture AI-generated
(`digitalSourceType` trainedAlgorithmicMedia...), which edits it records, and whether the
pixels changed after signing (the manifest's hash no longer matches: `invalid`).

Read with the C2PA reference implementation (c2pa-python, the c2pa-rs library, offline). The
reader's JSON report is kept verbatim in `metadata.raw["c2pa"]`; `ContentCredentials` is the
part a verifier reads first. A good signature is `trusted` only when its certificate chains to
one of the desk's trust anchors (`[probe] c2pa_trust_anchors`, a PEM file); without them, or by
another certificate, it is `valid` (with `signingCredential.untrusted`).

The reader never goes on the network. By default it fetches a manifest the file says is stored
elsewhere, and checks certificates online (OCSP): a hostile file could name a server that then
learns who opened it, when, from where. Both are off (`OFFLINE`); a remote manifest is reported
with its URL (state `remote`), for the desk to fetch deliberately if it wants to.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ProbeError
from ..models import ContentCredentials

# IPTC digital source types that declare a picture made or altered by generative AI.
AI_SOURCE_TYPES = frozenset(
    {
        "trainedAlgorithmicMedia",
        "compositeWithTrainedAlgorithmicMedia",
        "algorithmicMedia",
        "compositeSynthetic",
    }
)
# Validation codes that say nothing against the file: the signer is just not on a trust list.
UNTRUSTED_ONLY = frozenset({"signingCredential.untrusted"})
# c2pa-rs settings: no remote manifest fetch, no online certificate status check.
OFFLINE = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
REMOTE_URL = re.compile(r"from url (\S+)")
THUMBNAIL_STAGE = "c2pa_thumbnail"
# reader contexts, made once per process: by (trust anchors file or "", validate after reading)
_contexts: dict[tuple[str, bool], Any] = {}


@dataclass(frozen=True)
class CredentialsRead:
    """What reading found: the summary and the reader's report verbatim (None: no manifest)."""

    summary: ContentCredentials | None
    raw: dict[str, Any] = field(default_factory=dict)


def read_credentials(path: Path, trust_anchors: str = "") -> CredentialsRead:
    """Read and validate the file's C2PA manifest store, if it has one.

    `trust_anchors`: a PEM file of root certificates the desk trusts ("" for none).

    A file type the reader does not handle (AVI, MTS...), a file it cannot parse as its type
    (`QuickTime.mov`, whose first box is not `ftyp`) or a file without a manifest gives
    `summary=None`; a manifest store that is there but broken (the reader's Verify, Json,
    AssertionNotFound... errors) gives state `unreadable`. Never raises for the file's
    content: a bad manifest is a finding, not a failure of the triage.
    """
    import c2pa  # 0.06 s: only when a file is probed

    err = c2pa.C2paError
    try:
        reader = c2pa.Reader.try_create(str(path), None, None, _context(c2pa, trust_anchors))
    except (err.NotSupported, err.Other, err.Io, err.FileNotFound, err.ManifestNotFound):
        return CredentialsRead(None)  # nothing to read here, or not as a C2PA asset
    except err as exc:
        text = _first(exc)
        if text.startswith("Remote"):  # "Remote: must fetch remote manifests from url ..."
            found = REMOTE_URL.search(text)
            url = found.group(1) if found else None
            return CredentialsRead(ContentCredentials("remote", problems=(text,), remote_url=url))
        return CredentialsRead(ContentCredentials("unreadable", problems=(text,)))
    if reader is None:
        return CredentialsRead(None)
    with reader:
        report = json.loads(reader.json())
        state = (reader.get_validation_state() or "").lower()
    return CredentialsRead(summarise(report, state), report)


def warm_up() -> None:
    """Run the reader's one-time set-up now (Python's MIME database, the list of supported
    types: ~6 ms), so the probe's children, forked afterwards, start with it done
    (`bounded.py`). The contexts are dropped: c2pa refuses one made in another process
    ("Context is not valid"), so each child makes its own (0.5 ms)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "warm.jpg"
        path.write_bytes(b"\xff\xd8\xff\xd9")
        read_credentials(path)
    _contexts.clear()


def signed_thumbnail(path: Path, max_bytes: int = 4 << 20) -> bytes | None:
    """The thumbnail the signer embedded in the active manifest: the picture as it was signed.

    Beside the keyframes it shows at a glance what changed when the credentials are `invalid`.
    None when there is no manifest or no thumbnail, or it is larger than `max_bytes`. Read
    without validating (the probe did that): validation hashes the whole file again, ~0.13 s
    per 100 MB. Triage keeps it as a derived file (`steps/credentials.py`), so reports never
    open the evidence for it.
    """
    import io

    import c2pa

    try:
        reader = c2pa.Reader.try_create(str(path), None, None, _context(c2pa, "", validate=False))
        if reader is None:
            return None
        with reader:
            uri = (_active(json.loads(reader.json())).get("thumbnail") or {}).get("identifier")
            if not uri:
                return None
            out = io.BytesIO()
            reader.resource_to_stream(uri, out)
    except c2pa.C2paError:
        return None
    data = out.getvalue()
    return data if 0 < len(data) <= max_bytes else None


def read_signed_thumbnail(path: Path, *, time_s: float, memory_mb: int) -> bytes | None:
    """`signed_thumbnail`, bounded like the probe's parsers: it parses the file's manifest
    store again, so it runs in a child process with a time and a memory limit (`bounded.py`).

    Raises:
        ProbeError: the reader hit a limit or its process died (the limit is named).
    """
    from . import bounded

    stage = bounded.Stage(THUMBNAIL_STAGE, signed_thumbnail, (path,))
    outcome = bounded.run_stages([stage], time_s=time_s, memory_mb=memory_mb)
    for hit in outcome.hits:
        raise ProbeError(f"the C2PA thumbnail was not read: {hit.limit} limit ({hit.detail})")
    value = outcome.values.get(THUMBNAIL_STAGE)
    return value if isinstance(value, bytes) else None


def check_trust_anchors(trust_anchors: str) -> None:
    """Raise ConfigError now if the anchors file is unusable (callers check before work starts,
    so a bad setting is one line, not one per file)."""
    if trust_anchors:
        import c2pa

        _context(c2pa, trust_anchors)


def _context(c2pa: Any, trust_anchors: str, *, validate: bool = True) -> Any:
    """The reader's context: every network use off, the desk's trust anchors if any, and
    validation after reading unless `validate` is false (one per such pair and process).

    Raises:
        ConfigError: the anchors file cannot be read.
    """
    key = (trust_anchors, validate)
    if key not in _contexts:
        settings: dict[str, Any] = {
            "verify": {**OFFLINE["verify"], "verify_after_reading": validate}
        }
        if trust_anchors:
            try:
                pem = Path(trust_anchors).expanduser().read_text("ascii")
            except (OSError, UnicodeError) as exc:
                raise ConfigError(
                    f"probe.c2pa_trust_anchors: cannot read {trust_anchors}: {exc}"
                ) from None
            settings["trust"] = {"trust_anchors": pem}
            settings["verify"]["verify_trust"] = True
        try:
            _contexts[key] = c2pa.Context(settings=c2pa.Settings.from_dict(settings))
        except c2pa.C2paError as exc:
            raise ConfigError(
                f"probe.c2pa_trust_anchors: {trust_anchors} is not a PEM certificate list: "
                f"{_first(exc)}"
            ) from None
    return _contexts[key]


def _active(report: dict[str, Any]) -> dict[str, Any]:
    """The active manifest of a reader report ({} when there is none)."""
    manifests = report.get("manifests") or {}
    return manifests.get(report.get("active_manifest") or "") or {}


def summarise(report: dict[str, Any], state: str) -> ContentCredentials:
    """The active manifest of a reader report (`Reader.json()`), with its validation state."""
    manifests = report.get("manifests") or {}
    active = _active(report)
    sig = active.get("signature_info") or {}
    actions = [_action(a) for a in _actions(active)]
    # every manifest of the store: an edit of an AI picture declares its source type only in
    # the parent's manifest (an ingredient), not in its own "opened" action
    declared = [_action(a) for m in manifests.values() for a in _actions(m)]
    sources = tuple(
        dict.fromkeys(a["digital_source_type"] for a in declared if a.get("digital_source_type"))
    )
    codes = [s.get("code", "") for s in report.get("validation_status") or []]
    problems = tuple(c for c in codes if c and c not in UNTRUSTED_ONLY)
    if state not in ("valid", "trusted", "invalid"):
        state = "invalid" if problems else "valid"
    return ContentCredentials(
        state=state,
        signer=sig.get("common_name"),
        issuer=sig.get("issuer"),
        signed_at=sig.get("time"),
        generator=_generator(active),
        title=active.get("title"),
        actions=tuple(actions),
        source_types=sources,
        ai_generated=any(s in AI_SOURCE_TYPES for s in sources),
        ai_declared_by=tuple(
            dict.fromkeys(
                a["software_agent"]
                for a in declared
                if a["digital_source_type"] in AI_SOURCE_TYPES and a["software_agent"]
            )
        ),
        problems=problems,
        manifests=len(manifests),
        ingredients=tuple(_ingredient(i, manifests) for i in active.get("ingredients") or []),
    )


def _ingredient(i: dict[str, Any], manifests: dict[str, Any]) -> dict[str, Any]:
    """An asset this one was made from, and who signed that asset's own manifest if it had one."""
    m = manifests.get(i.get("active_manifest") or "") or {}
    return {
        "title": i.get("title"),
        "format": i.get("format"),
        "relationship": i.get("relationship"),
        "signer": (m.get("signature_info") or {}).get("common_name"),
        "generator": _generator(m) if m else None,
    }


def _actions(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for a in manifest.get("assertions") or []:
        if str(a.get("label", "")).startswith("c2pa.actions"):
            out += (a.get("data") or {}).get("actions") or []
    return out


def _action(a: dict[str, Any]) -> dict[str, Any]:
    agent = a.get("softwareAgent")
    if isinstance(agent, dict):  # claim v2: {"name": ..., "version": ...}
        agent = " ".join(str(agent[k]) for k in ("name", "version") if agent.get(k))
    source = str(a.get("digitalSourceType") or "").rsplit("/", 1)[-1] or None
    return {
        "action": a.get("action"),
        "software_agent": agent,
        "digital_source_type": source,
        "when": a.get("when"),
    }


def _generator(manifest: dict[str, Any]) -> str | None:
    info = manifest.get("claim_generator_info") or []
    if info and isinstance(info[0], dict) and info[0].get("name"):
        first = info[0]
        return " ".join(str(first[k]) for k in ("name", "version") if first.get(k))
    gen = manifest.get("claim_generator")
    return str(gen) if gen else None


def _first(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

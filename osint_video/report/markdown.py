"""Markdown renderings of a clip report and a case report, for pasting into a ticket.

Ticket systems render Markdown *and* inline HTML, so every string from the file or the desk is
escaped here: HTML specials become entities, Markdown specials get a backslash, newlines become
spaces (a table row stays one row). Images are not embedded: a ticket links the HTML report.
"""

from __future__ import annotations

import re
from typing import Any

from ..models import describe_credentials
from .text import first_seen, osm_link, timecode

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")  # what changes meaning mid-line or in a table


def esc(value: Any) -> str:
    """Text safe in a Markdown paragraph or table cell; None is an em dash."""
    if value is None:
        return "\u2014"
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = " ".join(str(value).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", text)


def _source_name(a: dict[str, Any]) -> str | None:
    """The file name an acquisition was given as, and a symbolic link's target after it."""
    name = a.get("source_name")
    target = a.get("link_target_name")
    return f"{name} (symbolic link to {target})" if target else name


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return out + [""]


def _summary(r: dict[str, Any]) -> list[str]:
    media, meta = r["media"], r["metadata"]
    loc = meta["location"]
    where = f"{loc['lat']:.6f}, {loc['lon']:.6f} ({osm_link(loc)})" if loc else None
    verdict = (r.get("verdict") or {}).get("value")
    sig = r.get("signature")
    facts = [
        ["Status", r["status"]],
        *([["Failed", r["error"]]] if r.get("error") else []),
        ["Verdict", verdict],
        ["File", f"{r['clip']['filename']} ({r['clip']['size_bytes']:,} bytes)"],
        ["SHA-256", r["clip"]["sha256"]],
        ["Duration", timecode(media["duration_s"]) if media["duration_s"] is not None else None],
        ["Pixels", f"{media['width']} x {media['height']}" if media["width"] else None],
        ["Codec", media["codec"]],
        ["Created", meta["creation_time"]],
        ["Location", where],
        ["Device", f"{meta['make'] or '-'} / {meta['model'] or '-'}"],
        [
            "Content Credentials",
            describe_credentials(cc) if (cc := meta.get("content_credentials")) else None,
        ],
        ["Report signed", f"Ed25519 {sig['key_fingerprint']}" if sig else "not signed"],
    ]
    return ["## Summary", "", *_table(["Fact", "Value"], facts)]


SENSES = {
    "picture": "picture",
    "both": "picture and sound",
    "sound": "sound only (shares sound with)",
}


def _sections(r: dict[str, Any]) -> list[str]:
    out = ["## Anomalies", ""]
    anomalies = [[a["severity"], a["code"], a["message"]] for a in r["anomalies"]]
    out += _table(["Severity", "Code", "Message"], anomalies) if anomalies else ["None.", ""]
    out += ["## Acquisitions", ""]
    out += _table(
        ["At (UTC)", "Operator", "Case", "Source file", "Source URL"],
        [
            [a["at"], a["operator"], a["case"], _source_name(a), a["source_url"]]
            for a in r["acquisitions"]
        ],
    )
    out += ["## Seen before", ""]
    first = first_seen(r.get("matches") or [])
    if first is not None:
        where = f" from {esc(first['source_url'])}" if first.get("source_url") else ""
        name = f" ({esc(first['filename'])})" if first.get("filename") else ""
        out += [
            f"First seen as clip #{esc(first['clip_id'])}{name}, acquired "
            f"{esc(first['earliest_acquired_at'])}{where}.",
            "",
        ]
    matches = [
        [
            m.get("clip_id"),
            m.get("sha256"),
            f"{m.get('score')}" + (" (mirrored)" if m.get("mirrored") else ""),
            SENSES.get(m.get("modality", "picture"), m.get("modality")),
            m.get("earliest_acquired_at"),
        ]
        for m in r.get("matches") or []
    ]
    out += (
        _table(["Clip", "SHA-256", "Score", "Senses", "Earliest acquired"], matches)
        if matches
        else ["No earlier clip shares footage with this one.", ""]
    )
    later = [
        [m.get("clip_id"), m.get("filename"), m.get("source_url"), m.get("first_acquired_at")]
        for m in r.get("seen_later") or []
    ]
    if later:
        out += ["## Seen later", ""]
        out += _table(["Clip", "File", "Source URL", "First acquired"], later)
    out += ["## Sound", ""]
    snd = r.get("sound")
    tracks = [
        [
            t["order"] + 1,
            t["codec"],
            t["channels"],
            t["sample_rate"],
            t["start_s"],
            t["duration_s"],
            f"{t['fingerprint']} ({t['informative']}/{t['items']} informative)",
        ]
        for t in (snd or {}).get("tracks") or []
    ]
    out += (
        _table(
            ["Track", "Codec", "Channels", "Rate", "Starts (s)", "Lasts (s)", "Fingerprint"], tracks
        )
        if tracks
        else ["No audio track." if snd else "Not analysed.", ""]
    )
    out += ["## On-screen text", ""]
    texts = [
        [
            f"{timecode(t['start_s'])}-{timecode(t['end_s'])}",
            t["text"],
            t["language"],
            f"keyframe {t['keyframe']}" if t["keyframe"] is not None else timecode(t["time_s"]),
            f"{100 * t['confidence']:.0f}%",
        ]
        for t in r.get("onscreen_text") or []
    ]
    out += (
        _table(["On screen", "Text", "Language", "Read from", "Confidence"], texts)
        if texts
        else ["None read.", ""]
    )
    out += ["## Keyframes", ""]
    out += _table(
        ["#", "Time", "Shot", "pHash", "dHash", "Duplicate of"],
        [
            [
                k["id"],
                timecode(k["time_s"]),
                k["shot"],
                k["hashes"]["phash"],
                k["hashes"]["dhash"],
                k["duplicate_of"],
            ]
            for k in r["keyframes"]
        ],
    )
    out += ["## Chain of custody", ""]
    out += _table(
        ["#", "At (UTC)", "Who", "Action", "Hash"],
        [[e["seq"], e["at"], e["actor"], e["action"], e.get("hash")] for e in r["custody"]],
    )
    return out


def render_markdown(report: dict[str, Any]) -> str:
    """A clip report as Markdown (validated JSON in, text out)."""
    r = report
    head = [
        f"# Provenance report: {esc(r['clip']['filename'])}",
        "",
        f"Clip {esc(r['clip']['id'])}, generated {esc(r['generated_at'])} by "
        f"{esc(r['tool']['name'])} {esc(r['tool']['version'])}, report schema "
        f"{esc(r['schema_version'])}.",
        "",
    ]
    return "\n".join(head + _summary(r) + _sections(r))


def render_case_markdown(case: dict[str, Any]) -> str:
    """A case report as Markdown: one row per clip."""
    rows = [
        [
            c["id"],
            c["filename"],
            c["status"],
            c["verdict"],
            "; ".join(f"{a['code']} ({a['severity']})" for a in c["key_anomalies"]) or None,
            len(c["matches"]),
            c["sha256"],
        ]
        for c in case["clips"]
    ]
    head = [
        f"# Case report: {esc(case['case'])}",
        "",
        f"{len(case['clips'])} clip(s), generated {esc(case['generated_at'])}.",
        "",
    ]
    return "\n".join(
        head
        + _table(
            ["Clip", "File", "Status", "Verdict", "Key anomalies", "Seen before", "SHA-256"], rows
        )
    )

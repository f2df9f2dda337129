"""A clip's verdict from its clip-level annotations, and the status rule it drives.

Each annotator counts once, with their latest valid clip-level annotation that has a verdict.
The value is the most frequent one (ties go to the more serious value: manipulated,
misattributed, unverifiable, authentic), `agreement` the fraction of annotators on it and
`confidence` the mean rating (1-5) of those annotators. The rule (configurable in [annotate]):

- fewer than `min_annotators` annotators: no decision, the clip stays in_review;
- at least `min_agreement` of them on one value: the status named for it
  (`status_authentic` verified, `status_manipulated` / `status_misattributed` rejected,
  `status_unverifiable` disputed by default);
- otherwise `status_disagreement` (disputed).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from ..config import AnnotateConfig
from ..store.annotations import Stored

VALUES = ("manipulated", "misattributed", "unverifiable", "authentic")  # tie-break order


@dataclass(frozen=True)
class Verdict:
    value: str
    confidence: float | None
    annotators: list[str]
    agreement: float


def _choice(a: Stored, field: str) -> str | int | float | None:
    for item in a.result:
        if isinstance(item, dict) and item.get("from_name") == field:
            value = item.get("value") or {}
            if field == "verdict":
                got = value.get("choices") or []
                return got[0] if got else None
            return value.get("rating")
    return None


def latest_per_annotator(annotations: list[Stored]) -> dict[str, Stored]:
    """Each annotator's most recent valid clip-level annotation carrying a verdict."""
    out: dict[str, Stored] = {}
    ordered = sorted(annotations, key=lambda a: (a.updated_at or "", a.ls_id))
    for a in ordered:
        if a.kind == "clip" and a.valid and _choice(a, "verdict") in VALUES:
            out[a.annotator] = a
    return out


def compute(annotations: list[Stored]) -> Verdict | None:
    """The verdict of one clip's annotations, or None when no valid verdict exists."""
    per = latest_per_annotator(annotations)
    if not per:
        return None
    votes = Counter(str(_choice(a, "verdict")) for a in per.values())
    top = max(votes.values())
    value = next(v for v in VALUES if votes.get(v) == top)
    ratings = [
        float(r)
        for a in per.values()
        if _choice(a, "verdict") == value and isinstance(r := _choice(a, "confidence"), int | float)
    ]
    confidence = round(sum(ratings) / len(ratings), 2) if ratings else None
    return Verdict(value, confidence, sorted(per), round(top / len(per), 4))


def decide(verdict: Verdict | None, cfg: AnnotateConfig) -> str | None:
    """The status the rule gives, or None (not enough annotators: stays in_review)."""
    if verdict is None or len(verdict.annotators) < max(1, cfg.min_annotators):
        return None
    if verdict.agreement + 1e-9 >= cfg.min_agreement:
        return str(getattr(cfg, f"status_{verdict.value}"))
    return cfg.status_disagreement

"""The verdict rule and annotation validation, on stored annotations (no server needed)."""

from __future__ import annotations

import dataclasses

import pytest

from osint_video.annotate.validate import problems, values
from osint_video.annotate.verdict import compute, decide
from osint_video.config import AnnotateConfig
from osint_video.store.annotations import Stored

TO = {"to_name": "contact_sheet"}


def ann(who: str, value: str, rating: int | None = 4, *, at: str = "2026-01-01", ls_id: int = 1,
        valid: bool = True, kind: str = "clip") -> Stored:  # fmt: skip
    result = [{"from_name": "verdict", "type": "choices", "value": {"choices": [value]}, **TO}]
    if rating is not None:
        result.append({"from_name": "confidence", "type": "rating", "value": {"rating": rating},
                       **TO})  # fmt: skip
    return Stored(ls_id, 1, 1, 1, kind, None, who, at, at, 3.0, result, valid, [])


CFG = AnnotateConfig()


def test_two_agreeing_annotators_verify() -> None:
    v = compute([ann("a", "authentic", 4), ann("b", "authentic", 5)])
    assert v is not None and (v.value, v.agreement, v.confidence) == ("authentic", 1.0, 4.5)
    assert v.annotators == ["a", "b"] and decide(v, CFG) == "verified"


@pytest.mark.parametrize("value", ["manipulated", "misattributed"])
def test_agreeing_on_a_fake_rejects(value: str) -> None:
    assert decide(compute([ann("a", value), ann("b", value)]), CFG) == "rejected"


def test_one_annotator_decides_nothing_and_disagreement_disputes() -> None:
    assert decide(compute([ann("a", "authentic")]), CFG) is None
    v = compute([ann("a", "authentic"), ann("b", "manipulated")])
    assert v is not None and v.value == "manipulated" and v.agreement == 0.5  # tie: the serious one
    assert decide(v, CFG) == "disputed"


def test_rule_is_configurable() -> None:
    lax = dataclasses.replace(CFG, min_annotators=1, min_agreement=0.6)
    assert decide(compute([ann("a", "authentic")]), lax) == "verified"
    v = compute([ann("a", "authentic"), ann("b", "authentic"), ann("c", "manipulated")])
    assert decide(v, lax) == "verified" and decide(v, CFG) == "disputed"


def test_latest_annotation_per_annotator_counts_and_invalid_ones_do_not() -> None:
    old = ann("a", "manipulated", at="2026-01-01", ls_id=1)
    new = ann("a", "authentic", at="2026-01-02", ls_id=2)
    bad = ann("b", "manipulated", valid=False, ls_id=3)
    frame = ann("c", "manipulated", kind="keyframe", ls_id=4)
    v = compute([new, old, bad, frame])
    assert v is not None and v.annotators == ["a"] and v.value == "authentic"
    assert compute([bad]) is None


def test_validation_names_every_problem() -> None:
    result = [
        {"from_name": "verdict", "type": "choices", "value": {"choices": ["fake"]}, **TO},
        {"from_name": "confidence", "type": "rating", "value": {"rating": 9}, **TO},
        {"from_name": "mood", "type": "choices", "value": {"choices": ["x"]}, **TO},
        {"from_name": "rationale", "type": "choices", "value": {"choices": ["x"]}, **TO},
    ]
    got = problems("clip", result)
    assert len(got) == 4
    assert "'fake'" in got[0] and "rating 9" in got[1] and "'mood'" in got[2]
    assert "TextArea" in got[3]
    ok = [{"from_name": "objects", "to_name": "image", "type": "rectanglelabels",
           "value": {"x": 1, "y": 1, "width": 2, "height": 2, "rectanglelabels": ["drone"]}},
          {"from_name": "transcription", "to_name": "image", "type": "textarea",
           "value": {"text": ["ЦЕЛЬ"]}}]  # fmt: skip
    assert problems("keyframe", ok) == []
    assert values(ok) == {"objects": ["drone"], "transcription": ["ЦЕЛЬ"]}

"""Label Studio configs in annotations/ validated offline with the SDK's own LabelInterface."""

from __future__ import annotations

from pathlib import Path

import pytest
from label_studio_sdk.label_interface import LabelInterface

CONFIGS = Path(__file__).resolve().parents[1] / "annotations"
OBJECTS = {
    "helicopter",
    "fixed-wing aircraft",
    "drone",
    "armoured vehicle",
    "truck",
    "person",
    "weapon flash/explosion",
    "smoke",
    "building",
    "insignia/marking",
    "on-screen text",
    "landmark",
}


@pytest.mark.parametrize("name", ["keyframe.xml", "clip.xml"])
def test_config_validates(name: str) -> None:
    LabelInterface((CONFIGS / name).read_text()).validate()


def test_keyframe_config_has_the_desk_vocabulary() -> None:
    li = LabelInterface((CONFIGS / "keyframe.xml").read_text())
    assert set(li.get_control("objects").labels) == OBJECTS
    assert set(li.get_control("flags").labels) == {
        "edited/manipulated",
        "recycled/old footage",
        "misattributed place",
        "synthetic/AI",
        "graphic",
    }
    assert {"transcription", "text_language", "location_clues", "notes"} <= {
        c.name for c in li.controls
    }


def test_clip_config_verdicts() -> None:
    li = LabelInterface((CONFIGS / "clip.xml").read_text())
    assert set(li.get_control("verdict").labels) == {
        "authentic",
        "manipulated",
        "misattributed",
        "unverifiable",
    }


def test_broken_config_is_rejected() -> None:
    bad = (CONFIGS / "keyframe.xml").read_text().replace('toName="image"', 'toName="nothing"', 1)
    with pytest.raises(Exception):  # noqa: B017 - the SDK raises a bare Exception subclass
        LabelInterface(bad).validate()

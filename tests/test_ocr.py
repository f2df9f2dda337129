"""OCR pre-annotations on real keyframes: ffmpeg burns text in, the keyframe step writes PNGs,
real tesseract reads them, and the predictions must fit `annotations/keyframe.xml`."""

from __future__ import annotations

import copy
import dataclasses
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import REPO, missing
from label_studio_sdk.label_interface import LabelInterface
from PIL import ImageFont

from osint_video.config import KeyframesConfig, OcrConfig, load_config
from osint_video.errors import ConfigError, OcrError
from osint_video.keyframes.extract import extract_keyframes
from osint_video.models import MediaInfo
from osint_video.ocr import (
    PageText,
    Word,
    guess_language,
    predictions,
    read_many,
    read_text,
    to_prediction,
)
from osint_video.ocr.words import merge_passes

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
W, H, SIZE, X, Y = 1280, 720, 56, 160, 480
PHRASES = {
    "ru": "ЦЕЛЬ ЗАХВАЧЕНА",
    "uk": "ВОГОНЬ ПО ЦІЛІ",
    "en": "TARGET ACQUIRED",
    "ru_small": "ОГОНЬ ПО ГОТОВНОСТИ",
    "none": "",
}
OUTLINED = f"x={X}:y={Y}:fontsize={SIZE}:fontcolor=white:borderw=3:bordercolor=black"
# small caption on a half-transparent dark box in a corner, like a channel's overlay
BOXED = "x=700:y=80:fontsize=28:fontcolor=white:box=1:boxcolor=black@0.6:boxborderw=6"


def _clip(path: Path, text: str, style: str) -> Path:
    """2 s of the moving colour-bar pattern with `text` burned in (white, outlined or boxed)."""
    draw = f",drawtext=fontfile={FONT}:text='{text}':{style}" if text else ""
    argv = ["ffmpeg", "-y", "-loglevel", "error", "-f", "lavfi"]
    argv += ["-i", f"testsrc2=size={W}x{H}:rate=25:duration=2{draw}"]
    argv += ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", str(path)]
    subprocess.run(argv, check=True, capture_output=True, timeout=120)
    return path


@pytest.fixture(scope="module")
def cfg() -> OcrConfig:
    if shutil.which("tesseract") is None:
        missing("the tesseract binary (Debian package tesseract-ocr)")
    return load_config(environ={}).ocr


@pytest.fixture(scope="module")
def frames(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    """Keyframe PNGs of each clip, as the keyframe step writes them."""
    root = tmp_path_factory.mktemp("ocr")
    out = {}
    for name, text in PHRASES.items():
        style = BOXED if name == "ru_small" else OUTLINED
        clip = _clip(root / f"{name}.mp4", text, style)
        kf = extract_keyframes(clip, MediaInfo(kind="video"), root / name, KeyframesConfig())
        out[name] = [Path(k.path) for k in kf.keyframes]
        assert out[name], f"{name}: no keyframe"
    return out


@pytest.fixture(scope="module")
def pages(cfg: OcrConfig, frames: dict[str, list[Path]]) -> dict[str, list[PageText]]:
    """Every keyframe of every clip, read in one parallel batch."""
    flat = [p for name in PHRASES for p in frames[name]]
    done: list[float] = []
    read = iter(read_many(flat, cfg, progress=done.append))
    assert done[-1] == 1.0
    return {name: [next(read) for _ in frames[name]] for name in PHRASES}


@pytest.mark.parametrize("name", ["ru", "uk", "en", "ru_small"])
def test_burned_in_text_is_read_with_its_language(pages, name):
    for page in pages[name]:
        assert PHRASES[name] in page.text, page.text
        assert page.language == name[:2]
        assert page.score > 0.8
        assert page.model_version.startswith("tesseract-5")
        assert "rus+ukr+eng psm11" in page.model_version


def test_frame_without_text_gives_no_prediction(pages):
    for page in pages["none"]:
        assert page.words == () and page.text == "" and page.language is None
        assert to_prediction(page) is None


def test_word_boxes_land_where_the_text_was_drawn(pages):
    font = ImageFont.truetype(FONT, SIZE)
    left, top, right, bottom = font.getbbox(PHRASES["ru"])
    for page in pages["ru"]:
        boxes = [
            r["value"] for r in to_prediction(page)["result"] if r["type"] == "rectanglelabels"
        ]
        assert len(boxes) == len(page.words) == 2
        x0 = min(b["x"] for b in boxes) * W / 100
        x1 = max(b["x"] + b["width"] for b in boxes) * W / 100
        y0 = min(b["y"] for b in boxes) * H / 100
        y1 = max(b["y"] + b["height"] for b in boxes) * H / 100
        assert abs(x0 - (X + left)) <= 8 and abs(x1 - (X + right)) <= 8, (x0, x1)
        assert abs(y0 - (Y + top)) <= 12 and abs(y1 - (Y + bottom)) <= 12, (y0, y1)


def test_prediction_validates_against_the_keyframe_config(pages):
    li = LabelInterface((REPO / "annotations" / "keyframe.xml").read_text())
    pred = to_prediction(pages["uk"][0])
    assert pred is not None and 0.8 < pred["score"] <= 1
    assert li.validate_prediction(pred, return_errors=True) == []
    by_type = {r["type"]: r for r in pred["result"]}
    assert by_type["textarea"]["value"]["text"] == [pages["uk"][0].text]
    assert by_type["choices"]["value"]["choices"] == ["uk"]
    assert by_type["rectanglelabels"]["value"]["rectanglelabels"] == ["on-screen text"]
    spoiled = copy.deepcopy(pred)
    spoiled["result"][-1]["value"]["choices"] = ["de"]
    assert li.validate_prediction(spoiled) is False  # the check can fail


def test_read_many_matches_one_by_one(pages, frames, cfg):
    assert read_text(frames["uk"][-1], cfg) == pages["uk"][-1]


def test_batch_predictions_and_switching_ocr_off(frames, cfg, tmp_path, monkeypatch):
    paths = [frames["en"][0], frames["none"][0]]
    en, none = predictions(paths, cfg)
    assert en is not None and en["result"][-1]["value"]["choices"] == ["en"] and none is None
    monkeypatch.setenv("PATH", str(tmp_path))  # no tesseract needed when OCR is off
    assert predictions(paths, dataclasses.replace(cfg, enabled=False)) == [None, None]


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("ЦЕЛЬ ЗАХВАЧЕНА", "ru"),
        ("Огонь по готовности", "ru"),  # no Russian-only letter: Cyrillic defaults to ru
        ("Съёмка запрещена", "ru"),
        ("ВОГОНЬ ПО ЦІЛІ", "uk"),
        ("Працюємо", "uk"),
        ("Ґанок і їжак", "uk"),
        ("TARGET ACQUIRED", "en"),
        ("Жыве Беларусь, ўсё", "other"),
        ("00:12:31", None),
        ("", None),
    ],
)
def test_language_from_letters(text, lang):
    assert guess_language(text) == lang


def test_missing_language_pack_names_the_debian_package(cfg, frames):
    with pytest.raises(OcrError, match="tesseract-ocr-xyz"):
        read_text(frames["ru"][0], dataclasses.replace(cfg, languages="rus+xyz"))


def test_missing_tesseract_names_the_debian_package(cfg, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(OcrError, match="apt-get install -y tesseract-ocr "):
        read_many([tmp_path / "x.png"], cfg)


def test_bad_input_is_a_clear_error(cfg, tmp_path):
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not a png")
    with pytest.raises(OcrError, match="junk.png"):
        read_text(junk, cfg)
    with pytest.raises(ConfigError, match="ocr.preprocess"):
        read_text(junk, dataclasses.replace(cfg, preprocess=("bright", "sharpen")))


def test_real_footage_counter_overlay_and_textless_clip(shared_media, cfg, tmp_path):
    """counter.mp4 burns "Frame = N" (1-based) into each frame; fire2.mp4 has no text at all."""
    kf = extract_keyframes(
        shared_media / "counter.mp4", MediaInfo(kind="video"), tmp_path / "c", KeyframesConfig()
    )
    fire = extract_keyframes(
        shared_media / "fire2.mp4", MediaInfo(kind="video"), tmp_path / "f", KeyframesConfig()
    )
    paths = [Path(k.path) for k in kf.keyframes + fire.keyframes]
    pages = read_many(paths, cfg)
    for k, page in zip(kf.keyframes, pages[: len(kf.keyframes)], strict=True):
        shown = re.search(r"Frame\D{0,3}(\d+)", page.text)
        assert shown and int(shown.group(1)) == k.frame + 1, page.text
        assert "PTS" in page.text and page.language == "en"
    assert [p.text for p in pages[len(kf.keyframes) :]] == [""] * len(fire.keyframes)


def test_a_gray_pass_adds_black_on_white_captions(cfg, tmp_path):
    """ "bright" alone cannot see black ink; adding a "gray" pass reads it, and only once."""
    still = tmp_path / "caption.png"
    style = "x=160:y=480:fontsize=40:fontcolor=black:box=1:boxcolor=white:boxborderw=8"
    draw = f"drawtext=fontfile={FONT}:text='{PHRASES['ru']}':{style}"
    argv = ["ffmpeg", "-y", "-loglevel", "error", "-f", "lavfi", "-i"]
    argv += [f"testsrc2=size={W}x{H}:rate=25", "-vf", draw, "-frames:v", "1", str(still)]
    subprocess.run(argv, check=True, capture_output=True, timeout=60)
    assert read_text(still, cfg).text == ""
    both = read_text(still, dataclasses.replace(cfg, preprocess=("bright", "gray")))
    assert both.text.count(PHRASES["ru"]) == 1 and both.language == "ru"
    assert both.model_version.endswith("psm11 bright180+gray")


def test_merging_passes_keeps_the_fuller_reading_of_each_spot():
    frag = [Word("ЦЕЛ", 96, 100, 100, 90, 40)]
    full = [Word("ЦЕЛЬ", 95, 98, 100, 100, 40), Word("ЗАХВАЧЕНА", 96, 220, 100, 260, 40)]
    corner = [Word("25", 90, 0, 0, 20, 10)]
    merged = merge_passes([[frag], [full, corner]])
    assert merged == [corner, full]
    assert merge_passes([[full], [frag]]) == [full]
    assert merge_passes([[frag, corner]]) == [frag, corner]  # one pass: unchanged

"""On-screen text found before it is read: localisation, preparation, batched reading and the
text layer followed over samples, on real footage (a frame of ../shared/media/testvideo.mp4)
with captions drawn on it by Pillow, and read by the real tesseract."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import missing
from PIL import Image, ImageDraw, ImageFont

from osint_video.config import OcrConfig, load_config
from osint_video.ocr.language import cyrillic_lookalikes
from osint_video.ocr.layer import TextLayer, ink_differs
from osint_video.ocr.lines import read_prepared
from osint_video.ocr.regions import Prepared, TextBox, locate_lines, prepare

BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
CAPTION = "ВНИМАНИЕ! КОЛОННА НА ДОРОГЕ"
CORNER = "Курская обл. 14.08"
BANNER = "ОГОНЬ ПО ГОТОВНОСТИ"


@pytest.fixture(scope="module")
def cfg() -> OcrConfig:
    if shutil.which("tesseract") is None:
        missing("the tesseract binary (Debian package tesseract-ocr)")
    return load_config(environ={}).ocr


@pytest.fixture(scope="module")
def photos(shared_media: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Image.Image]:
    """Real frames, 1280x720: a sunlit rock (bright and dark areas; the footage carries its
    author's copyright line at the bottom), foliage, a cup on a table, another of the rock."""
    out = []
    clips = (("testvideo.mp4", "3"), ("big_buck_bunny_0_30.webm", "5"), ("cup.mp4", "2"))
    for name, at in (*clips, ("testvideo.mp4", "12")):
        png = tmp_path_factory.mktemp("photo") / "frame.png"
        argv = ["ffmpeg", "-v", "error", "-ss", at, "-i", str(shared_media / name)]
        argv += ["-vf", "scale=1280:720", "-frames:v", "1", str(png)]
        subprocess.run(argv, check=True, timeout=60)
        out.append(Image.open(png).convert("RGB"))
    return out


def _caption(
    photo: Image.Image,
    text: str,
    xy: tuple[int, int],
    size: int,
    *,
    box: bool,
    dark: bool = False,
    alpha: int = 100,
) -> tuple[Image.Image, TextBox]:
    """`text` drawn on a copy of `photo`: white on a half-transparent black box (the usual
    overlay), or black on a light banner (`dark`); returns the picture and the text's box."""
    font = ImageFont.truetype(BOLD, size)
    img = photo.convert("RGBA")
    layer = Image.new("RGBA", img.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    left, top, right, bottom = draw.textbbox(xy, text, font=font)
    if box or dark:
        fill = (235, 235, 225, 230) if dark else (0, 0, 0, alpha)
        draw.rectangle((left - 10, top - 10, right + 10, bottom + 10), fill=fill)
    draw.text(xy, text, font=font, fill=(10, 10, 10, 255) if dark else (255, 255, 255, 255))
    out = Image.alpha_composite(img, layer).convert("RGB")
    return out, TextBox(left, top, right - left, bottom - top)


def _gray(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("L"))


def _read(gray: np.ndarray, cfg: OcrConfig) -> list[tuple[Prepared, str]]:
    lines = [p for p in (prepare(gray, b) for b in locate_lines(gray)) if p is not None]
    words = read_prepared(lines, cfg) if lines else []
    return [
        (p, " ".join(cyrillic_lookalikes([w.text for w in ws])))
        for p, ws in zip(lines, words, strict=True)
    ]


def test_captions_over_real_footage_are_found_and_read(
    photos: list[Image.Image], cfg: OcrConfig
) -> None:
    """White on a half-transparent box across a bright and a dark area, small white text
    without a box, and black text on a light banner: all three read word for word."""
    rock = photos[0]
    img, cap_box = _caption(rock, CAPTION, (280, 500), 36, box=True)
    img, corner_box = _caption(img, CORNER, (40, 40), 24, box=False)
    img, banner_box = _caption(img, BANNER, (330, 140), 40, box=False, dark=True)
    found = _read(_gray(img), cfg)
    texts = [t for _p, t in found if t]
    assert CAPTION in texts
    assert any(CORNER in t for t in texts)
    assert BANNER in texts
    where = {t: p for p, t in found}
    assert where[CAPTION].box.nested(cap_box, 0.9)
    assert where[BANNER].box.nested(banner_box, 0.9)
    assert where[CAPTION].light and not where[BANNER].light


def test_word_boxes_come_back_in_frame_pixels(photos: list[Image.Image], cfg: OcrConfig) -> None:
    img, drawn = _caption(photos[1], CAPTION, (200, 560), 36, box=True)
    gray = _gray(img)
    lines = [p for p in (prepare(gray, b) for b in locate_lines(gray)) if p is not None]
    words = [w for ws in read_prepared(lines, cfg) for w in ws if w.conf >= 80]
    assert {w.text for w in words} >= {"ВНИМАНИЕ!", "КОЛОННА", "ДОРОГЕ"}
    for w in words:
        box = TextBox(w.left, w.top, w.width, w.height)
        assert box.intersection(drawn) >= 0.8 * box.area, (w, drawn)
    left = min(w.left for w in words)
    assert abs(left - drawn.x) <= 6


def test_texture_gives_no_text(photos: list[Image.Image], cfg: OcrConfig) -> None:
    """Foliage, a cup on a table and film grain: boxes may be found, nothing is read."""
    rng = np.random.default_rng(7)
    grain = np.clip(128 + rng.normal(0, 40, (720, 1280)), 0, 255).astype(np.uint8)
    for gray in (_gray(photos[1]), _gray(photos[2]), grain):
        assert [t for _p, t in _read(gray, cfg) if t] == []


def test_the_footage_own_watermark_is_read(photos: list[Image.Image], cfg: OcrConfig) -> None:
    """testvideo.mp4 carries its author's semi-transparent line: a real clue, read as such."""
    texts = [t for _p, t in _read(_gray(photos[3]), cfg) if t]
    assert texts == ["Copyright © 2013 Brandon Castellano"]


def test_many_lines_read_in_one_batch_keep_their_order(
    photos: list[Image.Image], cfg: OcrConfig
) -> None:
    """Nothing lost, nothing shuffled: 24 lines of two scripts read in one tesseract run."""
    phrases = [f"ЦЕЛЬ {n} ЗАХВАЧЕНА" for n in range(1, 13)]
    phrases += [f"TARGET {n} ACQUIRED" for n in range(1, 13)]
    lines = []
    for i, text in enumerate(phrases):
        at = (100 + 10 * i, 520)
        lines.append(_line(*_caption(photos[i % 2], text, at, 32, box=True, alpha=170)))
    read = read_prepared(lines, cfg)
    assert [" ".join(w.text for w in ws) for ws in read] == phrases


def test_the_same_caption_on_other_frames_is_the_same_ink(photos: list[Image.Image]) -> None:
    a = _line(*_caption(photos[0], CAPTION, (280, 500), 36, box=True))
    b = _line(*_caption(photos[1], CAPTION, (282, 501), 36, box=True))
    c = _line(*_caption(photos[0], "ОГОНЬ ПО ГОТОВНОСТИ ВСЕМ", (280, 500), 36, box=True))
    assert not ink_differs(a, b)
    assert ink_differs(a, c)


def _line(img: Image.Image, drawn: TextBox) -> Prepared:
    gray = _gray(img)
    found = [p for p in (prepare(gray, b) for b in locate_lines(gray)) if p is not None]
    return max(found, key=lambda p: p.box.intersection(drawn))


def test_text_layer_keeps_lines_that_stay_and_splits_new_text(
    photos: list[Image.Image],
) -> None:
    """Samples at 4 a second: a caption for 4 samples (found in part on the second), then
    other text in the same bar for 3, a one-sample glimpse of a third (not kept: texture looks
    like this), then nothing."""
    first = _line(*_caption(photos[0], CAPTION, (280, 500), 36, box=True))
    part = _line(*_caption(photos[0], "ВНИМАНИЕ!", (280, 500), 36, box=True))
    second = _line(*_caption(photos[0], "ОГОНЬ ПО ГОТОВНОСТИ ВСЕМ", (280, 500), 36, box=True))
    glimpse = _line(*_caption(photos[0], "ПЕРЕЗАРЯДКА", (500, 100), 36, box=True))
    layer = TextLayer(min_samples=2, gap=1)
    seq = [[first], [part], [first], [first]] + [[second]] * 3 + [[glimpse]] + [[]] * 3
    for i, lines in enumerate(seq):
        layer.see(i * 0.25, lines)
    kept = layer.finish()
    assert [(s.start_s, s.end_s, s.samples) for s in kept] == [(0.0, 0.75, 4), (1.0, 1.5, 3)]
    assert kept[0].line is first and kept[0].time_s == 0.0  # the whole caption, not the part
    assert kept[1].line is second


def test_cyrillic_lookalikes() -> None:
    assert cyrillic_lookalikes(["КОЛОННА", "HA", "ДОРОГЕ"]) == ["КОЛОННА", "НА", "ДОРОГЕ"]
    assert cyrillic_lookalikes(["TARGET", "ACQUIRED"]) == ["TARGET", "ACQUIRED"]
    assert cyrillic_lookalikes(["@kursk_front", "ВНИМАНИЕ"]) == ["@kursk_front", "ВНИМАНИЕ"]

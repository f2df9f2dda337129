"""FrameHash value semantics and bit-identity with imagehash on real and generated images."""

from __future__ import annotations

import subprocess
from pathlib import Path

import av
import imagehash
import numpy as np
import pillow_heif
import pytest
from PIL import Image, ImageDraw

from osint_video.hashing.hashes import FrameHash, compute_hashes, phash_bits, texture_std

STILLS = ["Apple_iPhone_4.jpg", "ela_original.jpg", "ela_modified.jpg", "IMG_1034.heic"]
CLIPS = [
    "cup.mp4",
    "testvideo.mp4",
    "big_buck_bunny_0_30.webm",
    "fire2.mp4",
    "with-gps.mov",
    "MVI_4823.AVI",
    "Sony_ILCE-7M3_A7M3.mts",
    "counter.mp4",
    "uuid540.mp4",
]


def _reference(img: Image.Image) -> dict[str, str]:
    return {"phash": str(imagehash.phash(img)), "dhash": str(imagehash.dhash(img))}


def _assert_identical(images: list[Image.Image]) -> None:
    ours = compute_hashes(images)
    assert len(ours) == len(images)
    for img, got in zip(images, ours, strict=True):
        assert {a: h.hex for a, h in got.items()} == _reference(img), (img.size, img.mode)


def _frames(path: Path, every: int, limit: int) -> list[Image.Image]:
    out: list[Image.Image] = []
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i % every == 0:
                out.append(frame.to_image())
            if len(out) >= limit:
                break
    return out


def _ffmpeg_frame(source: str, tmp_path: Path) -> Image.Image:
    out = tmp_path / f"{source.split('=')[0]}.png"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", source, "-frames:v", "1", str(out)],
        check=True,
        timeout=60,
    )
    return Image.open(out)


def _drawing() -> Image.Image:
    img = Image.new("RGB", (200, 150), (20, 40, 60))
    draw = ImageDraw.Draw(img)
    draw.ellipse((20, 20, 120, 110), fill=(230, 200, 30))
    draw.rectangle((130, 60, 190, 140), fill=(200, 30, 30))
    draw.line((0, 149, 199, 0), fill=(255, 255, 255), width=5)
    return img


# --- the value type -------------------------------------------------------------------------


def test_str_parse_round_trip() -> None:
    h = FrameHash("phash", 64, 0xBA8C84536BD3C366)
    assert str(h) == "phash:64:ba8c84536bd3c366"
    assert FrameHash.parse(str(h)) == h
    small = FrameHash("dhash", 64, 5)
    assert str(small) == "dhash:64:0000000000000005"  # leading zeros kept: fixed width
    assert FrameHash.parse(str(small)) == small
    assert {h: 1}[FrameHash.parse("phash:64:ba8c84536bd3c366")] == 1  # hashable, exact


@pytest.mark.parametrize(
    "text",
    [
        "ba8c84536bd3c366",
        "phash:64:ba8c",
        "phash:64:zz8c84536bd3c366",
        "PHASH:64:ba8c84536bd3c366",
        "phash:0:",
        "phash:64:ba8c84536bd3c3660",
    ],
)
def test_parse_rejects_malformed(text: str) -> None:
    with pytest.raises(ValueError):
        FrameHash.parse(text)


def test_value_must_fit() -> None:
    with pytest.raises(ValueError):
        FrameHash("phash", 8, 256)
    with pytest.raises(ValueError):
        FrameHash("phash", 64, -1)


def test_distance_and_similarity() -> None:
    a = FrameHash("phash", 64, 0b1011)
    b = FrameHash("phash", 64, 0b0110)
    assert a - b == 3 == b - a
    assert a - a == 0
    assert a.similar(b, 3) and not a.similar(b, 2)
    assert a != b and a == FrameHash("phash", 64, 0b1011)
    assert FrameHash("phash", 64, 0) - FrameHash("phash", 64, (1 << 64) - 1) == 64
    with pytest.raises(ValueError):
        a.similar(b, -1)


def test_mismatched_kinds_raise() -> None:
    p = FrameHash("phash", 64, 1)
    with pytest.raises(ValueError, match="cannot compare"):
        _ = p - FrameHash("dhash", 64, 1)
    with pytest.raises(ValueError, match="cannot compare"):
        p.similar(FrameHash("phash", 256, 1), 10)
    assert p != FrameHash("dhash", 64, 1)  # same bits, other algorithm: not equal


def test_distance_agrees_with_imagehash(shared_media: Path) -> None:
    a, b = (Image.open(shared_media / n) for n in ("ela_original.jpg", "ela_modified.jpg"))
    ours = compute_hashes([a, b])
    for algo, fn in (("phash", imagehash.phash), ("dhash", imagehash.dhash)):
        assert ours[0][algo] - ours[1][algo] == fn(a) - fn(b)


# --- goldens: if these move, every stored hash in the archive is invalidated -----------------


def test_golden_hashes(tmp_path: Path) -> None:
    testsrc2 = _ffmpeg_frame("testsrc2=size=320x240:rate=25", tmp_path)
    mandelbrot = _ffmpeg_frame("mandelbrot=size=320x240:rate=25", tmp_path)
    got = [
        {a: str(h) for a, h in d.items()}
        for d in compute_hashes([testsrc2, mandelbrot, _drawing()])
    ]
    assert got == [
        {"phash": "phash:64:8c1d3e1e4e0ea9f1", "dhash": "dhash:64:e7e7e7e7e7e7e7e7"},
        {"phash": "phash:64:e4cd97921c699336", "dhash": "dhash:64:f0e6c787278dc3e6"},
        {"phash": "phash:64:c4c93f273938cad8", "dhash": "dhash:64:6be6c0d2e6c68e2e"},
    ]


# --- bit identity ---------------------------------------------------------------------------


def test_identical_on_shared_stills(shared_media: Path) -> None:
    pillow_heif.register_heif_opener()
    _assert_identical([Image.open(shared_media / name) for name in STILLS])


def test_identical_on_shared_video_frames(shared_media: Path) -> None:
    frames: list[Image.Image] = []
    for name in CLIPS:
        frames += _frames(shared_media / name, every=7, limit=6)
    assert len(frames) > 40
    _assert_identical(frames)


def test_identical_on_generated_clip(tmp_path: Path) -> None:
    from synth import make_cut_clip

    clip = make_cut_clip(
        tmp_path / "cuts.mp4",
        cuts=[10, 20, 30, 40, 50, 60, 70],
        total_frames=80,
        size=(256, 144),
        noise=8,
    )
    _assert_identical(_frames(clip, every=3, limit=30))


def test_identical_on_flat_tiny_and_odd_images() -> None:
    images = []
    for size in [
        (1, 1),
        (2, 2),
        (1, 100),
        (100, 1),
        (7, 5),
        (9, 8),
        (32, 32),
        (33, 17),
        (641, 359),
    ]:
        for value in (0, 1, 128, 255):
            images.append(Image.new("L", size, value))
        images.append(Image.new("RGB", size, (10, 200, 30)))
    for mode in ("1", "P", "RGBA", "LA", "CMYK", "I;16", "F"):
        images.append(_drawing().convert(mode))
    _assert_identical(images)


def test_identical_on_symmetric_images() -> None:
    """Mirror and transpose symmetry make DCT coefficients mathematically equal: near ties."""
    ramp = np.tile(np.arange(64, dtype=np.uint8) * 4, (64, 1))
    mirrored = np.concatenate([ramp[:, :32], ramp[:, :32][:, ::-1]], axis=1)
    checker = (np.indices((64, 64)).sum(axis=0) % 2 * 255).astype(np.uint8)
    diagonal = (np.add.outer(np.arange(64), np.arange(64)) * 2).astype(np.uint8)
    blocks = np.kron(np.eye(2, dtype=np.uint8), np.full((32, 32), 200, np.uint8))
    arrays = [ramp, ramp.T, mirrored, mirrored.T, checker, diagonal, blocks, 255 - blocks]
    _assert_identical([Image.fromarray(a) for a in arrays])


def test_identical_on_random_images() -> None:
    rng = np.random.default_rng(7)
    images = [
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        for w, h in rng.integers(8, 300, size=(40, 2))
    ]
    _assert_identical(images)


def test_batches_larger_than_one_chunk_keep_order() -> None:
    rng = np.random.default_rng(3)
    images = [Image.fromarray(rng.integers(0, 256, (24, 24), dtype=np.uint8)) for _ in range(300)]
    ours = compute_hashes(images, algorithms=("phash",))
    assert [d["phash"].hex for d in ours] == [str(imagehash.phash(i)) for i in images]
    assert all(set(d) == {"phash"} for d in ours)


def test_phash_bits_flat_batch_matches_reference() -> None:
    """A flat grey thumbnail: every AC coefficient is a true zero, the median is a tie."""
    batch = np.full((3, 32, 32), 77, np.uint8)
    bits = phash_bits(batch)
    expected = np.asarray(imagehash.phash(Image.fromarray(batch[0])).hash)
    assert all((b == expected).all() for b in bits)


def test_unknown_algorithm_raises() -> None:
    with pytest.raises(ValueError, match="whash"):
        compute_hashes([_drawing()], algorithms=("phash", "whash"))
    assert compute_hashes([]) == []


# --- texture --------------------------------------------------------------------------------


def test_texture_std_separates_flat_from_textured(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    grain = Image.fromarray(rng.normal(100, 20, (1080, 1920)).clip(0, 255).astype(np.uint8))
    assert texture_std(Image.new("RGB", (1920, 1080), (0, 0, 0))) == 0.0
    assert texture_std(Image.new("L", (1, 1), 90)) == 0.0
    assert texture_std(grain) < 5.0  # pure sensor noise averages out: its hash would be noise
    assert texture_std(_ffmpeg_frame("testsrc2=size=1280x720:rate=25", tmp_path)) > 30.0
    assert texture_std(_drawing()) > 30.0

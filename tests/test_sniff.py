"""Video vs image by content: real files, renamed files, generated containers, junk."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from synth import make_still

from osint_video.errors import InputError
from osint_video.media.sniff import kind_from_magic, sniff_kind

TRUTH_KIND = {"still": "image", "video": "video", "video-header-only": "video"}


def test_every_shared_file(shared_media: Path, truth: dict) -> None:
    for name, entry in truth.items():
        assert sniff_kind(shared_media / name) == TRUTH_KIND[entry["kind"]], name


def test_extension_is_ignored(tmp_path: Path, shared_media: Path) -> None:
    cases = {
        "with-gps.mov": ("photo.jpg", "video"),
        "IMG_1034.heic": ("clip.mp4", "image"),
        "Sony_ILCE-7M3_A7M3.mts": ("noext", "video"),
        "Apple_iPhone_4.jpg": ("x.avi", "image"),
        "big_buck_bunny_0_30.webm": ("-dash name.txt", "video"),
    }
    for src, (new_name, kind) in cases.items():
        dst = tmp_path / new_name
        shutil.copyfile(shared_media / src, dst)
        assert sniff_kind(dst) == kind, src


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True, capture_output=True)


@pytest.mark.parametrize("suffix", ["mkv", "avi", "ts", "flv", "wmv", "3gp", "mpg"])
def test_generated_video_containers(tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"v.{suffix}"
    codec = ["-c:v", "mpeg4"] if suffix in ("avi", "wmv", "3gp") else []
    codec = ["-c:v", "mpeg2video"] if suffix == "mpg" else codec
    size = "176x144" if suffix == "3gp" else "160x120"
    _ffmpeg(
        "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=10", "-frames:v", "5", *codec, str(out)
    )
    renamed = out.rename(tmp_path / "renamed.bin")
    assert sniff_kind(renamed) == "video"


@pytest.mark.parametrize("suffix", ["png", "webp", "gif", "tiff", "bmp"])
def test_generated_stills(tmp_path: Path, suffix: str) -> None:
    still = make_still(tmp_path / f"s.{suffix}", (64, 48))
    assert sniff_kind(still.rename(tmp_path / "renamed.dat")) == "image"


def test_audio_only_and_junk_are_not_media(tmp_path: Path) -> None:
    for suffix in ("m4a", "wav", "ogg"):
        out = tmp_path / f"a.{suffix}"
        _ffmpeg("-f", "lavfi", "-i", "sine=duration=0.2", str(out))
        assert sniff_kind(out) is None, suffix
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "notes.mp4").write_text("Telegram channel X, 14:02 — кадры из Суджи\n" * 50)
    (tmp_path / "noise.mov").write_bytes(bytes(range(1, 256)) * 40)
    for name in ("empty.mp4", "notes.mp4", "noise.mov"):
        assert sniff_kind(tmp_path / name) is None, name


def test_unreadable_paths_raise_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="directory"):
        sniff_kind(tmp_path)
    with pytest.raises(InputError, match="does not exist"):
        sniff_kind(tmp_path / "missing\nname.mp4")


def test_magic_for_m2ts_and_heif_brands() -> None:
    m2ts = b"".join(b"\x00\x00\x00\x00\x47" + bytes(187) for _ in range(5))
    assert kind_from_magic(m2ts) == "video"
    assert kind_from_magic(b"\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00mif1heic") == "image"
    assert kind_from_magic(b"\x00\x00\x00\x18ftypisom\x00\x00\x00\x00isommp41") == "video"
    assert kind_from_magic(b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  ") == "video"
    assert kind_from_magic(b"RIFF\x00\x00\x00\x00WAVEfmt ") is None

"""Stripped copies: ffprobe and ExifTool find no location, time, make or model; pixels intact."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pillow_heif
import pytest
from conftest import missing
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from osint_video.config import ProbeConfig
from osint_video.errors import ExtractionError, InputError, ProbeError
from osint_video.media.ffmpeg import remux_argv
from osint_video.media.probe import probe_file
from osint_video.media.strip import strip_metadata, stripped_suffix

# Groups ExifTool always reports about the file itself, not its content.
FILE_GROUPS = {"ExifTool", "System", "File", "Composite"}
# Words whose tags must not survive (name match), and values that must not appear anywhere.
IDENTIFYING = (
    "gps",
    "location",
    "iso6709",
    "xyz",
    "make",
    "model",
    "software",
    "serial",
    "creat",
    "date",
    "timezone",
    "offsettime",
    "artist",
    "author",
    "encoder",
    "lens",
    "owner",
    "copyright",
)
SECRETS = {
    "with-gps.mov": ["iPhone", "32.09", "34.86", "2019", "Core Media"],
    "fire2.mp4": ["54.18", "2.718", "2017", "VideoHandle "],
    "Apple_iPhone_4.jpg": ["Apple", "iPhone", "41.85", "12.48", "2011", "4.1"],
    "IMG_1034.heic": ["Apple", "iPhone", "23.17", "113.39", "2018", "11.2.2"],
    "MVI_4823.AVI": ["Canon", "2012", "SEP"],
    "Sony_ILCE-7M3_A7M3.mts": ["Sony", "ILCE", "2019"],
    "ela_original.jpg": ["motorola", "XT1635", "GIMP", "addison", "2018", "47.5", "23.5"],
}
KIND = {".jpg": "image", ".heic": "image"}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _exiftool(path: Path) -> dict[str, str]:
    if shutil.which("exiftool") is None:
        missing("exiftool")
    out = subprocess.run(
        ["exiftool", "-j", "-a", "-G1", str(path)], check=True, capture_output=True, text=True
    ).stdout
    return {k: str(v) for k, v in json.loads(out)[0].items()}


def _ffprobe(path: Path) -> dict:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-of", "json", "-show_format", "-show_streams", str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)


def _frames(path: Path) -> int:
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-count_frames",
            "-show_entries",
            "stream=nb_read_frames",
            "-of",
            "json",
            str(path),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return int(json.loads(out)["streams"][0]["nb_read_frames"])


def _content_tags(tags: dict[str, str]) -> dict[str, str]:
    return {
        k: v for k, v in tags.items() if k.split(":")[0] not in FILE_GROUPS and k != "SourceFile"
    }


def _assert_nothing_identifying(path: Path, secrets: list[str]) -> None:
    tags = _content_tags(_exiftool(path))
    for key, value in tags.items():
        name = key.split(":")[-1].lower()
        if any(word in name for word in IDENTIFYING):
            # ExifTool shows zeroed QuickTime dates; a zero date carries no time
            assert value == "0000:00:00 00:00:00" or "Handler" in key, (key, value)
        for secret in secrets:
            assert secret not in value, (key, value)
    info = _ffprobe(path) if KIND.get(path.suffix) != "image" else {"format": {}, "streams": []}
    for holder in [info["format"], *info["streams"]]:
        assert not set(holder.get("tags", {})) - {
            "major_brand",
            "minor_version",
            "compatible_brands",
            "handler_name",
            "vendor_id",
            "language",
        }, holder.get("tags")
    assert all(s.get("codec_type") in ("video", "audio") for s in info["streams"])


@pytest.mark.parametrize("name", sorted(SECRETS))
def test_strip_shared_file(name: str, shared_media: Path, tmp_path: Path) -> None:
    src = tmp_path / name
    shutil.copyfile(shared_media / name, src)
    before = _sha(src)
    kind = KIND.get(src.suffix, "video")
    dst = tmp_path / "out" / f"stripped{stripped_suffix(src, kind)}"
    assert strip_metadata(src, dst, kind, timeout=120) == dst
    assert _sha(src) == before
    assert not [p for p in dst.parent.iterdir() if p.name.startswith(".strip-")]  # no temp left
    _assert_nothing_identifying(dst, SECRETS[name])
    cfg = ProbeConfig()
    if kind == "video":
        assert _frames(dst) == _frames(src)
        assert (
            probe_file(dst, "video", cfg).media.rotation_deg
            == probe_file(src, "video", cfg).media.rotation_deg
        )
        md = probe_file(dst, "video", cfg).metadata
        assert (md.creation_time, md.location, md.make, md.model) == (None, None, None, None)
    else:
        pillow_heif.register_heif_opener()
        with Image.open(src) as a, Image.open(dst) as b:
            assert a.size == b.size
            if src.suffix == ".jpg":  # no re-encode: identical pixels
                assert a.tobytes() == b.tobytes()


def _options(argv: list[str]) -> list[tuple[str, str]]:
    """An output's options as (name, value) pairs, sorted: ffmpeg reads them in any order."""
    return sorted(zip(argv[::2], argv[1::2], strict=True))


def test_the_remux_command_is_the_hand_written_one(tmp_path: Path) -> None:
    """ffmpeg-python builds the strip's command (media/ffmpeg.py): the same options as the
    argv written by hand before it, streams mapped in the same order, files as plain files."""
    src, dst = tmp_path / "-in.mp4", tmp_path / "out.mkv"
    bsf = "filter_units=remove_types=6"
    argv = remux_argv(src, dst, muxer="matroska", video_filters=[bsf, "", bsf])
    by_hand = [
        *["-map", "0:v", "-map", "0:a?", "-c", "copy", "-map_metadata", "-1"],
        *["-map_chapters", "-1", "-fflags", "+bitexact", "-flags:v", "+bitexact"],
        *["-flags:a", "+bitexact", "-bsf:v:0", bsf, "-bsf:v:2", bsf, "-f", "matroska"],
    ]
    head = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", f"file:{src}"]
    assert argv[: len(head)] == head and argv[-1] == f"file:{dst}"
    middle = argv[len(head) : -1]
    assert _options(middle) == _options(by_hand)
    assert [v for o, v in zip(middle, middle[1:], strict=False) if o == "-map"] == ["0:v", "0:a?"]


def test_suffix_follows_the_source_container(shared_media: Path) -> None:
    assert stripped_suffix(shared_media / "with-gps.mov", "video") == ".mov"
    assert stripped_suffix(shared_media / "fire2.mp4", "video") == ".mp4"
    assert stripped_suffix(shared_media / "big_buck_bunny_0_30.webm", "video") == ".webm"
    assert stripped_suffix(shared_media / "MVI_4823.AVI", "video") == ".avi"
    assert stripped_suffix(shared_media / "Sony_ILCE-7M3_A7M3.mts", "video") == ".ts"
    assert stripped_suffix(shared_media / "IMG_1034.heic", "image") == ".heic"


def test_matroska_with_h264_stays_matroska(tmp_path: Path, shared_media: Path) -> None:
    """ffprobe names every Matroska file "matroska,webm"; one holding H.264 and Opus (an Opus
    re-encode of a phone clip) cannot be written as WebM, so it is kept as Matroska."""
    src = tmp_path / "opus.mkv"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(shared_media / "cup.mp4"), "-c:v", "copy",
         "-c:a", "libopus", "-b:a", "32k", "-metadata", "title=secret", str(src)],
        check=True, timeout=60,
    )  # fmt: skip
    assert stripped_suffix(src, "video") == ".mkv"
    dst = tmp_path / "stripped.mkv"
    strip_metadata(src, dst, "video", timeout=60)
    streams = json.loads(
        subprocess.run(
            ["ffprobe", "-v", "error", "-of", "json", "-show_streams", "-show_format", str(dst)],
            capture_output=True, check=True, timeout=60,
        ).stdout
    )  # fmt: skip
    assert [s["codec_name"] for s in streams["streams"]] == ["h264", "opus"]
    assert "title" not in (streams["format"].get("tags") or {})


def test_png_and_webp_lose_text_exif_xmp_and_keep_pixels(
    tmp_path: Path, shared_media: Path
) -> None:
    with Image.open(shared_media / "Apple_iPhone_4.jpg") as img:
        exif = img.info["exif"]
        small = img.resize((160, 120))
    info = PngInfo()
    info.add_text("Author", "Jane Source")
    info.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta>GPSLatitude 41.853</x:xmpmeta>")
    small.save(tmp_path / "a.png", pnginfo=info, exif=exif)
    small.save(
        tmp_path / "a.webp", exif=exif, xmp=b"<x:xmpmeta>Jane Source</x:xmpmeta>", lossless=True
    )
    for name in ("a.png", "a.webp"):
        src = tmp_path / name
        assert "Apple" in json.dumps(_exiftool(src))  # the metadata really was there
        dst = strip_metadata(src, tmp_path / f"s_{name}", "image", timeout=60)
        _assert_nothing_identifying(dst, ["Apple", "iPhone", "Jane", "41.85"])
        with Image.open(src) as a, Image.open(dst) as b:
            assert a.tobytes() == b.tobytes()


def test_jpeg_orientation_survives_alone(tmp_path: Path, shared_media: Path) -> None:
    with Image.open(shared_media / "Apple_iPhone_4.jpg") as img:
        exif = img.getexif()
        exif[0x0112] = 6
        img.save(tmp_path / "rot.jpg", exif=exif.tobytes(), quality=90)
    dst = strip_metadata(tmp_path / "rot.jpg", tmp_path / "s.jpg", "image", timeout=60)
    tags = _content_tags(_exiftool(dst))
    assert tags.get("IFD0:Orientation") == "Rotate 90 CW"
    assert not [k for k in tags if k.startswith(("GPS", "ExifIFD")) or "Make" in k]


def test_failures_leave_nothing_behind(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 100)
    dst = tmp_path / "out" / "x.mp4"
    with pytest.raises((ProbeError, ExtractionError)):
        strip_metadata(junk, dst, "video", timeout=30)
    with pytest.raises(ExtractionError):
        strip_metadata(junk, tmp_path / "out" / "x.jpg", "image", timeout=30)
    assert list((tmp_path / "out").iterdir()) == []
    with pytest.raises(InputError):
        strip_metadata(tmp_path / "missing.mov", dst, "video", timeout=30)

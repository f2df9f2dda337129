"""Keyframes: upright full-resolution PNGs at exact PTS, the sharpest frame, more on a pan."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from synth import make_cut_clip

from osint_video.config import KeyframesConfig
from osint_video.hashing.hashes import compute_hashes
from osint_video.keyframes import select
from osint_video.keyframes.extract import extract_keyframes
from osint_video.media.png import encode_png
from osint_video.models import MediaInfo


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-y", "-v", "error", *args], check=True, capture_output=True)


def frame_pts(path: Path) -> list[float]:
    """Every frame's PTS in presentation order, as ffprobe sees it."""
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "frame=best_effort_timestamp_time",
            "-of",
            "json",
            str(path),
        ],
        check=True,
        capture_output=True,
    ).stdout
    return sorted(float(f["best_effort_timestamp_time"]) for f in json.loads(out)["frames"])


def ffmpeg_frame(path: Path, index: int, out: Path) -> np.ndarray:
    """Frame `index` as ffmpeg renders it (auto-rotated upright)."""
    ffmpeg(
        "-i",
        str(path),
        "-vf",
        f"select=eq(n\\,{index})",
        "-fps_mode",
        "passthrough",
        "-frames:v",
        "1",
        str(out),
    )
    return np.asarray(Image.open(out).convert("RGB"), dtype=np.float32)


def run(path: Path, out: Path, rotation: int = 0, **options):
    cfg = KeyframesConfig(**options)
    return extract_keyframes(path, MediaInfo(kind="video", rotation_deg=rotation), out, cfg)


@pytest.mark.parametrize(
    ("name", "size"), [("with-gps.mov", (320, 568)), ("fire2.mp4", (1280, 720))]
)
def test_keyframes_are_upright_full_resolution_and_at_exact_pts(
    shared_media, truth, tmp_path, name, size
):
    path = shared_media / name
    r = run(path, tmp_path / "kf", rotation=truth[name]["rotation_deg"])
    assert r.keyframes
    pts = frame_pts(path)
    for kf in r.keyframes:
        assert re.fullmatch(r"kf_\d{4}_f\d{6}\.png", Path(kf.path).name)
        ours = np.asarray(Image.open(kf.path).convert("RGB"), dtype=np.float32)
        assert Image.open(kf.path).size == size
        ref = ffmpeg_frame(path, kf.frame, tmp_path / f"ref{kf.frame}.png")
        assert np.abs(ours - ref).mean() < 3.0  # same frame, same orientation as ffmpeg shows it
        assert kf.time_s == pytest.approx(pts[kf.frame], abs=1e-4)
    assert r.decode.frames_decoded == truth[name]["frames_decoded"]


def test_vfr_times_are_the_frames_pts(tmp_path):
    src = make_cut_clip(tmp_path / "cfr.mp4", [37], 80, gop=20)
    vfr = tmp_path / "vfr.mp4"  # intervals alternate 20 ms / 60 ms
    ffmpeg(
        "-i",
        str(src),
        "-vf",
        "settb=1/1000,setpts='(N*0.04+0.02*mod(N\\,2))/TB'",
        "-fps_mode",
        "passthrough",
        "-enc_time_base",
        "-1",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        str(vfr),
    )
    pts = frame_pts(vfr)
    assert len(pts) == 80 and max(np.diff(pts)) > 2 * min(np.diff(pts))
    r = run(vfr, tmp_path / "kf")
    assert [c.frame for c in r.cuts] == [37]
    assert r.cuts[0].time_s == pytest.approx(pts[37], abs=1e-4)
    assert [s.start_s for s in r.shots] == pytest.approx([pts[0], pts[37]], abs=1e-4)
    assert all(k.time_s == pytest.approx(pts[k.frame], abs=1e-4) for k in r.keyframes)
    assert r.decode.min_interval_s == pytest.approx(min(np.diff(pts)), abs=1e-4)
    assert r.decode.max_interval_s == pytest.approx(max(np.diff(pts)), abs=1e-4)


def test_a_pan_yields_several_keyframes_in_one_shot(tmp_path):
    pan = tmp_path / "pan.mp4"
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=1600x240:rate=25,format=yuv420p",
        "-vf",
        "crop=320:240:x='min(t*300\\,1280)':y=0",
        "-frames:v",
        "125",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        str(pan),
    )
    r = run(pan, tmp_path / "kf")
    assert r.cuts == ()
    assert len(r.shots) == 1 and len(r.keyframes) >= 3
    assert len(r.keyframes) <= KeyframesConfig().max_keyframes_per_shot


def test_static_shot_yields_one_keyframe(tmp_path):
    still = tmp_path / "still.mp4"
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "smptehdbars=size=320x240:rate=25",
        "-frames:v",
        "60",
        "-pix_fmt",
        "yuv420p",
        str(still),
    )
    r = run(still, tmp_path / "kf")
    assert len(r.shots) == 1 and len(r.keyframes) == 1


def grey_std(png: str) -> float:
    """Grey std of a keyframe at the analysis size (what `select.BLANK_STD` is compared with)."""
    small = Image.open(png).convert("L").resize((64, 48), Image.Resampling.BOX)
    return float(np.asarray(small, dtype=np.float32).std())


def test_blank_keyframes_go_when_the_shot_shows_something(tmp_path, monkeypatch):
    """A shot fading in from black and out to black keeps no black keyframe; a shot that is
    black throughout keeps its one keyframe (every shot has one)."""
    fade, black = tmp_path / "fade.mp4", tmp_path / "black.mp4"
    ffmpeg(
        *["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25"],
        *["-vf", "fade=t=in:st=0:d=1.5,fade=t=out:st=3:d=1", "-frames:v", "110"],
        *["-pix_fmt", "yuv420p", str(fade)],
    )
    ffmpeg(
        *["-f", "lavfi", "-i", "color=black:size=320x240:rate=25", "-frames:v", "50"],
        *["-pix_fmt", "yuv420p", str(black)],
    )
    r = run(fade, tmp_path / "kf")
    assert len(r.shots) == 1 and r.keyframes
    assert min(grey_std(k.path) for k in r.keyframes) >= select.BLANK_STD
    r = run(black, tmp_path / "kf_black")
    assert len(r.shots) == 1 and len(r.keyframes) == 1 and grey_std(r.keyframes[0].path) < 1
    monkeypatch.setattr(select, "BLANK_STD", 0.0)  # the rule off: the black end is picked
    r = run(fade, tmp_path / "kf_all")
    assert min(grey_std(k.path) for k in r.keyframes) < 1


def test_a_dark_picture_with_any_detail_is_not_blank():
    """A night segment (dark, nearly flat, but a light and some grain: sharpness 16.9 as
    measured on such a frame) keeps its keyframe; a featureless one in the same shot goes."""
    from osint_video.keyframes.select import select_keyframes
    from osint_video.keyframes.shots import Marked
    from osint_video.media.decode import SmallFrame

    day = np.random.default_rng(7).integers(0, 255, (36, 64), np.uint8)
    night = np.full((36, 64), 60, np.uint8)
    night[10:12, 30:32] = 100  # a lit window
    frames = [
        *(SmallFrame(i, i / 25, day, sharpness=500.0) for i in range(10)),
        *(SmallFrame(i, i / 25, night, sharpness=16.9) for i in range(10, 20)),
        *(SmallFrame(i, i / 25, np.full((36, 64), 16, np.uint8)) for i in range(20, 30)),
    ]
    sel = select_keyframes([Marked(f) for f in frames], KeyframesConfig(), drift=True)
    picked = [p.frame for p in sel.picks]
    assert len(sel.spans) == 1 and [f // 10 for f in picked] == [0, 1]  # no black keyframe


@pytest.mark.parametrize("fast", [True, False])
def test_sharpest_frame_of_the_shot_is_chosen(tmp_path, fast):
    blurry = tmp_path / "blur.mp4"
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=25",
        "-vf",
        "gblur=sigma=4:enable='not(eq(n\\,31))'",
        "-frames:v",
        "60",
        "-bf",
        "0",
        "-pix_fmt",
        "yuv420p",
        str(blurry),
    )
    r = run(blurry, tmp_path / "kf", fast_path=fast)
    assert [k.frame for k in r.keyframes] == [31]


def test_caps_per_clip_keep_every_shot(tmp_path):
    clip = make_cut_clip(tmp_path / "c.mp4", [20, 40, 60], 80)
    r = run(clip, tmp_path / "kf", max_keyframes=4)
    assert len(r.keyframes) == 4
    assert sorted({k.shot for k in r.keyframes}) == [0, 1, 2, 3]
    # PNGs of picks the cap dropped (written early, while decoding) are gone again
    assert sorted(p.name for p in (tmp_path / "kf").iterdir()) == sorted(
        Path(k.path).name for k in r.keyframes
    )


def test_progress_reaches_one(tmp_path):
    clip = make_cut_clip(tmp_path / "c.mp4", [20], 50)
    seen: list[float] = []
    extract_keyframes(
        clip, MediaInfo(kind="video"), tmp_path / "kf", KeyframesConfig(), seen.append
    )
    assert seen[-1] == 1.0 and seen == sorted(seen) and all(0 <= f <= 1 for f in seen)


def reference_frames(path: Path) -> list[np.ndarray]:
    """Every frame as a plain PyAV decode renders it (frame threads, deblocking on)."""
    import av

    with av.open(str(path)) as c:
        c.streams.video[0].thread_type = "AUTO"
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


@pytest.mark.parametrize("rotation", [0, 90])
def test_keyframe_pngs_are_bit_exact_pictures(tmp_path, rotation):
    """Keyframes come from the fast first pass (B pictures skipped, chunks in parallel) or are
    decoded again; either way each PNG holds exactly the decoded picture, and the `on_image`
    hook sees exactly the PNG's pixels (so hashing it equals hashing the PNG)."""
    clip = make_cut_clip(
        tmp_path / "grain.mp4", [23, 61, 97], 130, size=(480, 270), gop=40, noise=10
    )
    seen: dict[int, np.ndarray] = {}
    r = extract_keyframes(
        clip,
        MediaInfo(kind="video", rotation_deg=rotation),
        tmp_path / "kf",
        KeyframesConfig(),
        on_image=lambda img: (np.asarray(img).copy(), compute_hashes([img])[0]),
    )
    assert [c.frame for c in r.cuts] == [23, 61, 97]
    ref = reference_frames(clip)
    for kf in r.keyframes:
        png = np.asarray(Image.open(kf.path).convert("RGB"))
        want = np.rot90(ref[kf.frame], k=-rotation // 90)
        assert png.shape == want.shape and np.array_equal(png, want), kf
        pixels, hashes = r.extras[kf.path]
        assert np.array_equal(pixels, png)
        assert hashes == compute_hashes([Image.open(kf.path)])[0]
        seen[kf.frame] = png
    assert len(seen) == len(r.keyframes) >= 4
    assert not [p for p in (tmp_path / "kf").iterdir() if p.suffix != ".png"]


def test_interval_pass_skips_reference_b_pictures_and_stays_exact(tmp_path, monkeypatch):
    """Without windows to fill in (`interval`), a stream whose I/P pictures never predict from
    B pictures (x264's default pyramid) is decoded from its I/P pictures alone, plus the B
    pictures at chunk edges with the references they need: every frame handed out is the very
    picture a full decode makes."""
    import av

    from osint_video.keyframes.keep import SharpestKept
    from osint_video.keyframes.shots import features
    from osint_video.media import chunkjob, decode
    from osint_video.media.h264 import avcc_length_size, h264_frame_kind

    decoded: set[int] = set()  # every picture any decoder put out (by PTS)
    collect = chunkjob.PassRun.collect

    def spy(self, frames, *args, **kwargs):
        frames = list(frames)
        decoded.update(f.pts for f in frames)
        return collect(self, frames, *args, **kwargs)

    monkeypatch.setattr(chunkjob.PassRun, "collect", spy)
    clip = make_cut_clip(tmp_path / "grain.mp4", [23, 161], 250, size=(320, 180), gop=100, noise=10)
    plan = decode.DecodePlan(width=64, analyse=features, keep=SharpestKept(3))
    src = decode.FrameSource(clip, plan)
    got = {f.index: f for f in src.frames()}
    assert src.p_only  # the check on the first chunk found the I/P pictures B-free
    bframes, keys, seen_b = set(), set(), set()
    with av.open(str(clip)) as c:  # a full decode, frames in presentation order
        for i, frame in enumerate(c.decode(video=0)):
            if frame.pict_type == av.video.frame.PictureType.B:
                bframes.add(i)
            if frame.key_frame:
                keys.add(i)
            if frame.pts in decoded and i in bframes:
                seen_b.add(i)
            if i in got:
                want = src.small(frame, i, 0.0, False)
                assert np.array_equal(got[i].grey, want.grey), i
                assert got[i].sharpness == want.sharpness, i
    # chunks start at keyframes (x264 put some at the cuts); their edges are decoded densely
    edges = {k + d for k in keys | {250} for d in range(-3, 3)}
    assert len(bframes) > 120 and not (set(got) & bframes) - edges  # B only at the edges
    # after the first chunk (decoded both ways to check the rule), reference B pictures far
    # from any edge were not decoded at all
    with av.open(str(clip)) as c:
        stream = c.streams.video[0]
        nal = avcc_length_size(stream.codec_context.extradata)
        kinds = sorted((p.pts, h264_frame_kind(bytes(p), nal)) for p in c.demux(stream) if p.size)
    brefs = {i for i, (_pts, (ref, bpic)) in enumerate(kinds) if ref and bpic}
    far = {
        b
        for b in brefs
        if b >= sorted(keys)[1] and min(abs(b - e) for e in edges) > chunkjob.B_REACH
    }
    assert far and not far & seen_b


@pytest.mark.parametrize("shape", [(7, 5), (33, 17, 3), (4, 9, 4), (1, 1, 3)])
def test_fast_png_writer_round_trips(tmp_path, shape):
    pixels = np.random.default_rng(7).integers(0, 256, shape, dtype=np.uint8)
    out = tmp_path / "x.png"
    out.write_bytes(encode_png(pixels))
    back = np.asarray(Image.open(out))
    assert back.shape == pixels.shape and np.array_equal(back, pixels)


def test_fast_png_writer_refuses_other_arrays():
    with pytest.raises(ValueError):
        encode_png(np.zeros((4, 4), dtype=np.uint16))
    with pytest.raises(ValueError):
        encode_png(np.zeros((4, 4, 2), dtype=np.uint8))


def test_a_kept_picture_within_the_tie_wins_over_one_to_decode_again() -> None:
    """The segment's pick: its sharpest frame, unless a frame whose exact picture the decoder
    kept is within SHARPNESS_TIE of it (that one is written without decoding again); never a
    chain of near-ties drifting below the sharpest."""
    from osint_video.keyframes.select import SHARPNESS_TIE, Pick, _Segment

    def pick(frame: int, sharp: float, kept: bool) -> Pick:
        return Pick(0, frame, frame / 25, sharp, object() if kept else None)

    seg = _Segment(None, pick(0, 100.0, False))
    seg.offer(pick(1, 100.0 * (1 - SHARPNESS_TIE / 2), True))
    assert seg.best.frame == 1
    for i in range(2, 12):  # each kept frame a little less sharp than the last
        seg.offer(pick(i, 100.0 * (1 - SHARPNESS_TIE / 2) ** i, True))
    assert seg.best.frame == 1
    seg.offer(pick(20, 120.0, False))  # clearly sharper, picture not kept: it wins
    assert seg.best.frame == 20
    seg.offer(pick(21, 50.0, True))
    assert seg.best.frame == 20

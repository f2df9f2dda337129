"""Near-duplicate grouping inside a clip, on real hashes of generated frames."""

from __future__ import annotations

import subprocess

import av
import pytest
from PIL import Image

from osint_video.hashing.dedup import group_near_duplicates, groups
from osint_video.hashing.hashes import FrameHash, compute_hashes, texture_std

FPS, SHOT = 25, 20
# Shots 0 and 3 are the very same source frames (a clip that repeats a shot; the repeat is
# cropped by 4 %, as a re-upload would be); shots 5 and 6 are black; the rest are distinct.
SHOTS = [
    "testsrc2=size=320x240:rate={fps},trim=start_frame=5:end_frame={end5}",
    "mandelbrot=size=320x240:rate={fps},trim=end_frame={shot}",
    "smptehdbars=size=320x240:rate={fps},trim=end_frame={shot}",
    "testsrc2=size=320x240:rate={fps},trim=start_frame=5:end_frame={end5},"
    "crop=308:231:6:4,scale=320:240",
    "life=size=320x240:rate={fps}:mold=10:ratio=0.3:seed=42,trim=end_frame={shot}",
    "color=black:size=320x240:rate={fps},trim=end_frame={shot}",
    "color=black:size=320x240:rate={fps},trim=end_frame={shot}",
    "cellauto=size=320x240:rate={fps}:rule=110,trim=end_frame={shot}",
]
MAX_DISTANCE, MIN_TEXTURE = 6, 8.0


@pytest.fixture(scope="module")
def keyframes(tmp_path_factory: pytest.TempPathFactory) -> list[Image.Image]:
    """The middle frame of each shot of a real encoded clip (decoded back)."""
    path = tmp_path_factory.mktemp("dedup") / "repeat.mp4"
    parts = [
        s.format(fps=FPS, shot=SHOT, end5=SHOT + 5)
        + f",setpts=PTS-STARTPTS,format=yuv420p,setsar=1[s{i}]"
        for i, s in enumerate(SHOTS)
    ]
    labels = "".join(f"[s{i}]" for i in range(len(SHOTS)))
    graph = ";".join(parts) + f";{labels}concat=n={len(SHOTS)}:v=1:a=0,noise=alls=6:allf=t[out]"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-filter_complex_threads",  # the noise filter is only deterministic single-threaded
            "1",
            "-filter_complex",
            graph,
            "-map",
            "[out]",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-crf",
            "26",
            str(path),
        ],
        check=True,
        timeout=120,
    )
    wanted = {k * SHOT + SHOT // 2 for k in range(len(SHOTS))}
    with av.open(str(path)) as container:
        frames = [f.to_image() for i, f in enumerate(container.decode(video=0)) if i in wanted]
    assert len(frames) == len(SHOTS)
    return frames


def _phashes(images: list[Image.Image]) -> list[FrameHash]:
    return [d["phash"] for d in compute_hashes(images, ("phash",))]


def test_repeated_shot_groups_and_distinct_content_does_not(keyframes: list[Image.Image]) -> None:
    hashes = _phashes(keyframes)
    informative = [texture_std(img) >= MIN_TEXTURE for img in keyframes]
    assert informative == [True, True, True, True, True, False, False, True]
    assert hashes[0] != hashes[3]  # degraded repeat: not bit-equal, only near
    assert hashes[0].similar(hashes[3], MAX_DISTANCE)
    out = group_near_duplicates(hashes, MAX_DISTANCE, informative)
    assert out == [None, None, None, 0, None, None, 5, None]
    assert groups(out) == {0: [0, 3], 1: [1], 2: [2], 4: [4], 5: [5, 6], 7: [7]}


def test_distinct_shots_are_far_apart(keyframes: list[Image.Image]) -> None:
    hashes = _phashes(keyframes)
    distinct = [0, 1, 2, 4, 7]
    closest = min(hashes[a] - hashes[b] for a in distinct for b in distinct if a < b)
    assert closest > 2 * MAX_DISTANCE


def test_same_on_dhash(keyframes: list[Image.Image]) -> None:
    hashes = [d["dhash"] for d in compute_hashes(keyframes, ("dhash",))]
    informative = [texture_std(img) >= MIN_TEXTURE for img in keyframes]
    assert group_near_duplicates(hashes, 10, informative)[3] == 0


def test_uninformative_needs_exact_equality(keyframes: list[Image.Image]) -> None:
    """Black frames group only when bit-equal, never with a textured frame that is close."""
    black = _phashes([keyframes[5]])[0]
    near = FrameHash("phash", 64, black.value ^ 0b1)  # one bit off, textured by flag
    assert group_near_duplicates([black, near], 63, [False, True]) == [None, None]
    assert group_near_duplicates([near, black], 63, [True, False]) == [None, None]
    assert group_near_duplicates([black, black], 0, [False, False]) == [None, 0]
    assert group_near_duplicates([black, near], 63) == [None, 0]  # all informative: joins


def _h(value: int) -> FrameHash:
    return FrameHash("phash", 64, value)


def test_threshold_is_inclusive() -> None:
    base = _h(0)
    assert group_near_duplicates([base, _h(0b111111)], 6) == [None, 0]  # exactly 6 bits
    assert group_near_duplicates([base, _h(0b1111111)], 6) == [None, None]  # 7 bits
    assert group_near_duplicates([base, _h(0b1)], 0) == [None, None]
    assert group_near_duplicates([base, _h(0)], 0) == [None, 0]


def test_no_chaining_drift() -> None:
    """A pan: each frame 4 bits from the last; the third is 8 bits from the first."""
    a, b, c, d = _h(0), _h(0b1111), _h(0b11111111), _h(0b111111111111)
    assert group_near_duplicates([a, b, c, d], 5) == [None, 0, None, 2]


def test_nearest_representative_wins_ties_go_earliest() -> None:
    r0, r1 = _h(0), _h(0b11111111)  # 8 bits apart: two groups at threshold 6
    closer_to_r1 = _h(0b11111100)  # 6 from r0, 2 from r1
    between = _h(0b1111)  # 4 from each
    assert group_near_duplicates([r0, r1, closer_to_r1, between], 6) == [None, None, 1, 0]


def test_deterministic_and_representative_is_earliest(keyframes: list[Image.Image]) -> None:
    hashes = _phashes(keyframes) * 2
    first = group_near_duplicates(hashes, MAX_DISTANCE)
    assert first == group_near_duplicates(hashes, MAX_DISTANCE)
    assert all(rep is None or (rep < i and first[rep] is None) for i, rep in enumerate(first))


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError):
        group_near_duplicates([_h(0)], -1)
    with pytest.raises(ValueError):
        group_near_duplicates([_h(0), _h(1)], 3, [True])
    with pytest.raises(ValueError, match="different kinds"):
        group_near_duplicates([_h(0), FrameHash("dhash", 64, 0)], 3)
    assert group_near_duplicates([], 3) == []

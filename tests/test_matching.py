"""Archive matching end to end on real media: real ffmpeg transforms, real SQLite, no mocks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from osint_video.config import load_config
from osint_video.errors import ExtractionError
from osint_video.matching import match_and_index, match_file
from osint_video.matching.compact import compact
from osint_video.matching.fingerprints import trim_borders
from osint_video.matching.index import (
    forget_open_indexes,
    index_dir,
    open_index,
    rebuild,
    remove_clip,
)
from osint_video.matching.search import MultiIndex, scan, thresholds
from osint_video.media.probe import probe_file
from osint_video.store.cases import Acquisition, NewEvent, utcnow
from osint_video.store.schema import ClipRow, FingerprintRow
from osint_video.workspace import Workspace

CLI = [sys.executable, "-m", "osint_video.cli"]


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True, timeout=120)


def ingest(ws: Workspace, path: Path, case: str | None = "k"):
    """Acquire a clip the way triage does, then run the matching hook on it."""
    st = ws.evidence.put(path)
    ev = ws.evidence.path_for(st.sha256)
    media = probe_file(ev, "video", ws.config.probe).media
    cid, _ = ws.cases.acquire(
        sha256=st.sha256,
        size_bytes=st.size_bytes,
        kind="video",
        filename=path.name,
        evidence_path=st.relpath,
        acquisition=Acquisition("tester", utcnow(), case),
        event=NewEvent("acquired", {}),
    )
    return cid, match_and_index(ws, cid, ev, media)


@pytest.fixture(scope="module")
def variants(shared_media: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("variants")
    src = shared_media / "testvideo.mp4"
    out = {
        "flip_crop": d / "flip_crop.mp4",
        "letterbox_excerpt": d / "letterbox_excerpt.mp4",
    }
    x264 = ["-c:v", "libx264", "-preset", "ultrafast", "-an"]
    ffmpeg(
        "-i", str(src), "-vf", "hflip,crop=iw*0.9:ih*0.9,scale=-2:360", *x264, str(out["flip_crop"])
    )
    ffmpeg(
        "-ss",
        "14",
        "-i",
        str(src),
        "-t",
        "6",
        "-vf",
        "scale=640:360,pad=640:480:0:60",
        *x264,
        str(out["letterbox_excerpt"]),
    )
    return out


@pytest.fixture
def ws(home: Path) -> Workspace:
    w = Workspace.open(load_config(home=home))
    yield w
    w.close()


@pytest.mark.parametrize("radius", [0, 1, 2, 6, 10, 13])
def test_search_engines_agree_exactly(radius: int) -> None:
    rng = np.random.default_rng(3)
    hashes = rng.integers(0, 2**63, 30_000, dtype=np.int64).astype(np.uint64) * np.uint64(2)
    queries = hashes[:60].copy()
    for j in range(60):  # j % 16 bits flipped: inside and outside the radius
        for b in range(j % 16):
            queries[j] ^= np.uint64(1) << np.uint64((b * 5 + j) % 64)
    a, b = MultiIndex(hashes).search(queries, radius), scan(hashes, queries, radius)
    got = sorted(zip(a.query.tolist(), a.stored.tolist(), a.distance.tolist(), strict=True))
    ref = sorted(zip(b.query.tolist(), b.stored.tolist(), b.distance.tolist(), strict=True))
    assert got == ref
    assert len(got) >= sum(1 for j in range(60) if j % 16 <= radius)
    assert sum(t + 1 for t in thresholds(radius)) == radius + 1


def test_trim_borders_removes_letterbox_keeps_caption() -> None:
    frame = np.zeros((100, 160), np.uint8)
    frame[20:80, 10:150] = 120
    assert trim_borders(frame).shape == (60, 140)
    frame[90, 40:120] = 255  # a caption line inside the bottom bar stays
    assert trim_borders(frame).shape == (71, 140)


def test_transformed_copies_match_with_ranges_and_custody(
    ws: Workspace, shared_media: Path, variants: dict[str, Path]
) -> None:
    orig, s0 = ingest(ws, shared_media / "testvideo.mp4")
    _, s1 = ingest(ws, shared_media / "cup.mp4", case="other")
    assert s0.status == s1.status == "no_match"
    fc, s2 = ingest(ws, variants["flip_crop"])
    assert s2.status == "matched" and [m["clip_id"] for m in s2.matches] == [orig]
    assert s2.duplicate_of == orig  # same case, whole clip: a duplicate in the queue
    assert s2.matches[0]["mirrored"] is True  # flipped left to right (and cropped)
    # a 6 s excerpt of the same case: a match with its time range, but not a duplicate
    lb, s3 = ingest(ws, variants["letterbox_excerpt"])
    m = next(x for x in s3.matches if x["clip_id"] == orig)
    r = m["ranges"][0]
    assert abs((r["other_start_s"] - r["this_start_s"]) - 14.0) <= 0.6
    assert m["keyframe_pairs"] >= 8 and m["distance_min"] <= 4 and s3.duplicate_of is None
    assert m["mirrored"] is False
    assert set(m) == {
        "clip_id",
        "sha256",
        "filename",
        "case",
        "source_url",
        "score",
        "ranges",
        "keyframe_pairs",
        "distance_min",
        "distance_median",
        "mirrored",
        "earliest_acquired_at",
        "earliest_created_at",
    }
    clip = ws.cases.load(lb)
    assert [dict(x.details) for x in clip.matches][0]["clip_id"] in (orig, fc)
    events = [e for e in clip.custody if e.action == "matched"]
    assert events and events[-1].details["status"] == "matched"
    assert ws.cases.load(fc).duplicate_of == orig


def test_no_visual_content_and_index_recovery(
    ws: Workspace, shared_media: Path, tmp_path: Path
) -> None:
    # frames that decode but are flat: nothing to match, said as such
    flat = tmp_path / "black.mp4"
    argv = ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "color=black:s=320x240:d=2"]
    subprocess.run([*argv, "-pix_fmt", "yuv420p", str(flat)], check=True, timeout=60)
    cid, s = ingest(ws, flat)
    assert s.status == "no_visual_content" and s.message == "no visual content to match"
    assert ws.cases.load(cid).custody[-1].details["status"] == "no_visual_content"
    # frames that do not decode at all: a decode error, not "no visual content"
    with pytest.raises(ExtractionError, match="no video frame could be decoded"):
        ingest(ws, shared_media / "QuickTime.mov")
    gps, _ = ingest(ws, shared_media / "with-gps.mov")
    n = len(open_index(ws))
    assert n > 0
    (base,) = rebuild(ws).segments  # everything in one segment, then a new process opens it
    forget_open_indexes()
    with (index_dir(ws) / base.name / "sorted.npy").open("r+b") as f:  # edited by hand
        f.seek(300)
        f.write(b"\x5a")
    messages: list[str] = []
    assert len(open_index(ws, messages.append)) == n
    assert base.name in messages[0] and "rebuilt from the case store" in messages[0]
    # removing a clip's fingerprints leaves a tombstone: nothing is rebuilt or rewritten
    files = {p: p.stat().st_mtime_ns for p in index_dir(ws).rglob("*")}
    assert remove_clip(ws, cid, "tester") == s.samples > 0
    assert remove_clip(ws, gps, "tester") > 0
    messages.clear()
    assert len(open_index(ws, messages.append)) == 0 and not messages
    assert {p: p.stat().st_mtime_ns for p in index_dir(ws).rglob("*")} == files


def test_a_clip_deleted_in_sql_is_never_matched_and_compaction_drops_it(
    ws: Workspace, shared_media: Path, variants: dict[str, Path]
) -> None:
    orig, _ = ingest(ws, shared_media / "testvideo.mp4")
    rebuild(ws)
    with ws.cases.session() as ses:  # deleted behind the index's back: its fingerprints go
        ses.delete(ses.get(ClipRow, orig))  # (cascade), the index log says nothing
    assert match_file(ws, variants["flip_crop"]).status == "no_match"
    assert len(open_index(ws)) > 0
    assert compact(ws) and len(open_index(ws)) == 0


def test_the_index_reads_only_fingerprints_of_its_kind(ws: Workspace) -> None:
    """A fingerprint row says what made its hashes: the index takes phash:64 rows only (all 64
    bits, the top one too), and an index whose manifest names another kind is rebuilt."""
    clip, _ = ws.cases.acquire(
        sha256="ab" * 32,
        size_bytes=1,
        kind="video",
        filename="x.mp4",
        evidence_path="evidence/x",
        acquisition=Acquisition("tester", utcnow()),
        event=NewEvent("acquired", {}),
    )
    top = (1 << 64) - 1
    with ws.cases.session() as ses:
        ses.add_all(
            FingerprintRow(
                clip_id=clip,
                index=i,
                time_s=float(i),
                texture=20.0,
                informative=True,
                hash=kind,
                full=v,
                full_mirror=v,
                center80=v ^ 1,
                center90=v,
                center90_mirror=v,
            )  # fmt: skip
            for i, (kind, v) in enumerate([("phash:64", top), ("dhash:64", 5), ("phash:64", 7)])
        )
    assert open_index(ws).hashes.tolist() == [top, top ^ 1, 7, 6]
    manifest = json.loads((index_dir(ws) / "manifest.json").read_text())
    assert manifest["hash"] == "phash:64"
    (index_dir(ws) / "manifest.json").write_text(json.dumps({**manifest, "hash": "phash:256"}))
    messages: list[str] = []
    assert len(open_index(ws, messages.append)) == 4
    assert "phash:256" in messages[0] and "rebuilt" in messages[0]


def test_match_file_is_read_only(
    ws: Workspace, shared_media: Path, variants: dict[str, Path]
) -> None:
    orig, _ = ingest(ws, shared_media / "testvideo.mp4")
    before = len(ws.cases.load(orig).custody)
    s = match_file(ws, variants["flip_crop"])
    assert s.status == "matched" and s.clip_id is None and s.matches[0]["clip_id"] == orig
    assert len(ws.cases.list_clips()) == 1 and len(ws.cases.load(orig).custody) == before


def test_cli_match_and_index_rebuild(
    home: Path, shared_media: Path, variants: dict[str, Path]
) -> None:
    ws = Workspace.open(load_config(home=home))
    orig, _ = ingest(ws, shared_media / "cup.mp4")
    ws.close()
    env = {**os.environ, "OSINT_VIDEO_HOME": str(home), "OSINT_VIDEO_OPERATOR": "tester"}
    proc = subprocess.run(
        [*CLI, "match", str(orig), "--json"], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["status"] == "no_match"
    proc = subprocess.run(
        [*CLI, "match", str(shared_media / "QuickTime.mov"), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 1 and not proc.stdout  # a decode error, one line
    assert "no video frame could be decoded" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    proc = subprocess.run(
        [*CLI, "index", "rebuild"], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0 and "index rebuilt" in proc.stderr
    proc = subprocess.run(
        [*CLI, "index", "compact"], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0 and "index compacted: shard 0: 1 segment(s)" in proc.stderr


def test_sampling_rate_floor_and_rotation(shared_media: Path) -> None:
    from osint_video.config import ProbeConfig
    from osint_video.matching.sampler import plan, sample_frames

    assert plan(1.0, 4.0, 8, 2400, 320).step_s == pytest.approx(0.125)
    assert plan(30.0, 4.0, 8, 2400, 320).step_s == pytest.approx(0.25)
    assert plan(3600.0, 4.0, 8, 2400, 320).step_s == pytest.approx(1.5)
    media = probe_file(shared_media / "with-gps.mov", "video", ProbeConfig()).media
    assert media.rotation_deg == 90
    samples = sample_frames(shared_media / "with-gps.mov", media, plan(4.0, 4.0, 8, 2400, 320))
    assert 15 <= len(samples) <= 17  # 4 s at 4 fps
    h, w = samples[0].grey.shape
    assert h > w  # stored 568x320 landscape, shown upright as portrait

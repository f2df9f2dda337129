"""The triage pipeline, top to bottom, for one file.

Steps (each records a custody event with its inputs, outputs by SHA-256, parameters and tool
versions):

1. sniff    refuse what is not a video or an image before anything is stored;
2. ingest   stream the original into the content-addressed evidence store (read-only);
3. probe    read every piece of metadata from the evidentiary copy;
4. acquire  record the clip and this acquisition in the case store
            (2-4 are atomic: when 3 or 4 fails, the file 2 stored is removed again);
   (`intake` = steps 1-4, what queueing does; `process_clip` = steps 5-11, what a worker does)
5. strip    make a metadata-free working copy, no re-encode;
6. keyframes  shots and keyframes (videos), or the upright still itself (images);
7. hash     perceptual hashes, and near-duplicate groups inside the clip;
8. anomalies  facts a verifier should look at;
9. save     all derived rows in one transaction (a crash leaves the old state or the new);
10. match  sample frames, compare with every clip the desk has seen, add them to the index;
11. report  report.json (source of truth), contact sheet and HTML report.

A failure in steps 5-7 does not lose what came before: the clip is saved as `failed` with the
error and whatever was learned (a header-only file still gets its metadata in the report).

Idempotency (several workers, retried jobs): `process_clip(..., run=JOB)` tags the custody
events of steps 5-9 with `run`. A retry of the same run (a worker killed mid-clip, a job retried
after a database failure) finds them and does not repeat what is already recorded: steps 5-9
are skipped when their events exist, and matching and the reports are skipped when a `matched`
or `report_generated` event follows them. A clip is processed by one run at a time (`exclusive`
lock per clip), and archive matching, which reads and rewrites the per-workspace index, holds
one lock per workspace, so two workers never lose each other's index entries and each clip is
matched against every clip indexed before it.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from . import steps
from .errors import OsintVideoError
from .keyframes.extract import taps_samples
from .matching import match_and_index
from .matching.fingerprints import FrameFingerprint
from .matching.match import SampledFingerprints
from .media.decode import SampleTap
from .media.probe import probe_file, require_decodable
from .models import MediaKind, ProbeResult
from .store.cases import Acquisition, NewEvent, as_utc, utcnow
from .store.locks import exclusive
from .workspace import Workspace

Progress = Callable[[str, float], None]
T = TypeVar("T")


@dataclass(frozen=True)
class TriageRequest:
    """One file to triage and the acquisition facts that come with it."""

    path: Path
    case: str | None = None
    source_url: str | None = None
    note: str | None = None
    reprocess: bool = False


@dataclass(frozen=True)
class TriageOutcome:
    """What happened to one file: `error` is None only when every step succeeded."""

    path: Path
    clip_id: int | None
    sha256: str | None
    status: str
    error: str | None = None
    report_json: str | None = None
    already_known: bool = False


def triage(
    ws: Workspace,
    req: TriageRequest,
    progress: Progress | None = None,
    notify: Callable[[str], None] | None = None,
) -> TriageOutcome:
    """Run the whole pipeline on one file; raises only for input refused before ingest."""
    say = progress or (lambda _stage, _frac: None)
    taken = intake(ws, req, say)
    known = known_outcome(ws, taken, req, say)
    if known is not None:
        return known
    outcome = process_clip(ws, taken.clip_id, say, notify, probe=taken.probe)
    return dataclasses.replace(outcome, path=req.path, already_known=not taken.is_new)


def known_outcome(
    ws: Workspace, taken: Intake, req: TriageRequest, progress: Progress | None = None
) -> TriageOutcome | None:
    """A clip triaged before (and no --reprocess): its reports are refreshed, nothing else.

    Returns:
        The outcome, or None when the clip still has to be processed.
    """
    clip = ws.cases.load(taken.clip_id)
    if taken.is_new or clip.status in PROCESSABLE or req.reprocess:
        return None
    if progress:
        progress("report", 0.95)
    report = steps.write_reports(ws, taken.clip_id, ws.config.operator())
    return TriageOutcome(req.path, taken.clip_id, taken.sha256, clip.status, None, report, True)


@dataclass(frozen=True)
class Intake:
    """A file stored as evidence and recorded as an acquisition (steps 1-4)."""

    clip_id: int
    sha256: str
    kind: MediaKind
    probe: ProbeResult
    is_new: bool


def intake(ws: Workspace, req: TriageRequest, progress: Progress | None = None) -> Intake:
    """Steps 1-4: what `queue add` does before any worker touches the clip.

    Atomic: an evidence file exists only with its clip. The original is hashed into a
    temporary file first; storing it, probing the stored copy and recording the clip then run
    under the original's ingest lock (`CaseStore.ingest_lock`, shared by every process of the
    desk), and if anything fails in between (a probe that raises, the database, Ctrl-C) the
    file this intake stored is removed again (`steps.undo_store`: never one another clip owns,
    and no other intake of the same bytes can be between its store and its record meanwhile).

    Raises:
        InputError: the file is not a readable video or image (nothing is recorded).
        Exception: whatever a step raised, after the store was undone.
    """
    say = progress or (lambda _stage, _frac: None)
    acquired_at = utcnow()
    say("sniff", 0.0)
    kind = steps.sniff(req.path)
    say("ingest", 0.02)
    given, target = steps.source_of(req.path)
    with ws.evidence.stage(req.path) as staged, ws.cases.ingest_lock(staged.sha256):
        stored = ws.evidence.commit(staged)
        try:
            probe = steps.probe_stored(ws, stored, kind)
            acq = Acquisition(
                operator=ws.config.operator(),
                at=acquired_at,
                case=req.case,
                source_path=given,
                source_url=req.source_url,
                note=req.note,
                link_target=target,
            )
            clip_id, is_new = ws.cases.acquire(
                sha256=stored.sha256,
                size_bytes=stored.size_bytes,
                kind=kind,
                filename=req.path.name,
                evidence_path=stored.relpath,
                acquisition=acq,
                event=steps.acquired_event(req, stored),
            )
        except BaseException:
            steps.undo_store(ws, stored)
            raise
    return Intake(clip_id, stored.sha256, kind, probe, is_new)


# Statuses from which a queued job still has work to do (others: done, or an analyst's verdict).
PROCESSABLE = ("queued", "processing", "failed")


def process_clip(
    ws: Workspace,
    clip_id: int,
    progress: Progress | None = None,
    notify: Callable[[str], None] | None = None,
    *,
    probe: ProbeResult | None = None,
    run: str | None = None,
) -> TriageOutcome:
    """Steps 5-11 for a recorded clip, from its evidence file and the config alone.

    This is the unit of work a worker runs: it reads nothing but the evidence store and the case
    store, so any machine sharing both can do it.

    Args:
        ws: the workspace.
        clip_id: a clip recorded by `intake`.
        progress: `(stage, fraction)` callback.
        notify: receives one-line messages.
        probe: the probe `intake` made (else the evidence file is probed again).
        run: the id of this unit of work (a queue job). With it the call is idempotent: a
            retry resumes after the last recorded step, and a clip already processed (or
            judged) by another run is left alone (status unchanged, nothing appended).

    Returns:
        The outcome; `error` says which steps failed.
    """
    if run is None:
        return _process_clip(ws, clip_id, progress, notify, probe, None)
    with exclusive(ws, f"clip-{clip_id}"):
        return _process_clip(ws, clip_id, progress, notify, probe, run)


def _process_clip(
    ws: Workspace,
    clip_id: int,
    progress: Progress | None,
    notify: Callable[[str], None] | None,
    probe: ProbeResult | None,
    run: str | None,
) -> TriageOutcome:
    say = progress or (lambda _stage, _frac: None)
    clip = ws.cases.load(clip_id)
    kind: MediaKind = clip.kind  # type: ignore[assignment]
    done = recorded_in_run(ws, clip_id, run) if run else None
    if done is None and run and clip.status not in PROCESSABLE:
        return _stored_outcome(ws, clip_id, clip.sha256, clip.status, clip.error)
    if done is None or (kind == "video" and "matched" not in done):
        if probe is None:
            say("probe", 0.03)
            probe = probe_file(ws.evidence.path_for(clip.sha256), kind, ws.config.probe)
    if done is None:
        assert probe is not None
        first_seen = min(a.at for a in clip.acquisitions) if clip.acquisitions else utcnow()
        ws.cases.set_status(clip_id, "processing", actor=ws.config.operator(), note=run)
        outcome, sampled = _process(
            ws, clip_id, clip.sha256, kind, probe, as_utc(first_seen), say, run
        )
    else:
        outcome, sampled = (
            TriageOutcome(Path(), clip_id, clip.sha256, clip.status, clip.error),
            None,
        )
    matching = kind == "video" and (done is None or "matched" not in done)
    if matching:
        assert probe is not None
        outcome = _match(ws, clip_id, clip.sha256, probe, outcome, say, notify, sampled)
    if done is not None and "report_generated" in done and not matching:
        return _stored_outcome(ws, clip_id, clip.sha256, outcome.status, outcome.error)
    say("report", 0.95)
    report = steps.write_reports(ws, clip_id, ws.config.operator())
    say("done", 1.0)
    return dataclasses.replace(outcome, report_json=report)


def recorded_in_run(ws: Workspace, clip_id: int, run: str) -> set[str] | None:
    """Actions recorded since `run` saved its results (None: that run saved nothing yet).

    Why by position: steps 5-9 carry `run` in their details; matching and the reports come
    after them in the clip's chain, and the clip lock keeps other runs out meanwhile.
    """
    _sha, events = ws.cases.custody_events(clip_id)
    start = next((i for i, e in enumerate(events) if e.details.get("run") == run), None)
    return None if start is None else {e.action for e in events[start:]}


def _stored_outcome(
    ws: Workspace, clip_id: int, sha256: str, status: str, error: str | None
) -> TriageOutcome:
    report = ws.derived_dir(sha256) / "report.json"
    rel = ws.rel(report) if report.is_file() else None
    return TriageOutcome(Path(), clip_id, sha256, status, error, rel)


class _Steps:
    """Runs steps 5-7 so that one failing step is recorded and does not hide the others."""

    def __init__(self, sha256: str, say: Progress) -> None:
        self.sha256, self.say = sha256, say
        self.events: list[NewEvent] = []
        self.errors: list[str] = []

    def run(
        self, name: str, at: float, work: Callable[[], T], record: Callable[[T], NewEvent]
    ) -> T | None:
        self.say(name, at)
        try:
            result = work()
        except OsintVideoError as exc:
            self.errors.append(f"{name} failed: {exc}")
            self.events.append(
                NewEvent(f"{name}_failed", {"input_sha256": self.sha256, "error": str(exc)})
            )
            return None
        self.events.append(record(result))
        return result


def _process(
    ws: Workspace,
    clip_id: int,
    sha256: str,
    kind: MediaKind,
    probe: ProbeResult,
    acquired_at: datetime,
    say: Progress,
    run: str | None = None,
) -> tuple[TriageOutcome, list[FrameFingerprint] | None]:
    """Steps 5-9 for a recorded clip, writing derived files into a fresh folder first.

    Also returns matching's fingerprints, sampled during the keyframe decode (None when that
    pass failed or could not sample: `_match` then decodes the clip itself)."""
    cfg = ws.config
    evidence = ws.evidence.path_for(sha256)
    final_dir = ws.derived_dir(sha256)
    final_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{sha256[:12]}-", dir=final_dir.parent))
    steps_run = _Steps(sha256, say)
    steps_run.events.append(steps.probed_event(sha256, probe))
    sampled = _sampler(kind, probe, ws)
    tap = sampled.tap() if sampled else None
    # the keyframe pass (two decoder threads) starts now; the strip (an ffmpeg remux, mostly
    # I/O) runs meanwhile; events are still recorded in step order
    with ThreadPoolExecutor(max_workers=1) as pool:
        keyframing = pool.submit(_keyframes, evidence, kind, probe, work, ws, say, tap)
        stripped = steps_run.run(
            "strip",
            0.05,
            lambda: steps.strip(evidence, work, kind, probe, cfg),
            lambda s: steps.stripped_event(sha256, s),
        )
        frames = steps_run.run(
            "keyframes", 0.1, keyframing.result, lambda f: steps.keyframes_event(sha256, f)
        )
    fingerprints = sampled.result() if frames is not None and sampled is not None else None
    hashed = None
    if frames is not None:
        hashed = steps_run.run(
            "hash",
            0.87,
            lambda: steps.hash_keyframes(frames, cfg),
            lambda h: steps.hashed_event(h, cfg),
        )
    shots, keyframes = steps.rows(frames, hashed, final_dir, ws) if frames and hashed else ([], [])
    decode = frames.decode if frames else None
    found = steps.anomalies(
        probe, decode, acquired_at, frames.decoded_size if frames else None, cfg
    )
    _publish(work, final_dir)
    fields = steps.clip_fields(probe, decode, found, stripped, final_dir, ws)
    error = "; ".join(steps_run.errors) or None
    status = "failed" if error else "processed"
    ws.cases.save_results(
        clip_id,
        actor=cfg.operator(),
        status=status,
        fields=fields,
        shots=shots,
        keyframes=keyframes,
        events=_tagged(steps_run.events, run),
        error=error,
    )
    return TriageOutcome(Path(), clip_id, sha256, status, error), fingerprints


def _tagged(events: list[NewEvent], run: str | None) -> list[NewEvent]:
    """The events with `run` in their details, so a retry of the same run can find them."""
    if run is None:
        return events
    return [NewEvent(e.action, {**e.details, "run": run}) for e in events]


def _match(
    ws: Workspace,
    clip_id: int,
    sha256: str,
    probe: ProbeResult,
    outcome: TriageOutcome,
    say: Progress,
    notify: Callable[[str], None] | None,
    sampled: list[FrameFingerprint] | None = None,
) -> TriageOutcome:
    """Step 10: archive matching; its failure is reported but keeps the clip's results."""
    say("match", 0.9)
    try:
        with exclusive(ws, "archive-index"):
            match_and_index(
                ws,
                clip_id,
                ws.evidence.path_for(sha256),
                probe.media,
                lambda stage, f: say(stage, 0.9 + 0.05 * f),
                notify,
                fingerprints=sampled,
            )
    except OsintVideoError as exc:
        error = "; ".join(e for e in (outcome.error, f"matching failed: {exc}") if e)
        return dataclasses.replace(outcome, error=error)
    return outcome


def _keyframes(
    evidence: Path,
    kind: MediaKind,
    probe: ProbeResult,
    work: Path,
    ws: Workspace,
    say: Progress,
    tap: SampleTap | None = None,
) -> steps.Frames:
    require_decodable(probe.media)
    return steps.keyframes(
        evidence, kind, probe, work, ws.config, lambda f: say("keyframes", 0.1 + 0.75 * f), tap
    )


def _sampler(kind: MediaKind, probe: ProbeResult, ws: Workspace) -> SampledFingerprints | None:
    """Matching's ~4 fps samples taken during the keyframe decode: one decode for both steps
    (the same frames, pixels and fingerprints as `match_and_index` sampling on its own)."""
    cfg = ws.config
    usable = kind == "video" and cfg.matching.enabled and taps_samples(cfg.keyframes)
    return SampledFingerprints(probe.media, cfg.matching) if usable else None


def _publish(work: Path, final_dir: Path) -> None:
    """Swap the freshly written folder in place of the old one (derived files only)."""
    if final_dir.exists():
        old = final_dir.with_name(final_dir.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        final_dir.rename(old)
        work.rename(final_dir)
        shutil.rmtree(old, ignore_errors=True)
    else:
        work.rename(final_dir)

"""The triage pipeline, top to bottom, for one file.

Intake (`intake`, what `queue add` does before any worker touches the clip; functions in
`steps/intake.py`, atomic under the original's ingest lock):

1. sniff    refuse what is not a video or an image before anything is stored;
2. ingest   stream the original into the content-addressed evidence store (read-only);
3. probe    read every piece of metadata from the evidentiary copy;
4. acquire  record the clip and this acquisition in the case store (2-4 are atomic: when 3 or
            4 fails, the file 2 stored is removed again).

Processing (`process_clip`, what a worker does): the steps of `STEPS`, in that order, on the
seam of `steps/base.py`, which gives every step the same progress, failure records, commit
and resume (see its docstring). "Adding a step" in README.md walks through one (the text step).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .models import ClipRecord, MediaKind, ProbeResult
from .steps import intake as intake_steps
from .steps.anomalies import Anomalies
from .steps.base import SAVE, Job, Step, completed, fresh_folder, run_steps
from .steps.credentials import C2paThumbnail
from .steps.hashes import Hash
from .steps.keyframes import Keyframes
from .steps.match import Match
from .steps.probe import Probe
from .steps.report import Report, SeenLater, publish
from .steps.sound import Sound
from .steps.sound_match import SoundMatch
from .steps.strip import Strip
from .steps.text import Text
from .store.cases import Acquisition, utcnow
from .workspace import Workspace

Progress = Callable[[str, float], None]

STEPS: tuple[Step, ...] = (
    Probe(),  # the probe's record (intake probed the evidence file)
    C2paThumbnail(),  # the signer's thumbnail kept (files with Content Credentials only)
    Strip(),  # metadata-free working copy, no re-encode (beside the decode)
    Keyframes(),  # shots and keyframes; matching and text sample the same decode
    Hash(),  # perceptual hashes, near-duplicate groups inside the clip
    Text(),  # on-screen text at the keyframes and where the text layer changes
    Sound(),  # each audio track's facts and fingerprint; a still picture under the sound
    Anomalies(),  # facts a verifier should look at
    SAVE,  # all of the above in one transaction (a crash leaves the old state or the new)
    Match(),  # compare with every clip the desk has seen, add this one to the index
    SoundMatch(),  # the same by sound; picture or sound or both; where the two disagree
    Report(),  # report.json (source of truth), contact sheet, report.html, signature
    SeenLater(),  # earlier clips this one matched name it in their reports
)


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
    clip = ws.cases.record(taken.clip_id)
    if taken.is_new or clip.status in PROCESSABLE or req.reprocess:
        return None
    if progress:
        progress("report", 0.95)
    report = publish(ws, taken.clip_id, ws.config.operator())
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
    kind = intake_steps.sniff(req.path)
    say("ingest", 0.02)
    given, target = intake_steps.source_of(req.path)
    with ws.evidence.stage(req.path) as staged, ws.cases.ingest_lock(staged.sha256):
        stored = ws.evidence.commit(staged)
        try:
            probe = intake_steps.probe_stored(ws, stored, kind)
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
                event=intake_steps.acquired_event(req, stored),
            )
        except BaseException:
            intake_steps.undo_store(ws, stored)
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
    steps: tuple[Step, ...] = STEPS,
) -> TriageOutcome:
    """The steps of `STEPS` for a recorded clip, from its evidence file and the config alone.

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
            judged) by another run is left alone (status unchanged, nothing appended). A clip
            is processed by one run at a time (its lock).
        steps: the pipeline (the default; tests run shorter lists).

    Returns:
        The outcome; `error` says which steps failed.
    """
    if run is None:
        return _process(ws, clip_id, progress, notify, probe, None, steps)
    with ws.lock(f"clip-{clip_id}"):
        return _process(ws, clip_id, progress, notify, probe, run, steps)


def _process(
    ws: Workspace,
    clip_id: int,
    progress: Progress | None,
    notify: Callable[[str], None] | None,
    probe: ProbeResult | None,
    run: str | None,
    steps: tuple[Step, ...],
) -> TriageOutcome:
    clip = ws.cases.record(clip_id)
    recorded = recorded_in_run(clip, run) if run else None
    if recorded is None and run and clip.status not in PROCESSABLE:
        return _outcome(clip)
    skip = completed(steps, recorded)
    if skip == len(steps):
        return _outcome(clip)
    job = Job(
        ws=ws,
        clip_id=clip_id,
        sha256=clip.sha256,
        kind=clip.kind,
        given_probe=probe,
        acquired_at=clip.first_acquired_at,
        actor=ws.config.operator(),
        work=fresh_folder(ws.derived_dir(clip.sha256)) if SAVE in steps[skip:] else Path(),
        final=ws.derived_dir(clip.sha256),
        run=run,
        notify=notify or (lambda _m: None),
        on_progress=progress or (lambda _s, _f: None),
    )
    if SAVE in steps[skip:]:
        ws.cases.set_status(clip_id, "processing", actor=job.actor, note=run)
    run_steps(job, steps, skip)
    if progress:
        progress("done", 1.0)
    return _outcome(ws.cases.record(clip_id))


def recorded_in_run(clip: ClipRecord, run: str) -> set[str] | None:
    """Actions recorded since `run` saved its results (None: that run saved nothing yet).

    Why by position: steps 5-9 carry `run` in their details; matching and the reports come
    after them in the clip's chain, and the clip lock keeps other runs out meanwhile.
    """
    events = clip.custody
    start = next((i for i, e in enumerate(events) if e.details.get("run") == run), None)
    return None if start is None else {e.action for e in events[start:]}


def _outcome(clip: ClipRecord) -> TriageOutcome:
    """A clip's outcome as the case store has it now."""
    report = clip.derived.report_json
    return TriageOutcome(Path(), clip.id, clip.sha256, clip.status, clip.error, report)

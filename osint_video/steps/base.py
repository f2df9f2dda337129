"""The step seam: what a pipeline step is, and how an ordered list of steps is run.

A step is a small class (`Step`): a `name` (its stage on the progress bar, and the
`<name>_failed` custody action when it fails), the `action` of the custody event it writes
when it succeeds, its `weight` on the progress bar, the `tools` it runs (named in that event,
see `tools.py`) and one required method, `run`. `pipeline.py` holds the ordered list; `run_steps`
turns that list into everything that is the same for every step:

- **order and data**: each step reads what earlier steps made through `Job.result(StepClass)`
  (typed: a step class says what its `run` returns) and never through a shared bag;
- **progress**: each step's share of the bar is its weight; `Job.progress(f)` moves within it;
- **failure records**: a step that raises `OsintVideoError` gets a `<name>_failed` event with
  the error, its message joins the clip's error, and the steps that needed its result are
  skipped (an unexpected exception is a bug: it propagates, the clip stays `processing`, and a
  queue job retries it);
- **records and the commit**: the steps before `SAVE` work in a fresh folder and record
  nothing yet; at `SAVE` their rows (`Step.stored`) and events go into the case store in one
  transaction, and the folder replaces the clip's derived folder. Each step after `SAVE`
  records its own rows and event at once, in one transaction (`Step.write`);
- **resume**: a run id tags the events; a retry of that run skips every step up to the last
  one whose event is recorded, and runs the rest (`completed`);
- **shared decode**: a step may `tap` the keyframe decode for samples of its own (matching's
  fingerprints, on-screen text), so one decode serves them all.
"""

from __future__ import annotations

import shutil
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from ..errors import OsintVideoError
from ..media.plan import SampleTap
from ..models import MediaKind, ProbeResult
from ..store.cases import NewEvent
from ..tools import tool_versions
from ..workspace import Workspace

T = TypeVar("T")
Progress = Callable[[str, float], None]
Notify = Callable[[str], None]


class Skipped(Exception):
    """A step needed the result of an earlier step that failed or did not run."""


class Sampler(Protocol):
    """A step's consumer of samples from the keyframe decode (see `Step.sampler`)."""

    def tap(self) -> SampleTap: ...


@dataclass(frozen=True)
class Stored:
    """What a step before `SAVE` adds to the clip's record at the commit.

    `fields` are clip columns (the case store refuses one it does not know); `derived` names
    files of the derived folder (workspace-relative) by role; `shots` and `keyframes` replace
    the clip's rows when given.
    """

    fields: dict[str, Any] = field(default_factory=dict)
    derived: dict[str, str] = field(default_factory=dict)
    shots: list[dict[str, Any]] | None = None
    keyframes: list[dict[str, Any]] | None = None


class Step(ABC, Generic[T]):
    """One step of the pipeline (see the module docstring)."""

    name: ClassVar[str]
    action: ClassVar[str | None]  # None: the step records no event of its own
    weight: ClassVar[float] = 0.01
    tools: ClassVar[tuple[str, ...]] = ()
    background: ClassVar[bool] = False  # runs beside the next steps (its own thread)
    critical: ClassVar[bool] = True  # its failure is the clip's error (else only recorded)

    @abstractmethod
    def run(self, job: Job) -> T:
        """Do the step's work; raise `OsintVideoError` (one line) when it cannot."""

    def event(self, job: Job, result: T) -> dict[str, Any]:
        """The details of the step's custody event (inputs, outputs, parameters)."""
        return {"input_sha256": job.sha256}

    def stored(self, job: Job, result: T) -> Stored:
        """Before `SAVE`: the rows the commit writes for this step."""
        return Stored()

    def write(self, job: Job, result: T, event: NewEvent | None) -> None:
        """After `SAVE`: record the result and its event, in one transaction."""
        if event is not None:
            job.ws.cases.append_events(job.clip_id, job.actor, [event])

    def lock(self, job: Job) -> AbstractContextManager[Any]:
        """Held across `run` and `write` (a step that reads and rewrites shared state)."""
        return nullcontext()

    def sampler(self, job: Job) -> Sampler | None:
        """What takes this step's samples from the keyframe decode (None: it needs none)."""
        return None

    def on_keyframe(self, job: Job) -> Callable[[Any], Any] | None:
        """What this step takes from each keyframe's upright picture while its PNG is written
        (in a writer thread), so it never reads the PNG back; found in `KeyframeFacts.extras`
        under the step's class. None: nothing."""
        return None

    def wanted(self, job: Job) -> bool:
        """Whether the step applies to this clip (e.g. stills are not matched)."""
        return True


class Commit(Step[None]):
    """The commit point: rows and events of every step before it, in one transaction."""

    name = "save"
    action = None
    weight = 0.01

    def run(self, job: Job) -> None:
        return None


SAVE = Commit()


@dataclass
class Job:
    """One clip going through the steps: the facts every step may read, and what earlier
    steps made (`result`). Built by `run_steps`."""

    ws: Workspace
    clip_id: int
    sha256: str
    kind: MediaKind
    given_probe: ProbeResult | None
    acquired_at: datetime
    actor: str
    work: Path  # fresh folder the steps before SAVE write into
    final: Path  # the clip's derived folder (the work folder replaces it at SAVE)
    run: str | None = None
    notify: Notify = lambda _m: None
    on_progress: Progress = lambda _s, _f: None
    _results: dict[type, Any] = field(default_factory=dict)
    _pending: dict[type, Future[Any]] = field(default_factory=dict)
    _samplers: dict[type, Sampler] = field(default_factory=dict)
    _keyframe_hooks: dict[type, Callable[[Any], Any]] = field(default_factory=dict)
    _served: bool = False
    _span: tuple[str, float, float] = ("", 0.0, 0.0)

    @property
    def evidence(self) -> Path:
        return self.ws.evidence.path_for(self.sha256)

    @property
    def probe(self) -> ProbeResult:
        """What intake's probe read, or the evidence file probed now (a resumed run).

        Raises:
            ProbeError: the evidence file can no longer be parsed.
        """
        if self.given_probe is None:
            from ..media.probe import probe_file

            self.given_probe = probe_file(self.evidence, self.kind, self.ws.config.probe)
        return self.given_probe

    def result(self, step: type[Step[T]]) -> T:
        """What `step` returned (waiting for it when it runs in the background).

        Raises:
            Skipped: it failed or did not run; the asking step is skipped too.
        """
        if step in self._pending:
            self._results[step] = self._pending.pop(step).result()
        value = self._results.get(step, _MISSING)
        if value is _MISSING or isinstance(value, Failure):
            raise Skipped(step.name)
        out: T = value
        return out

    def maybe(self, step: type[Step[T]]) -> T | None:
        """What `step` returned, or None when it failed or did not run."""
        try:
            return self.result(step)
        except Skipped:
            return None

    def sampled(self, step: type[Step[Any]]) -> Sampler | None:
        """The sampler `step` gave the keyframe decode, once that decode has run to its end
        and served it (None: the step samples on its own)."""
        return self._samplers.get(step) if self._served else None

    def served(self) -> None:
        """Said by the keyframe decode once it has fed every sampler to the end."""
        self._served = True

    def keyframe_hooks(self) -> dict[type, Callable[[Any], Any]]:
        """The steps' keyframe hooks (`Step.on_keyframe`), by step class."""
        return dict(self._keyframe_hooks)

    def taps(self) -> list[SampleTap]:
        """The taps of every sampler of this run, in list order (for the keyframe decode)."""
        return [s.tap() for s in self._samplers.values()]

    def untap(self) -> None:
        """The keyframe decode cannot serve the samplers: their steps sample on their own."""
        self._samplers.clear()

    def progress(self, fraction: float) -> None:
        """Move the bar within the running step's share."""
        name, start, width = self._span
        self.on_progress(name, start + width * min(1.0, max(0.0, fraction)))

    def event_for(self, step: Step[Any], details: dict[str, Any]) -> NewEvent:
        """The step's event: its details, its tools, this run's tag."""
        details = {**details, "tools": tool_versions(step.tools)}
        if self.run is not None:
            details["run"] = self.run
        return NewEvent(step.action or step.name, details)


@dataclass
class Outcome:
    """What running the steps did: the status saved, the errors, the steps that ran."""

    status: str
    errors: list[str]
    ran: list[str]


def completed(steps: Sequence[Step[Any]], recorded: set[str] | None) -> int:
    """How many leading steps a retry may skip: up to the last step whose event this run
    recorded (None recorded: none). A step's failure event does not count as done."""
    if recorded is None:
        return 0
    done = 0
    for i, step in enumerate(steps):
        if step.action is not None and step.action in recorded:
            done = i + 1
        elif isinstance(step, Commit) and recorded:
            done = max(done, i + 1)  # every event before SAVE is written with it
    return done


def run_steps(job: Job, steps: Sequence[Step[Any]], skip: int = 0) -> Outcome:
    """Run `steps[skip:]` in order on `job` (see the module docstring).

    Returns:
        The status the commit saved ("processed" or "failed"; "" when no commit ran), the
        error messages of the steps that failed, and the names of the steps that ran.
    """
    todo = [s for s in steps[skip:] if s.wanted(job)]
    for step in todo:
        sampler = step.sampler(job)
        if sampler is not None:
            job._samplers[type(step)] = sampler
        hook = step.on_keyframe(job)
        if hook is not None:
            job._keyframe_hooks[type(step)] = hook
    run = _Run(job, todo)
    with ThreadPoolExecutor(max_workers=1) as pool:
        for step in todo:
            run.one(step, pool)
    return Outcome(run.status, run.errors, run.ran)


@dataclass(frozen=True)
class Failure:
    """A step's error, kept in place of its result."""

    message: str


_MISSING = object()


class _Run:
    """The bookkeeping of one `run_steps` call."""

    def __init__(self, job: Job, todo: list[Step[Any]]) -> None:
        self.job = job
        self.total = sum(s.weight for s in todo) or 1.0
        self.staged: list[Step[Any]] = []  # steps before SAVE that ran, in list order
        self.failed: list[NewEvent] = []
        self.errors: list[str] = []
        self.ran: list[str] = []
        self.done = 0.0
        self.status = ""
        self.committed = not any(isinstance(s, Commit) for s in todo)

    def one(self, step: Step[Any], pool: ThreadPoolExecutor) -> None:
        job = self.job
        job._span = (step.name, self.done / self.total, step.weight / self.total)
        job.progress(0.0)
        self.done += step.weight
        if isinstance(step, Commit):
            self.commit()
        elif step.background and not self.committed:
            job._pending[type(step)] = pool.submit(_attempt, step, job)
            self.staged.append(step)
        else:
            with step.lock(job):
                self.foreground(step)

    def foreground(self, step: Step[Any]) -> None:
        job = self.job
        try:
            result = _attempt(step, job)
        except Skipped:
            return
        job._results[type(step)] = result
        if isinstance(result, Failure):
            self.fail(step, result.message)
        elif self.committed:
            self.ran.append(step.name)
            event = job.event_for(step, step.event(job, result)) if step.action else None
            step.write(job, result, event)
        else:
            self.staged.append(step)

    def fail(self, step: Step[Any], error: str) -> None:
        """Record a step's failure: a `<name>_failed` event (staged before SAVE, written at
        once after it) and, for a critical step, a line of the clip's error."""
        job = self.job
        message = f"{step.name} failed: {error}"
        details: dict[str, Any] = {"input_sha256": job.sha256, "error": error}
        if job.run is not None:
            details["run"] = job.run
        event = NewEvent(f"{step.name}_failed", details)
        if step.critical:
            self.errors.append(message)
        else:
            job.notify(message)
        if not self.committed:
            self.failed.append(event)
        else:
            job.ws.cases.record_failure(
                job.clip_id, job.actor, event, message if step.critical else None
            )

    def commit(self) -> None:
        """SAVE: the staged steps' rows and events (in list order), one transaction."""
        job = self.job
        events: list[NewEvent] = []
        stored = Stored()
        for step in self.staged:
            try:
                result = job.result(type(step))
            except Skipped:
                failure = job._results.get(type(step))
                if isinstance(failure, Failure):
                    self.fail(step, failure.message)
                continue
            self.ran.append(step.name)
            if step.action:
                events.append(job.event_for(step, step.event(job, result)))
            stored = _merge(stored, step.stored(job, result))
        events.extend(self.failed)
        _publish(job.work, job.final)
        error = "; ".join(self.errors) or None
        self.status = "failed" if error else "processed"
        derived = {role: stored.derived.get(role) for role in DERIVED_ROLES}
        job.ws.cases.save_results(
            job.clip_id,
            actor=job.actor,
            status=self.status,
            fields={**stored.fields, "derived": derived},
            shots=stored.shots or [],
            keyframes=stored.keyframes or [],
            events=events,
            error=error,
        )
        self.committed = True
        self.ran.append(SAVE.name)


def _attempt(step: Step[Any], job: Job) -> Any:
    """A step's result, or its `Failure` (an expected, one-line error)."""
    try:
        return step.run(job)
    except OsintVideoError as exc:
        return Failure(str(exc))


# Files of the derived folder a clip's record names; a commit resets them all (the folder is
# replaced) and the steps name the ones they wrote.
DERIVED_ROLES = ("stripped_copy", "c2pa_thumbnail", "contact_sheet", "html_report", "report_json")


def _merge(a: Stored, b: Stored) -> Stored:
    clash = (set(a.fields) & set(b.fields)) | (set(a.derived) & set(b.derived))
    if clash:
        raise ValueError(f"two steps store the same clip fields: {sorted(clash)}")
    return Stored(
        {**a.fields, **b.fields},
        {**a.derived, **b.derived},
        b.shots if b.shots is not None else a.shots,
        b.keyframes if b.keyframes is not None else a.keyframes,
    )


def fresh_folder(final: Path) -> Path:
    """A new empty folder beside the clip's derived folder, for one run's derived files."""
    final.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{final.name[:12]}-", dir=final.parent))


def _publish(work: Path, final: Path) -> None:
    """Swap the freshly written folder in place of the old one (derived files only)."""
    if not work.exists():
        return
    if final.exists():
        old = final.with_name(final.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)
        work.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        work.rename(final)

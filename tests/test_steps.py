"""The step seam: a step added to the list gets its custody event, its share of the progress bar,
its failure record and resume without touching anything else (README "Adding a step")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from synth import make_cut_clip

from osint_video.config import load_config
from osint_video.errors import InputError
from osint_video.pipeline import STEPS, TriageRequest, intake, process_clip
from osint_video.report.markdown import render_markdown
from osint_video.steps.base import SAVE, Job, Step, Stored, completed
from osint_video.steps.keyframes import Keyframes
from osint_video.steps.match import Match
from osint_video.steps.report import Report
from osint_video.workspace import Workspace


class CountKeyframes(Step[int]):
    """A toy analysis: counts keyframes and stores nothing but its event."""

    name = "count"
    action = "counted"
    weight = 0.1
    tools = ("numpy",)
    runs = 0

    def run(self, job: Job) -> int:
        CountKeyframes.runs += 1
        return len(job.result(Keyframes).keyframes)

    def event(self, job: Job, result: int) -> dict[str, Any]:
        return {"input_sha256": job.sha256, "keyframes": result}


class Broken(Step[None]):
    name = "broken"
    action = "never"

    def run(self, job: Job) -> None:
        raise InputError("this step cannot work on this clip")


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    w = Workspace.open(load_config(home=tmp_path / "ws", environ={}))
    yield w
    w.close()


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return make_cut_clip(tmp_path / "c.mp4", [25], 50)


def _with(step: Step[Any], after: type) -> tuple[Step[Any], ...]:
    at = next(i for i, s in enumerate(STEPS) if isinstance(s, after)) + 1
    return (*STEPS[:at], step, *STEPS[at:])


def test_a_new_step_records_its_event_in_order_with_its_tools(ws: Workspace, clip: Path) -> None:
    taken = intake(ws, TriageRequest(clip))
    seen: list[tuple[str, float]] = []
    steps = _with(CountKeyframes(), Keyframes)
    out = process_clip(ws, taken.clip_id, lambda s, f: seen.append((s, f)), steps=steps)
    assert out.status == "processed" and out.error is None
    events = ws.cases.load(taken.clip_id).custody
    actions = [e.action for e in events]
    assert actions.index("keyframes_extracted") < actions.index("counted") < actions.index("hashed")
    [counted] = [e for e in events if e.action == "counted"]
    assert counted.details["keyframes"] == len(ws.cases.load(taken.clip_id).keyframes) > 0
    assert set(counted.details["tools"]) == {"osint-video", "python", "numpy"}
    # progress: every step's stage shows, fractions never go back, the bar ends full
    stages = [s for s, _f in seen]
    assert "count" in stages and stages.index("keyframes") < stages.index("count")
    fractions = [f for _s, f in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_a_failing_step_is_recorded_and_the_others_still_run(ws: Workspace, clip: Path) -> None:
    taken = intake(ws, TriageRequest(clip))
    out = process_clip(ws, taken.clip_id, steps=_with(Broken(), Keyframes))
    assert out.status == "failed"
    assert out.error == "broken failed: this step cannot work on this clip"
    row = ws.cases.load(taken.clip_id)
    [failed] = [e for e in row.custody if e.action == "broken_failed"]
    assert failed.details["error"] == "this step cannot work on this clip"
    assert {"hashed", "matched", "report_generated"} <= {e.action for e in row.custody}
    assert row.keyframes and row.derived["report_json"]


def test_a_step_after_the_commit_fails_without_failing_the_clip_results(
    ws: Workspace, clip: Path
) -> None:
    """Matching's failure, say: its event, the clip's error and the report say it; the clip's
    results stand."""
    taken = intake(ws, TriageRequest(clip))
    out = process_clip(ws, taken.clip_id, steps=_with(Broken(), Match))
    assert (
        out.status == "processed"
        and out.error == "broken failed: this step cannot work on this clip"
    )
    row = ws.cases.load(taken.clip_id)
    actions = [e.action for e in row.custody]
    assert (
        actions.index("matched")
        < actions.index("broken_failed")
        < actions.index("report_generated")
    )
    report = json.loads((ws.home / row.derived["report_json"]).read_text())
    assert report["error"] == out.error and report["status"] == "processed"
    html = (ws.home / row.derived["html_report"]).read_text()
    assert f'<dt>Failed</dt><dd class="error">{out.error}</dd>' in html
    assert "| Failed | broken failed: this step cannot work on this clip |" in render_markdown(
        report
    )


def test_a_retried_run_resumes_after_the_last_recorded_step(ws: Workspace, clip: Path) -> None:
    taken = intake(ws, TriageRequest(clip))
    steps = _with(CountKeyframes(), Keyframes)
    CountKeyframes.runs = 0
    upto_save = steps[: steps.index(SAVE) + 1]
    process_clip(ws, taken.clip_id, probe=taken.probe, run="job-1", steps=upto_save)
    assert CountKeyframes.runs == 1
    out = process_clip(ws, taken.clip_id, run="job-1", steps=steps)
    assert CountKeyframes.runs == 1  # not again: the commit recorded it
    actions = [e.action for e in ws.cases.load(taken.clip_id).custody]
    assert actions.count("counted") == 1 and actions.count("matched") == 1
    assert out.status == "processed" and out.report_json


def test_completed_counts_from_the_list() -> None:
    at_save = STEPS.index(SAVE) + 1
    at_match = next(i for i, s in enumerate(STEPS) if isinstance(s, Match)) + 1
    at_report = next(i for i, s in enumerate(STEPS) if isinstance(s, Report)) + 1
    assert completed(STEPS, None) == 0
    assert completed(STEPS, {"probed", "stripped"}) == at_save
    assert completed(STEPS, {"probed", "matched"}) == at_match
    assert completed(STEPS, {"probed", "match_failed"}) == at_save  # a failure is not done
    assert completed(STEPS, {"probed", "matched", "report_generated"}) == at_report


def test_two_steps_cannot_store_the_same_field(ws: Workspace, clip: Path) -> None:
    class Clash(Step[None]):
        name = "clash"
        action = None

        def run(self, job: Job) -> None:
            return None

        def stored(self, job: Job, result: None) -> Stored:
            return Stored(fields={"anomalies": []})

    taken = intake(ws, TriageRequest(clip))
    with pytest.raises(ValueError, match="anomalies"):
        process_clip(ws, taken.clip_id, steps=_with(Clash(), Keyframes))


def test_the_case_store_refuses_a_field_it_does_not_know(ws: Workspace, clip: Path) -> None:
    from osint_video.errors import StoreError

    taken = intake(ws, TriageRequest(clip))
    with pytest.raises(StoreError, match="not a result field of a clip: status"):
        ws.cases.save_results(
            taken.clip_id, actor="t", status="processed", fields={"status": "verified"},
            shots=[], keyframes=[], events=[],
        )  # fmt: skip

"""The probe's child process: deadline, memory limit, crashes, bugs, captured output.

Stages here are standard-library callables (picklable by reference) standing in for a parser
that stalls (`time.sleep`), allocates without end (`bytearray`), dies on a signal (`os.abort`),
prints, warns or logs.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import warnings
from pathlib import Path

import pytest

from osint_video.errors import InputError
from osint_video.media import bounded
from osint_video.media.bounded import LimitHit, ParserBug, Stage
from osint_video.media.containers import read_container_tags


def _run(*stages: Stage, time_s: float = 10, memory_mb: int = 256) -> bounded.Outcome:
    return bounded.run_stages(list(stages), time_s=time_s, memory_mb=memory_mb)


def test_stages_return_in_order() -> None:
    got = _run(Stage("a", len, ("abc",)), Stage("b", sorted, ([3, 1, 2],)))
    assert got.values == {"a": 3, "b": [1, 2, 3]} and got.hits == ()


def test_the_deadline_stops_a_stalled_stage_and_names_what_did_not_run() -> None:
    started = time.monotonic()
    got = _run(
        Stage("first", len, ("ab",)),
        Stage("stalls", time.sleep, (30,)),
        Stage("never", len, ("x",)),
        time_s=0.5,
    )
    assert time.monotonic() - started < 3
    assert got.values == {"first": 2}
    assert got.hits == (LimitHit("time", "stalls", "0.5 s", ("never",)),)


def test_the_memory_limit_stops_one_stage_and_the_next_still_runs() -> None:
    got = _run(Stage("greedy", bytearray, (4 << 30,)), Stage("after", len, ("ab",)))
    assert got.hits == (LimitHit("memory", "greedy", "256 MB"),)
    assert got.values == {"after": 2}


def test_a_crashed_child_is_recorded_and_the_rest_runs_in_a_new_one() -> None:
    got = _run(Stage("dies", os.abort), Stage("after", len, ("abc",)))
    (hit,) = got.hits
    assert hit.limit == "crashed" and hit.stage == "dies"
    assert got.values == {"after": 3}


def test_our_errors_come_back_as_they_are(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        _run(Stage("boxes", read_container_tags, (tmp_path,)))  # a directory


def test_anything_else_is_a_bug_with_the_childs_traceback() -> None:
    with pytest.raises(ParserBug, match="^bad: ValueError: invalid literal") as err:
        _run(Stage("bad", int, ("x",)))
    assert "\n" not in str(err.value)
    assert any("Traceback" in note for note in err.value.__notes__)


def test_what_a_library_prints_warns_or_logs_is_captured(
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="osint_video.media.bounded")
    got = _run(
        Stage("prints", print, ("hello from C",)),
        Stage("warns", warnings.warn, ("careful",)),
        Stage("logs", logging.warning, ("exifread says %s", "hi")),
        Stage("quiet", len, ("",)),
    )
    assert got.messages == {
        "prints": ["printed: hello from C"],
        "warns": ["UserWarning: careful"],
        "logs": ["root: exifread says hi"],
    }
    out, err = capfd.readouterr()
    assert "hello" not in out + err and "careful" not in out + err
    assert "prints: printed: hello from C" in caplog.text  # in the log instead


def test_a_dead_fork_server_is_restarted() -> None:
    bounded.warm_up()
    server = bounded._current[0]
    server.proc.kill()
    server.proc.wait()
    assert _run(Stage("a", len, ("ab",))).values == {"a": 2}
    assert bounded._current[0] is not server


def test_concurrent_callers_each_get_their_own_child() -> None:
    results: dict[int, object] = {}

    def call(i: int) -> None:
        results[i] = _run(Stage("n", len, ("x" * i,))).values["n"]

    threads = [threading.Thread(target=call, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {i: i for i in range(8)}


def test_a_forked_caller_starts_its_own_fork_server() -> None:
    bounded.warm_up()
    parent_server = bounded._current[0]
    pid = os.fork()
    if pid == 0:  # the copy must not talk on the parent's socket
        ok = _run(Stage("a", len, ("abc",))).values == {"a": 3}
        os._exit(0 if ok and bounded._current[0] is not parent_server else 1)
    _pid, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert bounded._current[0] is parent_server and parent_server.alive()
    assert _run(Stage("b", len, ("ab",))).values == {"b": 2}

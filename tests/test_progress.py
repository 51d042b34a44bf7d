"""Progress off a terminal: plain lines with done/total, times and an ETA; what a rerun reuses, in one line."""

from __future__ import annotations

import io
import time

import pytest

from robustness.durations import duration
from robustness.experiment.execution.progress import LineProgress
from robustness.experiment.execution.resume import Reuse, count_reuse
from robustness.experiment.kinds.base import Unit
from robustness.experiment.kinds.registry import kind_named
from robustness.experiment.kinds.selection import SelectionInputs
from robustness.experts.progress import line_advance


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def unit(kind: str, label: str) -> Unit:
    inputs = SelectionInputs(pair="sst2+cola", method=label, candidates=[])  # progress reads only kind and label
    return Unit(f"{kind}/{label}/0123456789abcdef", kind_named(kind), None, inputs, label)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.2, "0 s"), (31, "31 s"), (59.4, "59 s"), (59.6, "1 min"), (2700, "45 min"), (3599, "1 h 0 min"),
     (4200, "1 h 10 min"), (-1, "0 s")],
)  # fmt: skip
def test_durations_read_like_words(seconds: float, text: str) -> None:
    assert duration(seconds) == text


def test_one_line_per_finished_unit_with_an_eta_from_the_mean_unit_time() -> None:
    clock, out = Clock(), io.StringIO()
    progress = LineProgress(5, out, heartbeat=0, clock=clock)
    progress.skip(unit("merge", "a"))  # already stored: counted as done, no line, no time
    progress.start(unit("clean", "sst2+cola/ties/sst2/report"))
    clock.now += 30
    progress.finish(unit("clean", "sst2+cola/ties/sst2/report"), 30.0)
    progress.start(unit("attack", "b"))
    clock.now += 90
    progress.finish(unit("attack", "b"), 90.0)
    assert out.getvalue().splitlines() == [
        # 3 units left at a mean of 30 s, then 2 left at a mean of 60 s
        "[2/5] clean sst2+cola/ties/sst2/report: done in 30 s; 30 s elapsed, ETA 2 min",
        "[3/5] attack b: done in 2 min; 2 min elapsed, ETA 2 min",
    ]


def test_a_long_unit_gets_running_lines_at_most_every_heartbeat() -> None:
    clock, out = Clock(), io.StringIO()
    progress = LineProgress(4, out, heartbeat=60, clock=clock)
    progress.start(unit("attack", "slow"))
    for _ in range(10):  # 150 s in steps of 15 s: lines at 60 and 120 s only
        clock.now += 15
        progress.beat()
    progress.finish(unit("attack", "slow"), 150.0)
    progress.beat()  # nothing runs: no line
    assert out.getvalue().splitlines() == [
        "[0/4] attack slow: running for 1 min; 1 min elapsed",
        "[0/4] attack slow: running for 2 min; 2 min elapsed",
        "[1/4] attack slow: done in 2 min; 2 min elapsed, ETA 8 min",
    ]


def test_the_watcher_thread_writes_running_lines_and_stops() -> None:
    out = io.StringIO()
    with LineProgress(2, out, heartbeat=0.05) as progress:
        progress.start(unit("merge", "m"))
        time.sleep(0.5)
        progress.finish(unit("merge", "m"), 0.5)
    lines = out.getvalue().splitlines()
    assert lines[-1].startswith("[1/2] merge m: done in 0 s")
    assert 1 <= sum("running for" in line for line in lines) <= 10
    assert progress._watcher is not None and not progress._watcher.is_alive()


def test_reuse_counts_and_line() -> None:
    stored = {"a", "b", "c", "d", "e"}
    # a, b planned; c may be planned once selection has run; d, e no longer planned; 4 planned units in all
    reuse = count_reuse(stored, known={"a", "b", "x"}, possible={"c", "y"}, total=6)
    assert reuse == Reuse(reused=2, dropped=2, waiting=1, to_run=4)
    assert reuse.line() == (
        "config changed since the last run: 2 stored units reused, 2 no longer planned (kept in the store, not "
        "reported), up to 4 to run (1 more stored may be reused once selection has run)"
    )
    assert Reuse(1, 0, 0, 3).line() == (
        "config changed since the last run: 1 stored unit reused, 0 no longer planned (kept in the store, not "
        "reported), 3 to run"
    )


def test_training_lines_every_tenth_of_the_steps() -> None:
    clock, out = Clock(), io.StringIO()
    advance = line_advance("cola expert", 25, out, clock=clock)
    for step in range(25):
        clock.now += 2
        advance(f"{1 / (step + 1):.4f}", 0.25 if step >= 10 else None)
    lines = out.getvalue().splitlines()
    assert len(lines) == 13  # every 2nd of 25 steps, and the last
    assert lines[0] == "cola expert: step 2/25, loss 0.5000; 4 s elapsed, ETA 46 s"
    assert lines[-1] == "cola expert: step 25/25, loss 0.0400, held-out 0.250; 50 s elapsed, ETA 0 s"

"""`m3r report` on a run that has not finished every planned unit: a notice first, a line on stderr, exit code 3."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reports.completeness import Completeness, planned_units
from robustness.cli import main
from robustness.store import Store
from tests.reports import synthetic

# One pair, Task Arithmetic plain and with M3 at one alpha, SST-2 only, no attacks and no LiveBench.
CONFIG: dict[str, Any] = {
    "name": "partial",
    "methods": [{"method": "task_arithmetic"}],
    "m3": {"alphas": [0.5]},
    "eval": {"datasets": ["sst2"], "selection_n": 4, "report_n": 4},
}


def test_planned_units_are_counted_as_the_runner_counts_them() -> None:
    # phase 1: selection scores of base and two experts (the normalised criterion's references), plain merge,
    # candidate merge, its selection score, the selection;
    # phase 2: report scores of base, two experts, the plain merge and the chosen candidate
    assert planned_units(CONFIG) == {"merge": 2, "clean": 9, "selection": 1}
    raw = {**CONFIG, "eval": {**CONFIG["eval"], "selection": "mean_metric"}}
    assert planned_units(raw) == {"merge": 2, "clean": 6, "selection": 1}
    assert planned_units({"name": "not-an-experiment"}) is None  # no methods: nothing can be planned


def test_completeness_summary() -> None:
    planned = {"merge": 2, "clean": 6, "selection": 1}
    partial = Completeness({"merge": 1, "clean": 0, "selection": 0, "attack": 0}, planned)
    assert partial.incomplete and not partial.complete
    assert partial.summary() == "incomplete run: 1 of 9 planned units done (merge 1/2, clean 0/6, selection 0/1)"
    assert Completeness(dict(planned), planned).complete
    unknown = Completeness({"merge": 1}, None)
    assert not unknown.complete and not unknown.incomplete


@pytest.fixture
def partial_run(tmp_path: Path) -> Path:
    run = tmp_path / "runs" / "partial"
    with Store.create_or_resume(run, CONFIG) as store:
        store.put(
            "merge/ta",
            "merge",
            {"method": "task_arithmetic"},
            synthetic.model("task_arithmetic", False) | {"path": "m"},
        )
    return run


def test_an_unfinished_run_says_so_first_and_exits_3(partial_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = partial_run / "report"
    assert main(["report", str(partial_run), "--bootstrap", "200"]) == 3
    captured = capsys.readouterr()
    first = captured.err.splitlines()[0]
    assert first == (
        "m3r report: incomplete run: 1 of 12 planned units done (merge 1/2, clean 0/9, selection 0/1); the report "
        "says so at its top; exit code 3 (--allow-incomplete accepts it)"
    )
    assert captured.out.splitlines() == [str(out / "report.md"), str(out / "report.html")]
    md = (out / "report.md").read_text().splitlines()
    assert md[0] == "# Robustness report: partial" and md[2] == "## INCOMPLETE RUN"
    assert md[4].startswith("incomplete run: 1 of 12 planned units done (merge 1/2, clean 0/9, selection 0/1).")
    html = (out / "report.html").read_text()
    body = html[html.index("<body") :]
    assert body.index("INCOMPLETE RUN") < body.index("Sample sizes")
    assert "incomplete run: 1 of 12 planned units done" in body


def test_allow_incomplete_exits_0_and_keeps_the_notice(partial_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(partial_run), "--bootstrap", "200", "--allow-incomplete"]) == 0
    first = capsys.readouterr().err.splitlines()[0]
    assert first.startswith("m3r report: incomplete run: 1 of 12") and "exit code" not in first
    assert "## INCOMPLETE RUN" in (partial_run / "report" / "report.md").read_text()

"""Lambda selection checked against the plain merge, run for real on the tiny study: with `eval.selection_vs_plain`
each plain merge is scored on the selection rows, and the report's selection tables recompute, from the stored
predictions, the very pick that the stored selection made under the study's criterion."""

from __future__ import annotations

from pathlib import Path

import pytest

from robustness.cli import main
from tests.tiny import tiny_tokenizer
from tests.tiny_study import save_family, stored_in_order, study, write


@pytest.mark.parametrize("criterion", ["normalised_gain", "worst_task"])
def test_the_report_repeats_the_stored_selection_and_checks_it_against_plain(
    tmp_path: Path, data_dir: Path, criterion: str
) -> None:
    from reports.build import build_report
    from reports.load import load_run

    family = save_family(tmp_path / "family", tiny_tokenizer())
    config = study(tmp_path / "runs", family, data_dir, attacks=[])
    config["eval"] = {**config["eval"], "selection": criterion, "selection_vs_plain": True, "agreement_n": 0}
    assert main(["run", write(tmp_path, config, "selection"), "--no-report"]) == 0
    run_dir = tmp_path / "runs" / "rerun"
    plain = [r for _, _, r in stored_in_order(run_dir, "clean") if r["split"] == "selection" and not r["m3"]
             and r["pair"] != "reference"]  # fmt: skip
    assert [r["model_id"] for r in plain] == ["sst2+cola/task_arithmetic"]
    (chosen,) = [r["chosen_model_id"] for _, _, r in stored_in_order(run_dir, "selection")]
    report = build_report(load_run(run_dir), resamples=200, seed=0, permutations=9)
    tables = {t.name: t.data for t in report.tables}
    criteria = tables["selection_criteria"].set_index("criterion")
    assert criteria.loc[criterion, "study_criterion"] and criteria.loc[criterion, "pick"] == chosen
    candidates = tables["selection_candidates"]
    assert set(candidates.model_id) == {f"sst2+cola/task_arithmetic+m3/a{a}-d0" for a in ("0.5", "2")}
    assert candidates[candidates.chosen].model_id.unique().tolist() == [chosen]

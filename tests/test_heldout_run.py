"""Search, then measure: the tiny study with `eval.measure_n`, run for real. Each found prompt is measured on rows
that no search saw, the report's held-out section compares M3 with plain by the crossed test on exactly those
stored predictions, and turning measurement on adds units without changing any other unit's key."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from robustness.cli import main
from robustness.experiment.planning.models import plain_models
from robustness.experiment.planning.plan import phase_one, phase_two
from robustness.experiment.planning.rows import split_rows
from robustness.experiment.spec.config import ExperimentConfig
from robustness.stats import crossed_test
from robustness.store import Store
from tests.tiny import tiny_tokenizer
from tests.tiny_study import save_family, stored_in_order, study, write

ATTACKS = [{"attack": "stresstest", "datasets": ["sst2"], "seeds": [0, 1], "n": 3}]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    root = tmp_path_factory.mktemp("heldout")
    family = save_family(root / "family", tiny_tokenizer())
    config = study(root / "runs", family, data_dir, attacks=ATTACKS)
    config["eval"] = {**config["eval"], "measure_n": 5}
    assert main(["run", write(root, config, "heldout")]) == 0
    return root / "runs" / "rerun"


def test_each_found_prompt_is_measured_on_rows_no_search_saw(run_dir: Path) -> None:
    attacks = {k: r for k, _, r in stored_in_order(run_dir, "attack")}
    measures = stored_in_order(run_dir, "measure")
    assert len(measures) == 4  # the plain and the chosen merge, 2 seeds each
    with Store.open_readonly(run_dir) as store:
        config = ExperimentConfig.model_validate(store.config())
    e = config.eval
    held_out = split_rows(872, e.selection_n, e.report_n, 5, e.split_seed)[2]
    for _, inputs, result in measures:
        source = attacks[inputs["source"]]  # stored before its measurement
        assert result["indices"] == held_out and not set(held_out) & set(source["indices"])
        assert result["attacked_prompt"] == source["attacked_prompt"] and result["model_id"] == source["model_id"]
        assert result["source_key"] == inputs["source"] and result["queries"] == 1


def test_the_report_tests_m3_against_plain_on_the_stored_held_out_predictions(run_dir: Path) -> None:
    from reports.build import build_report
    from reports.load import load_run

    report = build_report(load_run(run_dir), resamples=200, seed=0, permutations=99)
    table = next(t for t in report.tables if t.name == "heldout").data
    assert len(table) == 1
    row = table.iloc[0]
    assert (row.seeds, row.rows, row.dataset, row.attack) == (2, 5, "sst2", "stresstest")
    arms: dict[bool, list[dict[str, Any]]] = {True: [], False: []}
    for _, _, result in stored_in_order(run_dir, "measure"):
        arms[bool(result["m3"])].append(result)
    a, b = (np.array([r["attacked_predictions"] for r in sorted(arms[m], key=lambda r: r["seed"])]) for m in (1, 0))
    direct = crossed_test(a, b, np.array(arms[True][0]["labels"]), "accuracy")
    assert row["diff"] == pytest.approx(direct.estimate) and row.p == pytest.approx(direct.p)
    assert row.p_holm == pytest.approx(direct.p)  # one comparison: Holm changes nothing
    from scipy import stats

    assert direct.se is not None and direct.df is not None
    expected = (stats.t.ppf(0.975, direct.df) + stats.t.ppf(0.8, direct.df)) * direct.se
    assert row.detectable == pytest.approx(expected) and row.detectable > 0
    from robustness.stats.power import seeds_for

    assert direct.components is not None
    expected_seeds = seeds_for(0.10, direct.components, 5, 1)
    assert row.seeds_for_target == (expected_seeds or math.inf)  # inf: no number of seeds reaches 0.10 on 5 rows


def test_a_pdr_difference_whose_interval_says_nothing_is_withheld() -> None:
    from reports.heldout import _pdr_cell

    assert _pdr_cell(0.2, -0.55, 0.95).startswith("too wide to say (interval 1.50 wide)")
    assert _pdr_cell(0.2, -0.1, 0.5) == "+0.200 [-0.100, +0.500]"


def test_measurement_adds_units_and_changes_no_other_key(data_dir: Path) -> None:
    base = study(Path("runs"), {"base": "b", "sst2": "s", "cola": "c"}, data_dir, attacks=ATTACKS)
    ids = {"base": "b", "sst2": "s", "cola": "c"}

    def keys(measure_n: int | None) -> dict[str, str]:
        cfg = ExperimentConfig.model_validate({**base, "eval": {**base["eval"], "measure_n": measure_n}})
        e = cfg.eval
        rows = {"sst2": split_rows(872, e.selection_n, e.report_n, measure_n or 0, e.split_seed)}
        stand_in = {m.model_id: m for m in plain_models(cfg)}  # the plain merges stand in for the chosen ones
        return {u.key: u.stored_as for u in [*phase_one(cfg, rows, ids), *phase_two(cfg, rows, stand_in, ids)]}

    off, on = keys(None), keys(5)
    assert set(off) < set(on) and {on[k] for k in set(on) - set(off)} == {"measure"}
    assert sum(kind == "attack" for kind in off.values()) == len(set(on) - set(off))  # one per attack unit


def test_measurement_rows_that_do_not_fit_the_split_are_refused_by_name(data_dir: Path) -> None:
    from robustness.errors import UserError
    from robustness.experiment.spec.files import check_data

    config = study(Path("runs"), {"base": "b", "sst2": "s", "cola": "c"}, data_dir, attacks=ATTACKS)
    cfg = ExperimentConfig.model_validate({**config, "eval": {**config["eval"], "measure_n": 900}})
    with pytest.raises(UserError, match=r"eval.measure_n: 4 \+ 6 \+ 900 = 910 rows .* lower measure_n to 862"):
        check_data(cfg)


def test_a_comparison_left_out_of_the_declared_family_is_exploratory(run_dir: Path) -> None:
    from reports import heldout
    from reports.load import load_run
    from reports.variants import carried_forward, chosen_models

    run = load_run(run_dir)
    measures = carried_forward(run.frame("measure"), chosen_models(run.frame("selection")))
    attacks = carried_forward(run.frame("attack"), chosen_models(run.frame("selection")))
    declared = heldout.heldout_rows(measures, attacks, ["task_arithmetic/sst2/stresstest"]).iloc[0]
    left_out = heldout.heldout_rows(measures, attacks, ["task_arithmetic/cola/stresstest"]).iloc[0]
    assert declared.primary and declared.p_holm == pytest.approx(declared.p)
    assert not left_out.primary and pd.isna(left_out.p_holm) and left_out.p == pytest.approx(declared.p)
    assert left_out.detectable == pytest.approx(declared.detectable)  # a family of one either way


ATTACKED = "task_arithmetic/sst2/stresstest"


def test_the_declared_family_must_name_comparisons_the_study_makes(data_dir: Path) -> None:
    from pydantic import ValidationError

    base = study(Path("runs"), {"base": "b", "sst2": "s", "cola": "c"}, data_dir, attacks=ATTACKS)
    held = {**base["eval"], "measure_n": 5}
    ExperimentConfig.model_validate({**base, "eval": {**held, "primary": [ATTACKED]}})
    with pytest.raises(ValidationError, match=r"'task_arithmetic/sst2/deepwordbug' is not a comparison"):
        ExperimentConfig.model_validate({**base, "eval": {**held, "primary": ["task_arithmetic/sst2/deepwordbug"]}})
    with pytest.raises(ValidationError, match=r"set eval\.measure_n too"):
        ExperimentConfig.model_validate({**base, "eval": {**base["eval"], "primary": [ATTACKED]}})


def test_m3r_plan_fits_the_verdicts_power_on_a_finished_run(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--power-from takes the variance components of the run's stored measurements (the crossed test's) and
    projects them onto the planned design, in place of the search model's assumed spreads."""
    import json

    from robustness.experiment.sizing.power import fitted_components
    from robustness.stats.power import projected

    fitted = fitted_components(str(run_dir))
    assert list(fitted) == ["task_arithmetic/sst2/stresstest"]
    config = run_dir.parent.parent / "heldout.yaml"
    assert main(["plan", str(config), "--power-from", str(run_dir), "--json"]) == 0
    power = json.loads(capsys.readouterr().out)["power"]
    (row,) = power["comparisons"]
    _, _, expected = projected(fitted["task_arithmetic/sst2/stresstest"], 2, 5, 1)  # 2 seeds, 5 held-out rows
    assert row["detectable"] == pytest.approx(expected)
    from robustness.stats.power import seeds_for

    assert row["seeds_for_0.10"] == seeds_for(0.10, fitted["task_arithmetic/sst2/stresstest"], 5, 1)
    assert any("measured on" in a and "task_arithmetic/sst2/stresstest from" in a for a in power["assumptions"])


def test_livebench_categories_may_join_the_declared_family(data_dir: Path) -> None:
    base = study(Path("runs"), {"base": "b", "sst2": "s", "cola": "c"}, data_dir, attacks=ATTACKS)
    base["livebench"] = {"tasks": ["paraphrase"], "n": 1}
    family = ["task_arithmetic/livebench/instruction_following"]
    cfg = ExperimentConfig.model_validate({**base, "eval": {**base["eval"], "primary": family}})  # no held-out rows
    assert cfg.eval.primary == family
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="'task_arithmetic/livebench/coding' is not a comparison"):
        ExperimentConfig.model_validate(
            {**base, "eval": {**base["eval"], "primary": ["task_arithmetic/livebench/coding"]}}
        )


def test_the_effects_tables_withhold_a_pdr_interval_that_says_nothing() -> None:
    from reports.effects import _interval_cell

    assert _interval_cell("pdr", -0.7, 0.8) == "too wide to say (1.50 wide)"
    assert _interval_cell("pdr", -0.2, 0.3) == "[-0.200, +0.300]"
    assert _interval_cell("attacked", -0.7, 0.8) == "[-0.700, +0.800]"  # a metric's interval is shown as it is

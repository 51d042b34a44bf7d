"""Which rows the report compares when a run holds several plain models per method (two settings of one method,
or stores that do not say which setting a model belongs to), or M3 without a selection."""

from __future__ import annotations

from pathlib import Path

import pytest

from reports.build import build_report
from reports.load import load_run
from robustness.store import Store, unit_key
from tests.reports import synthetic


def _store(run: Path, plain_ids: list[str], m3_draws: list[int], with_selection: bool) -> None:
    with Store.create_or_resume(run, {"name": "variants"}) as store:
        for model_id in plain_ids:
            who = synthetic.model("task_arithmetic", False) | {"model_id": model_id}
            for seed in synthetic.SEEDS:
                rec = synthetic.sst2_attack("task_arithmetic", False, "stresstest", seed, who)
                synthetic.put(store, "attack", rec, model_id, seed)
        for draw in m3_draws:
            who = synthetic.model("task_arithmetic", True, draw)
            for seed in synthetic.SEEDS:
                rec = synthetic.sst2_attack("task_arithmetic", True, "stresstest", seed, who)
                synthetic.put(store, "attack", rec, who["model_id"], seed)
        if with_selection:
            selection = {
                "pair": synthetic.PAIR,
                "method": "task_arithmetic",
                "criterion": "sst2 accuracy",
                "chosen_model_id": synthetic.model("task_arithmetic", True, m3_draws[-1])["model_id"],
                "candidates": [
                    {"model_id": synthetic.model("task_arithmetic", True, d)["model_id"], "metrics": {"sst2": 0.5}}
                    for d in m3_draws
                ],
            }
            synthetic.put(store, "selection", selection, "ta")


def test_several_plain_models_without_settings_are_compared_by_type_with_a_warning(tmp_path: Path) -> None:
    # A store that does not say which setting the M3 model belongs to: no silent pick, a warning.
    _store(tmp_path / "run", ["ta-s0.5", "ta-s1.0"], [1], with_selection=False)
    report = build_report(load_run(tmp_path / "run"), resamples=100, permutations=99)
    t3 = next(t for t in report.tables if t.name == "table3")
    rows = [(row[1], row[2]) for row in t3.rows]
    assert rows == [
        ("Task Arithmetic (ta-s0.5)", "no"),
        ("Task Arithmetic (ta-s1.0)", "no"),
        ("Task Arithmetic", "yes (preserve_scale)"),
    ]
    effects = next(t for t in report.tables if t.name == "m3_effects").data
    assert sorted(set(effects["b_variant"])) == ["Task Arithmetic (ta-s0.5)", "Task Arithmetic (ta-s1.0)"]
    assert len(effects) == 4  # two plain models x (attacked, PDR)
    assert len(report.warnings) == 1 and "matched by method type only" in report.warnings[0]


TIES = {"ties-k0.7": (True, "a2-d0"), "ties-k0.5": (False, "a0.5-d0")}  # setting -> (M3 helps?, chosen candidate)


def _ties_store(run: Path) -> None:
    """Two settings of TIES, as the runner writes them: plain ids `pair/name`, candidates `pair/name+m3/...`,
    selection units keyed by the configured name. The k0.7 choice beats its plain merge by 0.2 under attack; the
    k0.5 choice equals its plain merge."""
    pair = synthetic.PAIR
    with Store.create_or_resume(run, {"name": "ties"}) as store:
        for setting, (helps, chosen) in TIES.items():
            plain = {"model_id": f"{pair}/{setting}", "method": "ties", "m3": False, "pair": pair}
            candidates = [f"{pair}/{setting}+m3/{c}" for c in ("a0.5-d0", "a2-d0")]
            for seed in synthetic.SEEDS:
                rec = synthetic.sst2_attack("ties", False, "deepwordbug", seed, plain)
                synthetic.put(store, "attack", rec, plain["model_id"], seed)
                for model_id in candidates:
                    who = {"model_id": model_id, "method": "ties", "m3": True, "pair": pair}
                    rec = synthetic.sst2_attack("ties", helps and model_id.endswith(chosen), "deepwordbug", seed, who)
                    synthetic.put(store, "attack", rec, model_id, seed)
            inputs = {"pair": pair, "method": setting, "candidates": candidates}
            record = {"pair": pair, "method": "ties", "criterion": "mean clean metric",
                      "chosen_model_id": f"{pair}/{setting}+m3/{chosen}",
                      "candidates": [{"model_id": c, "metrics": {"sst2": 0.5}} for c in candidates]}  # fmt: skip
            store.put(unit_key("selection", inputs, f"{pair}/{setting}"), "selection", inputs, record)


def test_two_settings_of_one_method_keep_their_own_choice_and_plain_merge(tmp_path: Path) -> None:
    _ties_store(tmp_path / "run")
    report = build_report(load_run(tmp_path / "run"), resamples=100, permutations=99)
    assert report.warnings == []
    t3 = next(t for t in report.tables if t.name == "table3")
    assert sorted(t3.data["model_id"]) == sorted(
        [f"{synthetic.PAIR}/{s}" for s in TIES] + [f"{synthetic.PAIR}/{s}+m3/{c}" for s, (_, c) in TIES.items()]
    )
    plain_rows = [("TIES (ties-k0.5)", "no"), ("TIES (ties-k0.7)", "no")]
    assert [(row[1], row[2]) for row in t3.rows] == [
        *plain_rows,
        ("TIES (ties-k0.5)", "yes"),
        ("TIES (ties-k0.7)", "yes"),
    ]
    effects = next(t for t in report.tables if t.name == "m3_effects").data
    attacked = effects[effects.quantity == "attacked"].set_index("b_variant")
    assert len(effects) == 4  # one comparison per setting x (attacked, PDR), never across settings
    assert attacked.loc["TIES (ties-k0.7)", "a_variant"] == "TIES (ties-k0.7) + M3"
    assert attacked.loc["TIES (ties-k0.5)", "a_variant"] == "TIES (ties-k0.5) + M3"
    assert attacked.loc["TIES (ties-k0.7)", "estimate"] == pytest.approx(0.2)  # 0.8 - 0.6 (synthetic.EXPECTED)
    assert attacked.loc["TIES (ties-k0.5)", "estimate"] == 0.0


def test_m3_candidates_without_a_selection_record_are_left_out_with_a_warning(tmp_path: Path) -> None:
    _store(tmp_path / "run", ["ta"], [0, 2], with_selection=False)
    report = build_report(load_run(tmp_path / "run"), resamples=100, permutations=99)
    t3 = next(t for t in report.tables if t.name == "table3")
    assert [row[2] for row in t3.rows] == ["no"]
    assert any("2 candidates and no selection record" in w for w in report.warnings)


def test_the_selected_candidate_is_the_m3_row(tmp_path: Path) -> None:
    _store(tmp_path / "run", ["ta"], [0, 2], with_selection=True)
    report = build_report(load_run(tmp_path / "run"), resamples=100, permutations=99)
    t3 = next(t for t in report.tables if t.name == "table3")
    assert set(t3.data["model_id"]) == {"ta", "task_arithmetic-m3-d2"}


def test_each_reference_model_keeps_its_own_row_beside_chosen_merges() -> None:
    """Two experts are two rows of the clean table, each with its own score. A store with a selection gives merged
    rows a setting and references none; that column once read None as NaN and pooled both experts into
    'Expert (nan)' with a metric of the two pooled."""
    import pandas as pd

    from reports.clean import clean_cells
    from reports.variants import Choice, carried_forward

    chosen_id = "sst2+cola/task_arithmetic+m3/a5-d0"
    models = [
        ("reference", "base", False, "base", 0.47),
        ("reference", "expert", False, "expert/cola", 0.65),
        ("reference", "expert", False, "expert/sst2", 0.80),
        ("sst2+cola", "task_arithmetic", False, "sst2+cola/task_arithmetic", 0.73),
        ("sst2+cola", "task_arithmetic", True, chosen_id, 0.54),
    ]
    frame = pd.DataFrame(
        [
            {"pair": p, "method": m, "m3": x, "model_id": i, "mode": "score", "dataset": "sst2", "split": "report",
             "metric_name": "accuracy", "metric": v, "accuracy": v, "n": 250, "prompt": "task_oriented:0",
             "key": f"k-{i}"}
            for p, m, x, i, v in models
        ]
    )  # fmt: skip
    out = carried_forward(frame, [Choice("sst2+cola", "task_arithmetic", "task_arithmetic", chosen_id)])
    assert list(out["variant"]) == [
        "Base (base)", "Expert (expert/cola)", "Expert (expert/sst2)", "Task Arithmetic", "Task Arithmetic + M3",
    ]  # fmt: skip
    assert [s is None for s in out["setting"]] == [True, True, True, False, False]
    cells = clean_cells(out)
    by_model = dict(zip(cells["model_id"], cells["metric"], strict=True))
    assert by_model == {i: v for _p, _m, _x, i, v in models}
    assert set(cells["n"]) == {250}

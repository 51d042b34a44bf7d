"""The magnitude axis (`methods[i].scales`): its validation, the settings it adds and the units they get."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from robustness.experiment.kinds.attack import CURVE, AttackInputs
from robustness.experiment.planning.models import candidate_models, plain_models
from robustness.experiment.planning.plan import phase_one, phase_two
from robustness.experiment.spec.config import ExperimentConfig
from tests.test_experiment_plan import IDS, config, rows

CURVE_DWB = {"attack": "deepwordbug", "methods": ["task_arithmetic"], "seeds": [0, 1], "n": 8, "curve_n": 4}


def axis_config(scales: list[float] | None = (0.5, 1.5), **overrides: object) -> ExperimentConfig:  # type: ignore[assignment]
    ta = {"method": "task_arithmetic", "parameters": {"scaling": 1.0}}
    if scales is not None:
        ta["scales"] = list(scales)
    data: dict[str, object] = {"methods": [ta, {"method": "ties", "parameters": {"keep": 0.7}}],
                               "attacks": [CURVE_DWB], "livebench": {}}  # fmt: skip
    data.update(overrides)
    return config(**data)


def test_the_axis_adds_a_setting_per_other_scale_with_its_scaling() -> None:
    cfg = axis_config([0.5, 1.0, 1.5])  # 1.0 is the method's own scaling: no setting of its own
    settings = cfg.methods[0].settings()
    assert [s.name for s in settings] == ["task_arithmetic", "task_arithmetic@0.5", "task_arithmetic@1.5"]
    assert [s.scaling for s in settings] == [1.0, 0.5, 1.5]
    plain = {m.model_id: m for m in plain_models(cfg)}
    assert plain["sst2+cola/task_arithmetic@0.5"].merge["parameters"]["scaling"] == 0.5  # type: ignore[index]
    assert plain["sst2+cola/task_arithmetic@0.5"].axis_of == "task_arithmetic"
    assert plain["sst2+cola/task_arithmetic"].axis_of is None
    assert [m.model_id for m in plain_models(cfg, axis=False)] == ["sst2+cola/task_arithmetic", "sst2+cola/ties"]
    # The same lambda draws at every scale: a candidate's M3 seed depends on alpha and draw only.
    seeds = {
        (c.alpha, c.draw, c.merge["parameters"]["scaling"]): c.merge["m3"]["seed"]
        for c in candidate_models(cfg)
        if c.method == "task_arithmetic"
    }  # type: ignore[index]
    assert seeds[(0.5, 1, 0.5)] == seeds[(0.5, 1, 1.0)] == seeds[(0.5, 1, 1.5)]


def test_the_own_setting_keeps_its_keys_and_the_stored_config_without_scales() -> None:
    off, on = axis_config(None), axis_config([0.5, 1.5])
    keys_off = {u.key for u in phase_one(off, rows(off), IDS)}
    first_on = phase_one(on, rows(on), IDS)
    assert keys_off < {u.key for u in first_on}
    assert "scales" not in off.study_config()["methods"][0]
    assert on.study_config()["methods"][0]["scales"] == [0.5, 1.5]


def test_axis_points_are_merged_scored_and_attacked_on_the_curve_in_phase_one_only() -> None:
    cfg = axis_config([0.5, 1.5])
    first = phase_one(cfg, rows(cfg), IDS)
    axis = [u for u in first if u.model is not None and u.model.axis_of == "task_arithmetic"]
    per_scale_models = 1 + 3 * 2  # plain + alphas x draws
    assert sum(u.stored_as == "merge" for u in axis) == 2 * per_scale_models
    assert sum(u.stored_as == "clean" for u in axis) == 2 * 3 * 2 * 2  # candidates' selection scores on 2 datasets
    curve = [u for u in axis if u.stored_as == "attack"]
    assert len(curve) == 2 * per_scale_models * 2 * 2  # x datasets x seeds
    assert all(isinstance(u.inputs, AttackInputs) and u.inputs.purpose == CURVE for u in curve)
    assert all(len(u.inputs.rows) == 4 for u in curve)  # type: ignore[union-attr]
    # TIES is not covered by the curve attack, and has no axis.
    assert not [u for u in first if u.model is not None and u.model.label.startswith("ties@")]
    selections = [u.label for u in first if u.stored_as == "selection"]
    assert selections == ["sst2+cola/task_arithmetic", "sst2+cola/task_arithmetic@0.5", "sst2+cola/task_arithmetic@1.5",
                          "sst2+cola/ties"]  # fmt: skip
    chosen = {m.model_id: m for m in plain_models(cfg)}  # every setting's plain merge stands in for its choice
    second = phase_two(cfg, rows(cfg), chosen, IDS)
    assert not [u for u in second if u.model is not None and u.model.axis_of is not None]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"methods": [{"method": "average", "scales": [0.5]}]}, "Average weighs the models 1/n"),
        ({"methods": [{"method": "task_arithmetic", "scales": [0]}]}, "finite number > 0"),
        ({"methods": [{"method": "task_arithmetic", "scales": [0.5, 0.50000001]}]}, "listed twice"),
        ({"methods": [{"method": "task_arithmetic", "scales": [0.5]}], "attacks": []}, "set curve_n on an attack"),
        ({"methods": [{"method": "task_arithmetic", "label": "ta@2"}]}, "no '@' or '/'"),
        ({"methods": [{"method": "dare", "parameters": {"drop_rate": 0.2, "dare_method": "average"}, "scales": [2.0]}]},
         "has no scaling to vary"),
    ],
)  # fmt: skip
def test_a_bad_axis_says_what_to_change(change: dict[str, object], message: str) -> None:
    data: dict[str, object] = {"attacks": [{**CURVE_DWB, "methods": []}], "livebench": {}}
    data.update(change)
    with pytest.raises(ValidationError, match=message):
        config(**data)

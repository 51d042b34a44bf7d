"""The experiment plan: unit expansion, deterministic keys, disjoint row parts, dependency order."""

from pathlib import Path

import pytest

from robustness.errors import UserError
from robustness.experiment.config import ExperimentConfig, load_experiment
from robustness.experiment.inputs import AttackInputs, CleanInputs, SelectionInputs
from robustness.experiment.plan import attack_rows, candidate_models, phase_one, phase_two, plain_models, row_parts

CONFIGS = Path(__file__).parent.parent / "configs"
IDS = {"base": "base-abc", "sst2": "sst2-def", "cola": "cola-123"}


def config(**overrides: object) -> ExperimentConfig:
    data = {
        "name": "t",
        "methods": [{"method": "task_arithmetic", "parameters": {"scaling": 1.0}}, {"method": "ties"}],
        "m3": {"alphas": [0.5, 2.0, 5.0], "draws": 2},
        "eval": {"selection_n": 10, "report_n": 20},
        "attacks": [
            {"attack": "deepwordbug", "methods": ["task_arithmetic"], "seeds": [0, 1, 2], "n": 8},
            {"attack": "stresstest", "seeds": [0], "datasets": ["sst2"], "n": 8},
        ],
        "livebench": {"tasks": ["paraphrase"], "methods": ["ties"]},
    }
    data.update(overrides)
    return ExperimentConfig.model_validate(data)


def rows(cfg: ExperimentConfig) -> dict[str, tuple[list[int], list[int]]]:
    return {"sst2": row_parts(872, 10, 20, 0), "cola": row_parts(1043, 10, 20, 0)}


def test_row_parts_are_disjoint_and_seeded() -> None:
    sel, rep = row_parts(100, 30, 50, seed=4)
    assert len(sel) == 30 and len(rep) == 50 and not set(sel) & set(rep)
    assert (sel, rep) == row_parts(100, 30, 50, seed=4)
    assert sel != row_parts(100, 30, 50, seed=5)[0]
    with pytest.raises(ValueError, match="exceeds the split's 100 rows"):
        row_parts(100, 60, 50, 0)
    a = attack_rows(rep, 10, seed=1)
    assert len(a) == 10 and set(a) <= set(rep) and a == attack_rows(rep, 10, seed=1) != attack_rows(rep, 10, seed=2)


def test_phase_one_counts_and_order() -> None:
    cfg = config()
    units = phase_one(cfg, rows(cfg), IDS)
    kinds = [u.kind for u in units]
    n_cand = 2 * 3 * 2  # methods x alphas x draws
    assert kinds.count("merge") == 2 + n_cand
    assert kinds.count("clean") == n_cand * 2 + 3 * 2  # and the base and both experts, for the normalised gain
    assert kinds.count("selection") == 2
    assert len({u.key for u in units}) == len(units)
    # Every selection comes after the evaluations it reads, and every evaluation after its model's merge.
    position = {u.key: i for i, u in enumerate(units)}
    merged = {}
    for i, u in enumerate(units):
        if u.kind == "merge":
            merged[u.model.model_id] = i  # type: ignore[union-attr]
        if u.kind == "clean":
            assert u.model.reference is not None or merged[u.model.model_id] < i  # type: ignore[union-attr]
            assert u.inputs_as(CleanInputs).split == "selection"
        if u.kind == "selection":
            selection = u.inputs_as(SelectionInputs)
            assert all(position[k] < i for k in selection.candidates + (selection.references or []))
            assert selection.criterion == "normalised_gain"
            refs = {position[k]: units[position[k]].model.model_id for k in selection.references or []}  # type: ignore[union-attr]
            assert sorted(set(refs.values())) == ["base", "expert/cola", "expert/sst2"]


def test_mean_metric_selection_keeps_the_earlier_keys_and_plans_no_references() -> None:
    cfg = config(eval={"selection_n": 10, "report_n": 20, "selection": "mean_metric"})
    units = phase_one(cfg, rows(cfg), IDS)
    assert not any(u.model is not None and u.model.reference for u in units)
    normalised = phase_one(config(), rows(cfg), IDS)
    same = {u.key for u in units} & {u.key for u in normalised}
    assert same == {u.key for u in units if u.kind != "selection"}  # only the selections differ
    selection = next(u for u in units if u.kind == "selection")
    assert set(selection.inputs.payload()) == {"pair", "method", "candidates"}


def test_keys_are_deterministic_and_follow_inputs() -> None:
    cfg = config()
    a = [u.key for u in phase_one(cfg, rows(cfg), IDS)]
    assert a == [u.key for u in phase_one(config(), rows(cfg), IDS)]
    other = config(eval={"selection_n": 10, "report_n": 20, "prompt": "role_oriented:1"})
    assert set(a) & {u.key for u in phase_one(other, rows(cfg), IDS)} == {u.key for u in phase_one(cfg, rows(cfg), IDS)
                                                                          if u.kind == "merge"}  # fmt: skip
    changed_expert = {**IDS, "cola": "cola-999"}
    assert not set(a) & {u.key for u in phase_one(cfg, rows(cfg), changed_expert)}


def test_phase_two_uses_the_chosen_candidates() -> None:
    cfg = config()
    cands = candidate_models(cfg)
    chosen = {p.model_id: next(c for c in cands if c.label == p.label and c.alpha == 2.0) for p in plain_models(cfg)}
    units = phase_two(cfg, rows(cfg), chosen, IDS)
    models = {u.model.model_id for u in units}  # type: ignore[union-attr]
    assert models == {"base", "expert/cola", "expert/sst2", "sst2+cola/task_arithmetic", "sst2+cola/ties",
                      "sst2+cola/task_arithmetic+m3/a2-d0", "sst2+cola/ties+m3/a2-d0"}  # fmt: skip
    attacks = [u for u in units if u.kind == "attack"]
    # deepwordbug: TA plain and M3 x 2 datasets x 3 seeds; stresstest: 4 merged models x sst2 x 1 seed.
    assert len(attacks) == 2 * 2 * 3 + 4 * 1 * 1
    typed = [u.inputs_as(AttackInputs) for u in attacks]
    assert all(a.rows == attack_rows(rows(cfg)[a.dataset][1], 8, a.seed) for a in typed)
    assert sum(u.kind == "livebench" for u in units) == 2
    assert sum(u.kind == "clean" and u.inputs_as(CleanInputs).split == "report" for u in units) == 7 * 2
    # Units of one model are consecutive, so each model is loaded once.
    order = [u.model.model_id for u in units]  # type: ignore[union-attr]
    assert order == sorted(order, key=order.index)
    assert len([i for i in range(1, len(order)) if order[i] != order[i - 1]]) == len(models) - 1


def test_config_errors_name_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nmethods: [{method: slerp}]\n")
    with pytest.raises(
        UserError,
        match=r"methods\[0\]\.method: unknown method 'slerp'; use one of average, task_arithmetic, ties, dare$",
    ):
        load_experiment(bad)
    bad.write_text("name: x\nmethods: [{method: ties}]\nattacks: [{attack: deepwordbug, methods: [dare]}]\n")
    with pytest.raises(UserError, match=r"attacks\[0\]\.methods: unknown method\(s\) \['dare'\]"):
        load_experiment(bad)
    bad.write_text("name: x\nmethods: [{method: ties}, {method: ties}]\n")  # a check between keys: no "(top level)"
    with pytest.raises(UserError, match=r"bad\.yaml: methods: two methods share a name; give one a distinct label$"):
        load_experiment(bad)
    bad.write_text("name: x\nmethods: [{method: ties}]\nevall: {}\n")
    with pytest.raises(UserError, match="evall: Extra inputs are not permitted"):
        load_experiment(bad)
    with pytest.raises(UserError, match="does not exist"):
        load_experiment(tmp_path / "nope.yaml")


@pytest.mark.parametrize("name", ["smoke.yaml", "default.yaml", "paper-13b.yaml"])
def test_shipped_configs_validate(name: str) -> None:
    from merges.config import validate_config

    cfg = load_experiment(CONFIGS / name)
    assert cfg.name == name.removesuffix(".yaml")
    for model in plain_models(cfg) + candidate_models(cfg):  # every merge the plan would run is a valid merge config
        validate_config(model.merge)


def test_default_config_covers_the_issue() -> None:
    """The default study: TA and TIES with and without M3 on both datasets, all three attacks on TA with three or
    more seeds for the seeded ones, LiveBench's instruction following."""
    cfg = load_experiment(CONFIGS / "default.yaml")
    assert {m.method for m in cfg.methods} >= {"task_arithmetic", "ties"} and len(cfg.m3.alphas) >= 1
    assert set(cfg.eval.datasets) == {"sst2", "cola"}
    attacks = {a.attack: a for a in cfg.attacks}
    assert set(attacks) == {"deepwordbug", "bertattack", "stresstest"}
    assert all(a.methods == ["task_arithmetic"] and set(a.datasets) == {"sst2", "cola"} for a in cfg.attacks)
    assert len(attacks["deepwordbug"].seeds) >= 3 and len(attacks["bertattack"].seeds) >= 3
    assert set(cfg.livebench.tasks) == {"paraphrase", "simplify", "story_generation", "summarize"}


def test_merges_keep_the_checkpoint_dtype_and_map_the_device() -> None:
    for device, expected in [("auto", "auto"), ("cpu", "cpu"), ("cuda", "cuda"), ("cuda:1", "cuda")]:
        merge = plain_models(config(device=device))[0].merge
        assert merge is not None and merge["device"] == expected and merge["dtype"] == "auto"

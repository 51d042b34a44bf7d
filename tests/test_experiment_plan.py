"""The experiment plan: unit expansion, deterministic keys, disjoint row parts, dependency order."""

from pathlib import Path

import pytest

from robustness.errors import UserError
from robustness.experiment.kinds.attack import CURVE, AttackInputs
from robustness.experiment.kinds.base import Unit
from robustness.experiment.kinds.clean import CleanInputs
from robustness.experiment.kinds.selection import SelectionInputs
from robustness.experiment.planning.models import candidate_models, plain_models
from robustness.experiment.planning.plan import phase_one, phase_two
from robustness.experiment.planning.rows import attack_rows, row_parts
from robustness.experiment.spec.config import ExperimentConfig, load_experiment

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
    kinds = [u.stored_as for u in units]
    n_cand = 2 * 3 * 2  # methods x alphas x draws
    assert kinds.count("merge") == 2 + n_cand
    assert kinds.count("clean") == n_cand * 2 + 3 * 2  # and the base and both experts, for the normalised gain
    assert kinds.count("selection") == 2
    assert len({u.key for u in units}) == len(units)
    # Every selection comes after the evaluations it reads, and every evaluation after its model's merge.
    position = {u.key: i for i, u in enumerate(units)}
    merged = {}
    for i, u in enumerate(units):
        if u.stored_as == "merge":
            merged[u.model.model_id] = i  # type: ignore[union-attr]
        if u.stored_as == "clean":
            assert u.model.reference is not None or merged[u.model.model_id] < i  # type: ignore[union-attr]
            assert u.inputs_as(CleanInputs).split == "selection"
        if u.stored_as == "selection":
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
    assert same == {u.key for u in units if u.stored_as != "selection"}  # only the selections differ
    selection = next(u for u in units if u.stored_as == "selection")
    assert set(selection.inputs.payload()) == {"pair", "method", "candidates"}


def test_keys_are_deterministic_and_follow_inputs() -> None:
    cfg = config()
    a = [u.key for u in phase_one(cfg, rows(cfg), IDS)]
    assert a == [u.key for u in phase_one(config(), rows(cfg), IDS)]
    other = config(eval={"selection_n": 10, "report_n": 20, "prompt": "role_oriented:1"})
    assert set(a) & {u.key for u in phase_one(other, rows(cfg), IDS)} == {u.key for u in phase_one(cfg, rows(cfg), IDS)
                                                                          if u.stored_as == "merge"}  # fmt: skip
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
    attacks = [u for u in units if u.stored_as == "attack"]
    # deepwordbug: TA plain and M3 x 2 datasets x 3 seeds; stresstest: 4 merged models x sst2 x 1 seed.
    assert len(attacks) == 2 * 2 * 3 + 4 * 1 * 1
    typed = [u.inputs_as(AttackInputs) for u in attacks]
    assert all(a.rows == attack_rows(rows(cfg)[a.dataset][1], 8, a.seed) for a in typed)
    assert sum(u.stored_as == "livebench" for u in units) == 2
    assert sum(u.stored_as == "clean" and u.inputs_as(CleanInputs).split == "report" for u in units) == 7 * 2
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


@pytest.mark.parametrize(
    "name", ["smoke.yaml", "curve-smoke.yaml", "transfer-smoke.yaml", "quick.yaml", "default.yaml", "paper-13b.yaml"]
)
def test_shipped_configs_validate(name: str) -> None:
    from merges.config import validate_config

    cfg = load_experiment(CONFIGS / name)
    assert cfg.name == name.removesuffix(".yaml")
    for model in plain_models(cfg) + candidate_models(cfg):  # every merge the plan would run is a valid merge config
        validate_config(model.merge)


def covered(cfg: ExperimentConfig, method: str) -> dict[str, list[object]]:
    """Attack name -> the attack entries that cover `method` (by configured name)."""
    out: dict[str, list[object]] = {}
    for a in cfg.attacks:
        if not a.methods or method in a.methods:
            out.setdefault(a.attack, []).append(a)
    return out


@pytest.mark.parametrize("name", ["default.yaml", "quick.yaml"])
def test_the_default_and_quick_studies_turn_every_part_of_the_report_on(name: str) -> None:
    """Task Arithmetic and DARE with and without M3 (the M3-vs-DARE table and the DARE + M3 row), two draws for two
    or more alphas (the spread over draws), the attacked lambda curve on Task Arithmetic, transfer from the experts
    and the plain merges, LiveBench; the default has all three attacks on Task Arithmetic, on both datasets."""
    cfg = load_experiment(CONFIGS / name)
    assert {m.method for m in cfg.methods} >= {"task_arithmetic", "dare"}
    assert len(cfg.m3.alphas) >= 2 and cfg.m3.draws >= 2
    assert set(cfg.eval.datasets) == {"sst2", "cola"}
    ta, dare = covered(cfg, "task_arithmetic"), covered(cfg, "dare_ta")
    assert any(a.curve_n for entries in ta.values() for a in entries)  # type: ignore[attr-defined]
    assert set(ta) & set(dare) >= {"stresstest"}  # an M3-vs-DARE cell
    assert cfg.transfer is not None and set(cfg.transfer.sources) == {"experts", "plain"}
    assert cfg.livebench.tasks and cfg.livebench.methods == ["task_arithmetic"]
    if name == "default.yaml":
        assert set(ta) == {"deepwordbug", "bertattack", "stresstest"} and set(dare) >= {"deepwordbug", "stresstest"}
        assert all(set(a.datasets) == {"sst2", "cola"} for a in cfg.attacks)
        assert all(len(a.seeds) >= 2 for a in ta["deepwordbug"])  # type: ignore[attr-defined]
        assert set(cfg.livebench.tasks) == {"paraphrase", "simplify", "story_generation", "summarize"}
    else:
        assert any(m.scales for m in cfg.methods)  # the magnitude axis, so its table and figure show


def test_merges_keep_the_checkpoint_dtype_and_map_the_device() -> None:
    for device, expected in [("auto", "auto"), ("cpu", "cpu"), ("cuda", "cuda"), ("cuda:1", "cuda")]:
        merge = plain_models(config(device=device))[0].merge
        assert merge is not None and merge["device"] == expected and merge["dtype"] == "auto"


# ---- the attacked lambda curve ----------------------------------------------------------------------------------


def curve_config(dwb_curve: int | None = 5, stress_curve: int | None = 4) -> ExperimentConfig:
    """config() with `curve_n` set on its attacks (None: off for that attack)."""
    dwb = {"attack": "deepwordbug", "methods": ["task_arithmetic"], "seeds": [0, 1, 2], "n": 8, "curve_n": dwb_curve}
    stress = {"attack": "stresstest", "seeds": [0], "datasets": ["sst2"], "n": 8, "curve_n": stress_curve}
    return config(attacks=[dwb, stress])


def curve_of(units: list[Unit]) -> list[Unit]:
    return [u for u in units if u.stored_as == "attack" and u.inputs_as(AttackInputs).purpose == CURVE]


def test_the_curve_adds_its_units_exactly_when_curve_n_is_set() -> None:
    off, on = config(), curve_config()
    first_off, first_on = phase_one(off, rows(off), IDS), phase_one(on, rows(on), IDS)
    assert curve_of(first_off) == []
    curve = curve_of(first_on)
    # By hand: 2 methods x 3 alphas x 2 draws = 6 candidates per method, plus its plain merge = 7 models per method.
    # DeepWordBug (Task Arithmetic only): 7 models x 2 datasets x 3 seeds = 42; StressTest (both methods): 2 x 7
    # models x SST-2 x 1 seed = 14.
    assert len(curve) == 42 + 14
    assert len(first_on) == len(first_off) + 56
    # Nothing else changes: the other units keep their keys, phase two is the same, keys stay unique.
    assert [u.key for u in first_on if u not in curve] == [u.key for u in first_off]
    cands = candidate_models(on)
    chosen = {p.model_id: next(c for c in cands if c.label == p.label) for p in plain_models(on)}
    assert [u.key for u in phase_two(on, rows(on), chosen, IDS)] == [
        u.key for u in phase_two(off, rows(off), chosen, IDS)
    ]
    assert len({u.key for u in [*first_on, *phase_two(on, rows(on), chosen, IDS)]}) == len(first_on) + len(
        phase_two(on, rows(on), chosen, IDS)
    )
    models = {u.model.model_id for u in curve}  # type: ignore[union-attr]
    assert models == {m.model_id for m in [*candidate_models(on), *plain_models(on)]}
    by_attack = {
        a: [u for u in curve if u.inputs_as(AttackInputs).attack.attack == a] for a in ("deepwordbug", "stresstest")
    }
    assert {u.model.label for u in by_attack["deepwordbug"]} == {"task_arithmetic"}  # type: ignore[union-attr]
    assert {u.model.label for u in by_attack["stresstest"]} == {"task_arithmetic", "ties"}  # type: ignore[union-attr]


def test_curve_units_use_curve_n_rows_shared_by_every_model_and_are_keyed_apart() -> None:
    cfg = curve_config()
    first = phase_one(cfg, rows(cfg), IDS)
    curve = curve_of(first)
    for u in curve:
        a = u.inputs_as(AttackInputs)
        n = 5 if a.attack.attack == "deepwordbug" else 4
        assert a.rows == attack_rows(rows(cfg)[a.dataset][1], n, a.seed) and len(a.rows) == n
        assert a.payload()["purpose"] == "curve" and u.label.endswith(f"/{a.seed}/curve")
    # The tables' attack units have no purpose in their payload (their keys predate it) and other rows.
    cands = candidate_models(cfg)
    chosen = {p.model_id: next(c for c in cands if c.label == p.label) for p in plain_models(cfg)}
    tables = [u for u in phase_two(cfg, rows(cfg), chosen, IDS) if u.stored_as == "attack"]
    assert all("purpose" not in u.inputs.payload() for u in tables)
    assert not {u.key for u in tables} & {u.key for u in curve}
    # The same seed and curve_n give the same rows to the plain merge and every candidate.
    rows_of: dict[tuple[str, int, str], set[tuple[int, ...]]] = {}
    for u in curve:
        a = u.inputs_as(AttackInputs)
        rows_of.setdefault((a.dataset, a.seed, a.attack.attack), set()).add(tuple(a.rows))
    assert all(len(v) == 1 for v in rows_of.values())


def test_each_merge_s_curve_units_follow_its_merge_and_scores() -> None:
    cfg = curve_config()
    units = phase_one(cfg, rows(cfg), IDS)
    order = [u.model.model_id if u.model else "" for u in units]
    for u in curve_of(units):
        i = units.index(u)
        model_id = u.model.model_id  # type: ignore[union-attr]
        merge = next(j for j, v in enumerate(units) if v.stored_as == "merge" and v.model.model_id == model_id)  # type: ignore[union-attr]
        assert merge < i and all(order[k] == model_id for k in range(merge, i))  # the model's units in one run


def test_only_attacks_with_curve_n_join_the_curve() -> None:
    cfg = curve_config(dwb_curve=None, stress_curve=3)
    curve = curve_of(phase_one(cfg, rows(cfg), IDS))
    assert len(curve) == 14 and {u.inputs_as(AttackInputs).attack.attack for u in curve} == {"stresstest"}


def test_the_stored_config_leaves_curve_n_out_while_it_is_off() -> None:
    assert all("curve_n" not in a for a in config().study_config()["attacks"])
    stored = curve_config(dwb_curve=None).study_config()["attacks"]
    assert "curve_n" not in stored[0] and stored[1]["curve_n"] == 4
    assert ExperimentConfig.model_validate(curve_config().study_config()) == curve_config()


def test_the_curve_smoke_config_plans_its_curve() -> None:
    cfg = load_experiment(CONFIGS / "curve-smoke.yaml")
    e = cfg.eval
    split = {
        "sst2": row_parts(872, e.selection_n, e.report_n, 0),
        "cola": row_parts(1043, e.selection_n, e.report_n, 0),
    }
    first = phase_one(cfg, split, IDS)
    chosen = {p.model_id: next(c for c in candidate_models(cfg) if c.label == p.label) for p in plain_models(cfg)}
    second = phase_two(cfg, split, chosen, IDS)
    # 4 candidates (2 alphas x 2 draws) + 1 plain merge, each: StressTest 2 datasets x 1 seed + DeepWordBug 2 x 2.
    assert len(curve_of(first)) == 5 * 6
    assert (len(first), len(second)) == (50, 22)  # the count its header states: 72 units

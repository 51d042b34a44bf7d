"""Transfer attacks in the plan: counts by hand, keys from the source's key and the target, off changes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from robustness.experiment.kinds.attack import TRANSFER, AttackInputs
from robustness.experiment.kinds.base import Unit
from robustness.experiment.kinds.replay import TransferInputs
from robustness.experiment.planning.models import ModelSpec, candidate_models, plain_models
from robustness.experiment.planning.plan import phase_two
from robustness.experiment.planning.rows import row_parts
from robustness.experiment.spec.config import ExperimentConfig, load_experiment
from robustness.store import config_hash

CONFIGS = Path(__file__).parent.parent / "configs"
IDS = {"base": "base-abc", "sst2": "sst2-def", "cola": "cola-123"}
ROWS = {"sst2": row_parts(872, 10, 20, 0), "cola": row_parts(1043, 10, 20, 0)}


def config(**overrides: Any) -> ExperimentConfig:
    data: dict[str, Any] = {
        "name": "t",
        "methods": [{"method": "task_arithmetic", "parameters": {"scaling": 1.0}}, {"method": "ties"}],
        "m3": {"alphas": [0.5, 2.0]},
        "eval": {"selection_n": 10, "report_n": 20},
        "attacks": [
            {"attack": "deepwordbug", "methods": ["task_arithmetic"], "seeds": [0, 1], "n": 8},
            {"attack": "stresstest", "seeds": [0], "datasets": ["sst2"], "n": 8},
        ],
    }
    return ExperimentConfig.model_validate(data | overrides)


def chosen(cfg: ExperimentConfig) -> dict[str, ModelSpec]:
    """The first candidate of each method, as if selection had picked it."""
    cands = candidate_models(cfg)
    return {p.model_id: next(c for c in cands if c.label == p.label) for p in plain_models(cfg)}


def second(cfg: ExperimentConfig, picked: dict[str, ModelSpec] | None = None, partial: bool = False) -> list[Unit]:
    return phase_two(cfg, ROWS, chosen(cfg) if picked is None else picked, IDS, partial=partial)


def replays(units: list[Unit]) -> list[Unit]:
    return [u for u in units if isinstance(u.inputs, TransferInputs)]


def test_off_by_default_and_absent_from_the_stored_config() -> None:
    off, explicit_none = config(), config(transfer=None)
    assert off.transfer is None and "transfer" not in off.study_config()
    assert config_hash(off.study_config()) == config_hash(explicit_none.study_config())
    assert not replays(second(off))
    on = config(transfer={"sources": ["experts"]})
    assert on.study_config()["transfer"] == {"sources": ["experts"]}
    assert config_hash(on.study_config()) != config_hash(off.study_config())


def test_counts_by_hand() -> None:
    # Without transfer: 3 references and 4 merged models (plain and chosen of TA and TIES) x 2 datasets clean = 14;
    # DeepWordBug on the 2 TA models x 2 datasets x 2 seeds = 8; StressTest on the 4 merged x 1 x 1 = 4. 26 units.
    base = second(config())
    assert len(base) == 26
    both = second(config(transfer={"sources": ["experts", "plain"]}))
    expert_attacks = [u for u in both if u.stored_as == "attack" and u.model and u.model.model_id.startswith("expert/")
                      and not isinstance(u.inputs, TransferInputs)]  # fmt: skip
    # Each expert is attacked by every attack: DeepWordBug 2 datasets x 2 seeds + StressTest 1 = 5, x 2 experts.
    assert len(expert_attacks) == 10
    # DeepWordBug (covers TA: plain + chosen):
    #   experts: 2 experts x 4 attack units x 2 targets = 16; plain TA: 4 x (chosen TA + 2 experts) = 12.
    # StressTest (covers all 4 merged):
    #   experts: 2 x 1 x 4 = 8; plain TA and plain TIES: 2 x 1 x (3 other merged + 2 experts) = 10.
    assert len(replays(both)) == 16 + 12 + 8 + 10
    assert len(both) == 26 + 10 + 46
    assert len({u.key for u in both}) == len(both)
    experts_only = second(config(transfer={"sources": ["experts"]}))
    assert (len(experts_only), len(replays(experts_only))) == (26 + 10 + 24, 24)
    plain_only = second(config(transfer={"sources": ["plain"]}))
    assert (len(plain_only), len(replays(plain_only))) == (26 + 22, 22)


def test_transfer_adds_units_and_keeps_every_other_key() -> None:
    base = [u.key for u in second(config())]
    on = [u.key for u in second(config(transfer={"sources": ["experts", "plain"]}))]
    assert set(base) <= set(on)


def test_each_replay_follows_its_source_on_the_same_rows_and_is_keyed_by_it() -> None:
    units = second(config(transfer={"sources": ["experts", "plain"]}))
    position = {u.key: i for i, u in enumerate(units)}
    for i, unit in enumerate(units):
        if not isinstance(unit.inputs, TransferInputs):
            continue
        source = units[position[unit.inputs.source]]
        src = source.inputs_as(AttackInputs)
        assert position[source.key] < i and not isinstance(src, TransferInputs)
        assert (unit.inputs.rows, unit.inputs.dataset, unit.inputs.seed) == (src.rows, src.dataset, src.seed)
        assert unit.inputs.attack == src.attack and unit.inputs.purpose == TRANSFER
        assert unit.model is not None and source.model is not None and unit.model.model_id != source.model.model_id
    # The same plan again gives the same keys; another chosen candidate changes only that target's replays.
    again = second(config(transfer={"sources": ["experts", "plain"]}))
    assert [u.key for u in again] == [u.key for u in units]


def test_replays_wait_for_the_chosen_candidate_when_partial() -> None:
    cfg = config(transfer={"sources": ["experts", "plain"]})
    picked = {k: v for k, v in chosen(cfg).items() if k.endswith("/ties")}
    units = second(cfg, picked, partial=True)
    targets = {u.model.model_id for u in replays(units) if u.model is not None}
    assert not any("task_arithmetic+m3" in t for t in targets)
    assert any("ties+m3" in t for t in targets)


def test_config_errors_say_what_to_do() -> None:
    with pytest.raises(ValidationError, match="no attacks to transfer"):
        config(attacks=[], transfer={})
    with pytest.raises(ValidationError, match="listed twice"):
        config(transfer={"sources": ["plain", "plain"]})
    with pytest.raises(ValidationError):
        config(transfer={"sources": ["m3"]})


def test_the_estimate_runs_a_targets_replays_after_their_sources() -> None:
    from robustness.experiment.sizing.estimate import plan_units, study_jobs

    cfg = load_experiment(CONFIGS / "transfer-smoke.yaml")
    off = study_jobs(plan_units(cfg.model_copy(update={"transfer": None})), lambda u: 1.0, 0.0)
    on = study_jobs(plan_units(cfg), lambda u: 1.0, 0.0)
    replay_jobs = {j.name: j for j in on.jobs if j.name.endswith("(transfer)")}
    # Targets: the plain and the chosen merge (the experts' prompts), both experts (the plain merge's); each loads
    # its model once more, after its own job and every source's.
    assert sorted(replay_jobs) == [
        "expert/cola (transfer)", "expert/sst2 (transfer)", "sst2+cola/task_arithmetic (transfer)",
        "sst2+cola/task_arithmetic+m3/a0.5-d0 (transfer)",
    ]  # fmt: skip
    assert on.loads == off.loads + 4
    assert replay_jobs["sst2+cola/task_arithmetic (transfer)"].after == (
        "sst2+cola/task_arithmetic", "expert/sst2 (report rows)", "expert/cola (report rows)",
    )  # fmt: skip
    assert replay_jobs["expert/sst2 (transfer)"].after == ("expert/sst2 (report rows)", "sst2+cola/task_arithmetic")


def test_the_runners_count_with_plain_merges_standing_in_for_the_chosen_is_exact() -> None:
    cfg = config(transfer={"sources": ["experts", "plain"]})
    stand_in = {p.model_id: p for p in plain_models(cfg)}  # as run_experiment counts before selection has run
    assert len(phase_two(cfg, ROWS, stand_in, IDS)) == len(second(cfg))


def test_an_attack_split_over_two_entries_attacks_each_expert_once() -> None:
    # The same DeepWordBug settings in two entries (one with the curve, one without) covering different methods:
    # each expert's attack is one unit, replayed on the models of both entries.
    split = config(
        attacks=[
            {"attack": "deepwordbug", "methods": ["task_arithmetic"], "seeds": [0], "n": 8, "curve_n": 4},
            {"attack": "deepwordbug", "methods": ["ties"], "seeds": [0], "n": 8},
        ],
        transfer={"sources": ["experts"]},
    )
    units = second(split)
    assert len({u.key for u in units}) == len(units)
    expert_attacks = [u for u in units if u.stored_as == "attack" and u.model and u.model.model_id.startswith("expert/")
                      and not isinstance(u.inputs, TransferInputs)]  # fmt: skip
    assert len(expert_attacks) == 2 * 2  # 2 experts x 2 datasets x 1 seed
    # Replays: each expert attack on the 4 merged models (2 TA from the first entry, 2 TIES from the second).
    assert len(replays(units)) == 2 * 2 * 4

"""Transfer attacks run: the tiny study with transfer on, locally and on Ray. A replay scores exactly what a direct
evaluation of its target with the source's found prompt scores, and never runs before its source is stored."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from robustness.cli import main
from robustness.experiment.kinds import replay
from robustness.experiment.kinds.base import Unit
from robustness.experiment.kinds.replay import TransferInputs
from robustness.experiment.spec.config import load_experiment
from tests.tiny import tiny_tokenizer
from tests.tiny_study import save_family, stored_in_order, study, write

TRANSFER = {"sources": ["experts", "plain"]}


@pytest.fixture(scope="module")
def family(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return save_family(tmp_path_factory.mktemp("family"), tiny_tokenizer())


def transfer_study(root: Path, family: dict[str, str], data_dir: Path, **changes: Any) -> str:
    config = study(root / "runs", family, data_dir, transfer=TRANSFER, keep_merges=True, **changes)
    return write(root, config, "transfer")


def replays_follow_sources(attacks: list[tuple[str, dict[str, Any], dict[str, Any]]]) -> int:
    """Check each stored replay against its source (stored before it, same rows, same prompt); their number."""
    position = {key: i for i, (key, _, _) in enumerate(attacks)}
    n = 0
    for i, (_, inputs, result) in enumerate(attacks):
        if inputs.get("purpose") != "transfer":
            continue
        n += 1
        source = attacks[position[inputs["source"]]][2]
        assert position[inputs["source"]] < i
        assert result["source_key"] == inputs["source"] and result["source_model_id"] == source["model_id"]
        assert result["attacked_prompt"] == source["attacked_prompt"] and result["indices"] == source["indices"]
        assert result["model_id"] != source["model_id"]
    return n


@pytest.fixture(scope="module")
def local_run(tmp_path_factory: pytest.TempPathFactory, family: dict[str, str], data_dir: Path) -> Path:
    root = tmp_path_factory.mktemp("local")
    assert main(["run", transfer_study(root, family, data_dir), "--no-report"]) == 0
    return root / "runs" / "rerun"


def test_local_replays_run_after_their_sources(local_run: Path) -> None:
    # Transfer adds the 2 experts' StressTest runs and 7 replays: each expert's prompt on the plain and the chosen
    # merge (2 x 2), the plain merge's on the chosen merge and both experts (3).
    attacks = stored_in_order(local_run)
    assert replays_follow_sources(attacks) == 7 and len(attacks) == 2 + 2 + 7


def test_a_replay_scores_what_a_direct_evaluation_of_the_prompt_does(local_run: Path, family: dict[str, str],
                                                                      data_dir: Path) -> None:  # fmt: skip
    from robustness.data.glue import load_glue
    from robustness.evaluate import evaluator_for
    from robustness.models import load_model
    from robustness.prompts import get_prompt

    with sqlite3.connect(local_run / "results.sqlite") as conn:
        merges = {json.loads(r)["model_id"]: json.loads(r)["path"] for (r,) in
                  conn.execute("SELECT result FROM units WHERE kind = 'merge'")}  # fmt: skip
    folders = {**merges, **{f"expert/{k}": v for k, v in family.items()}}
    data = load_glue("sst2", "validation", data_dir)
    replays = [(i, r) for _, i, r in stored_in_order(local_run) if i.get("purpose") == "transfer"]
    checked = set()
    for inputs, record in replays:
        if record["model_id"] in checked:
            continue
        checked.add(record["model_id"])
        model = load_model(Path(folders[record["model_id"]]), "cpu", "auto")
        evaluate = evaluator_for(model, data, inputs["rows"], mode="score", chat=None, max_new_tokens=2)
        attacked = evaluate(record["attacked_prompt"])
        clean = evaluate(get_prompt("sst2", inputs["prompt"], str(data_dir)).text)
        assert list(attacked.predictions) == record["attacked_predictions"]
        assert list(clean.predictions) == record["clean_predictions"]
        assert (attacked.metric, clean.metric) == (record["attacked_metric"], record["clean_metric"])
    assert len(checked) == 4  # the plain and chosen merges and both experts


def test_a_replay_before_its_source_is_refused(local_run: Path, tmp_path: Path) -> None:
    from robustness.experiment.execution.runner import Runner
    from robustness.experiment.execution.worker import Checkpoints
    from robustness.store import Store

    cfg = load_experiment(local_run.parent.parent / "transfer.yaml")
    with Store.create_or_resume(tmp_path, cfg.study_config()) as store:
        runner = Runner(cfg, store, Checkpoints({}, {}), {}, {})
        (key, inputs, _) = next(a for a in stored_in_order(local_run) if a[1].get("purpose") == "transfer")
        unit = Unit(key, replay.KIND, None, TransferInputs.model_validate(inputs))
        with pytest.raises(RuntimeError, match="not stored yet"):
            runner.needed(unit)


def test_on_ray_replays_wait_for_their_sources_and_store_what_a_local_run_does(
    tmp_path: Path, family: dict[str, str], data_dir: Path, local_run: Path, ray_instance: None
) -> None:
    assert main(["run", transfer_study(tmp_path, family, data_dir, executor="ray"), "--no-report"]) == 0
    ray_attacks = stored_in_order(tmp_path / "runs" / "rerun")
    assert replays_follow_sources(ray_attacks) == 7
    local = {k: r for k, _, r in stored_in_order(local_run)}
    assert {k: r for k, _, r in ray_attacks} == local


def test_the_report_shows_a_transfer_row_per_source_and_target(local_run: Path) -> None:
    from reports.build import build_report
    from reports.load import load_run

    report = build_report(load_run(local_run), resamples=200, seed=0, permutations=99)
    data = next(t for t in report.tables if t.name == "transfer").data
    assert len(data) == 7 and set(data["n_seeds"]) == {1}
    plain = data[data.source_model_id == "sst2+cola/task_arithmetic"]
    assert sorted(plain["model_id"])[:2] == ["expert/cola", "expert/sst2"] and plain["own_attacked"].isna().sum() == 0
    t3 = next(t for t in report.tables if t.name == "table3").data
    assert not any(str(m).startswith("expert/") for m in t3["model_id"])

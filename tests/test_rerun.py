"""`m3r run` on a changed config in an existing run folder: stored units whose keys are unchanged are reused, the
new ones run, the report holds the current plan's units only; progress lines off a terminal.

A real (small) study: random tiny Llamas with the default model's tokenizer as base and experts, real merges, real
SST-2 rows and prompts, scored and attacked by the suite's own code.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reports.completeness import run_completeness
from reports.load import load_run
from robustness.cli import main
from robustness.data.glue import load_glue
from robustness.experiment.execution.worker import Worker
from robustness.experiment.kinds.base import Unit
from robustness.experiment.kinds.selection import SelectionInputs
from robustness.experiment.planning.models import candidate_models, plain_model_id
from robustness.experiment.planning.plan import phase_one, phase_two
from robustness.experiment.planning.rows import row_parts
from robustness.experiment.spec.config import ExperimentConfig
from robustness.store import MergeRecord, SelectionRecord, Store, config_hash
from tests.tiny_study import run_killed_at_first_attack, save_family, stored, study, write

LINE = re.compile(r"^\[(\d+)/(\d+)\] (\w+) (\S+): done in \d+ (s|min); .+ elapsed, ETA \S.*$")


@pytest.fixture(scope="module")
def family(tmp_path_factory: pytest.TempPathFactory, base_tokenizer: Any) -> dict[str, str]:
    """Base and two experts: tiny random Llamas over the default model's vocabulary (its chat template too)."""
    return save_family(tmp_path_factory.mktemp("family"), base_tokenizer)


def current_plan(config: dict[str, Any], run_dir: Path) -> set[str]:
    """The keys the config plans, derived here from the plan module and the stored selections."""
    cfg = ExperimentConfig.model_validate(config)
    e = cfg.eval
    rows = {d: row_parts(len(load_glue(d, "validation", cfg.data_dir)), e.selection_n, e.report_n, e.split_seed)
            for d in e.datasets}  # fmt: skip
    identities = {"base": cfg.models.base or "", **cfg.models.experts}
    first = phase_one(cfg, rows, identities)
    by_id = {m.model_id: m for m in candidate_models(cfg)}
    chosen = {}
    with Store.open_readonly(run_dir) as store:
        for unit in (u for u in first if u.stored_as == "selection"):
            found = store.get(unit.key)
            assert found is not None and isinstance(found.result, SelectionRecord)
            chosen[plain_model_id(found.result.pair, unit.inputs_as(SelectionInputs).method)] = by_id[
                found.result.chosen_model_id
            ]
    return {u.key for u in [*first, *phase_two(cfg, rows, chosen, identities)]}


@pytest.fixture
def executed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The keys of the units the runner really executes (it still executes them)."""
    keys: list[str] = []
    original: Callable[..., Any] = Worker.execute

    def spy(self: Worker, unit: Unit, needed: Any = None) -> Any:
        keys.append(unit.key)
        return original(self, unit, needed)

    monkeypatch.setattr(Worker, "execute", spy)
    return keys


def report_files(run_dir: Path) -> str:
    files = [run_dir / "report" / "report.md", *sorted((run_dir / "report" / "tables").glob("*.csv"))]
    return "\n".join(f.read_text() for f in files)


def assert_report_holds_the_plan_only(run_dir: Path, plan: set[str], old: set[str]) -> None:
    data = load_run(run_dir)
    shown = {k for kind in data.frames for k in data.frame(kind)["key"]}
    assert shown == plan  # every planned unit is finished and reported, nothing else
    text = report_files(run_dir)
    for key in old - plan:
        assert key.rsplit("/", 1)[1] not in text, key  # the digest of a dropped unit appears nowhere
    assert run_completeness(run_dir).complete


def test_a_changed_config_reuses_every_unit_whose_key_is_unchanged(
    tmp_path: Path, family: dict[str, str], data_dir: Path, executed: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = tmp_path / "runs" / "rerun"
    a = study(tmp_path / "runs", family, data_dir)
    assert main(["run", write(tmp_path, a, "a")]) == 0
    first = stored(run_dir)
    assert len(first) == 16 and sorted(executed) == sorted(first)
    # Off a terminal (stderr is captured here): one plain line per finished unit, with done/total and an ETA.
    err = capsys.readouterr().err
    lines = [m for m in map(LINE.match, err.splitlines()) if m]
    assert [(int(m[1]), int(m[2])) for m in lines] == [(i, 16) for i in range(1, 17)]
    assert sorted(f"{m[3]}/{m[4]}" for m in lines) == sorted(k.rsplit("/", 1)[0] for k in first)
    assert "config changed" not in err

    # One attack added: every stored unit keeps its key; only the two new attack units run.
    executed.clear()
    dwb = {"attack": "deepwordbug", "datasets": ["sst2"], "seeds": [0], "n": 3, "search": "paper"}
    b = study(tmp_path / "runs", family, data_dir, attacks=[*a["attacks"], dwb])
    assert main(["run", write(tmp_path, b, "b")]) == 0
    err = capsys.readouterr().err
    assert (
        "config changed since the last run: 16 stored units reused, 0 no longer planned (kept in the store, not "
        "reported), 2 to run"
    ) in err.splitlines()
    second = stored(run_dir)
    new = set(second) - set(first)
    assert sorted(executed) == sorted(new) and len(new) == 2
    assert all(k.startswith("attack/") and "/deepwordbug/" in k for k in new)
    assert {k: second[k] for k in first} == first  # same rows, same finish times: nothing recomputed
    lines = [m for m in map(LINE.match, err.splitlines()) if m]
    assert len(lines) == 2 and all(int(m[2]) == 18 for m in lines) and int(lines[0][1]) < int(lines[1][1]) <= 18
    plan_b = current_plan(b, run_dir)
    assert plan_b == set(second)
    assert_report_holds_the_plan_only(run_dir, plan_b, set(first))
    with Store.open_readonly(run_dir) as store:
        assert [e.config_hash for e in store.history()] == [config_hash(a_cfg(a)), config_hash(a_cfg(b))]

    # A method's parameter changed: its merges and everything downstream are new; the references' scores stay.
    executed.clear()
    c = b | {"methods": [{"method": "task_arithmetic", "parameters": {"scaling": 0.8}}]}
    assert main(["run", write(tmp_path, c, "c")]) == 0
    third = stored(run_dir)
    plan_c = current_plan(c, run_dir)
    references = {k for k in plan_c if k.startswith(("clean/base/", "clean/expert/"))}
    assert len(references) == 6 and references <= set(first)
    assert sorted(executed) == sorted(plan_c - references)
    assert {k: third[k] for k in second} == second  # the old units stay in the store
    assert (
        "config changed since the last run: 6 stored units reused, 12 no longer planned (kept in the store, not "
        "reported), 12 to run"
    ) in capsys.readouterr().err.splitlines()
    assert_report_holds_the_plan_only(run_dir, plan_c, set(second))
    md = (run_dir / "report" / "report.md").read_text()
    assert "This folder has run 3 configs" in md and "12 finished unit(s) that this config does not plan" in md
    with Store.open_readonly(run_dir) as store:
        assert len(store.history()) == 3


def a_cfg(config: dict[str, Any]) -> dict[str, Any]:
    """The config as the runner stores it (validated, defaults filled in, the executor left out)."""
    return ExperimentConfig.model_validate(config).study_config()


def test_a_killed_run_then_a_changed_config(
    tmp_path: Path, family: dict[str, str], data_dir: Path, executed: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = tmp_path / "runs" / "rerun"
    a = study(tmp_path / "runs", family, data_dir)
    run_killed_at_first_attack(monkeypatch, write(tmp_path, a, "a"))
    killed = stored(run_dir)
    assert 0 < len(killed) < 16 and not any(k.startswith("attack/") for k in killed)

    executed.clear()
    c = a | {"methods": [{"method": "task_arithmetic", "parameters": {"scaling": 0.8}}]}
    assert main(["run", write(tmp_path, c, "c")]) == 0
    final = stored(run_dir)
    plan_c = current_plan(c, run_dir)
    reused = plan_c & set(killed)
    assert len(reused) == 6  # the references' selection and report scores finished before the kill
    assert sorted(executed) == sorted(plan_c - reused)
    assert {k: final[k] for k in killed} == killed
    assert_report_holds_the_plan_only(run_dir, plan_c, set(killed))
    # The killed run left its plain merge's weights behind (same model id, scaling 1.0): the new merge is its own.
    with Store.open_readonly(run_dir) as store:
        merges = [store.get(k) for k in sorted(plan_c) if k.startswith("merge/")]
    assert len(merges) == 3
    assert all(isinstance(m.result, MergeRecord) and m.result.merge_json["parameters"]["scaling"] == 0.8
               for m in merges if m is not None)  # fmt: skip
    assert not any((run_dir / "merges").iterdir())
    with Store.open_readonly(run_dir) as store:
        assert [e.config_hash for e in store.history()] == [config_hash(a_cfg(a)), config_hash(a_cfg(c))]

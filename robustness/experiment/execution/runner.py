"""Run an experiment: resolve checkpoints, execute units in dependency order, write each to the store.

Units run here one after another (`executor: local`) or in Ray actors (`executor: ray`, ray_executor.py); the
model units' code is the same `Worker` either way.

Only this driver writes the store, one transaction per finished unit, so a killed run loses at most the units in
flight and a rerun skips everything that finished. A rerun with a changed config reuses every stored unit whose
key the new config still plans, and records the new plan so reports leave the other units out. Merged weights are
deleted once no later unit needs them (unless `keep_merges`); a finished merge whose folder is gone is merged
again, deterministically, when needed.
"""

from __future__ import annotations

import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from robustness.data.glue import GlueSplit, load_glue
from robustness.experiment.execution.progress import UnitProgress, unit_progress
from robustness.experiment.execution.resume import count_reuse
from robustness.experiment.execution.worker import Checkpoints, Worker, delete_merge, merge_folder, started_at
from robustness.experiment.kinds import run
from robustness.experiment.kinds.inputs import SelectionInputs, TransferInputs
from robustness.experiment.planning.plan import (
    ModelSpec,
    Unit,
    candidate_models,
    phase_one,
    phase_two,
    plain_model_id,
    plain_models,
    row_parts,
)
from robustness.experiment.spec.config import ExperimentConfig
from robustness.store import Store
from robustness.store.records import AttackRecord, CleanRecord, Record, SelectionRecord

__all__ = ["Checkpoints", "Runner", "resolve_checkpoints", "run_experiment"]

console = Console(stderr=True)


def resolve_checkpoints(cfg: ExperimentConfig) -> Checkpoints:
    if cfg.models.family == "default":
        from robustness.experts.build import build_family
        from robustness.experts.recipe import load_family_config

        family_cfg = load_family_config(cfg.models.family_config)
        family_cfg = family_cfg.model_copy(update={"data_dir": cfg.data_dir or family_cfg.data_dir})
        family = build_family(family_cfg, evaluate=False)
        paths = {"base": family.base, **family.experts}
        return Checkpoints(paths, {k: v.name for k, v in paths.items()})
    from robustness.models.source import resolve_source

    refs = {"base": cfg.models.base or "", **cfg.models.experts}
    paths = {k: Path(resolve_source(v).location) for k, v in refs.items()}
    return Checkpoints(paths, refs)


@dataclass
class Runner:
    cfg: ExperimentConfig
    store: Store
    checkpoints: Checkpoints
    data: dict[str, GlueSplit]
    rows: dict[str, tuple[list[int], list[int]]]
    done_now: int = 0
    loads: int = 0  # models loaded by the units run now (here, or in Ray actors)
    worker: Worker = field(init=False)

    def __post_init__(self) -> None:
        self.worker = Worker(self.cfg, self.checkpoints, self.data)

    @property
    def run_dir(self) -> Path:
        return self.cfg.run_dir

    def drop(self, model: ModelSpec) -> None:
        """Delete a merged model's weights once nothing later needs them."""
        self.worker.unload(model)
        delete_merge(self.cfg, self.checkpoints, model)

    def execute(self, unit: Unit) -> Record:
        """One unit's record: a selection from the stored scores of its candidates, any other unit by the worker."""
        if unit.kind == "selection":
            return run.run_selection(unit, self.selection_inputs(unit), self.cfg, self.reference_scores(unit))
        return self.worker.execute(unit, self.replay_source(unit))

    def replay_source(self, unit: Unit) -> AttackRecord | None:
        """A transfer replay's source record (None for any other unit); the source must be stored already."""
        if not isinstance(unit.inputs, TransferInputs):
            return None
        stored = self.store.get(unit.inputs.source)
        if stored is None or stored.status != "done":
            raise RuntimeError(f"unit {unit.key} replays the prompt of {unit.inputs.source}, which is not stored yet: "
                               "a replay must run after its source (a bug in the unit order)")  # fmt: skip
        return AttackRecord.model_validate(stored.result)

    def selection_inputs(self, unit: Unit) -> list[tuple[ModelSpec, list[CleanRecord]]]:
        by_id = {m.model_id: m for m in candidate_models(self.cfg)}
        grouped: dict[str, list[CleanRecord]] = {}
        for key in unit.inputs_as(SelectionInputs).candidates:
            stored = self.store.get(key)
            assert stored is not None, key
            record = CleanRecord.model_validate(stored.result)
            grouped.setdefault(record.model_id, []).append(record)
        return [(by_id[mid], records) for mid, records in grouped.items()]

    def reference_scores(self, unit: Unit) -> dict[str, dict[str, float]]:
        """The references' clean metrics on the selection rows that a normalised criterion needs: model id ->
        dataset -> metric (empty for `mean_metric`)."""
        out: dict[str, dict[str, float]] = {}
        for key in unit.inputs_as(SelectionInputs).references or []:
            stored = self.store.get(key)
            assert stored is not None, key
            record = CleanRecord.model_validate(stored.result)
            out.setdefault(record.model_id, {})[str(record.dataset)] = record.metric
        return out

    def run_local(self, first: list[Unit], progress: UnitProgress) -> None:
        """The local executor: phase one's units one after another, then phase two's."""
        self.run_units(first, progress)
        self.run_units(self.record_full_plan(first), progress)

    def record_full_plan(self, first: list[Unit]) -> list[Unit]:
        """Once every selection is stored: record the whole plan and return phase two's units."""
        second = phase_two(self.cfg, self.rows, self.chosen(first), self.checkpoints.identities)
        self.store.set_plan(u.key for u in [*first, *second])
        return second

    def run_units(self, todo: list[Unit], progress: UnitProgress) -> None:
        done = self.store.done_keys()
        last_use = {u.model.model_id: i for i, u in enumerate(todo) if u.model is not None}
        for i, unit in enumerate(todo):
            if unit.key in done:
                progress.skip(unit)
            else:
                progress.start(unit)
                started, clock, loads = started_at(), time.monotonic(), self.worker.loads
                record = self.execute(unit)
                self.loads += self.worker.loads - loads
                self.store.put(unit.key, unit.kind, unit.inputs.payload(), record, started_at=started)
                self.done_now += 1
                progress.finish(unit, time.monotonic() - clock)
            if unit.model is not None and last_use.get(unit.model.model_id) == i and unit.model.reference is None:
                self.drop(unit.model)

    def chosen(self, units: list[Unit], partial: bool = False) -> dict[str, ModelSpec]:
        """`pair/method` -> the candidate its stored selection chose; `partial`: skip selections not stored yet."""
        by_id = {m.model_id: m for m in candidate_models(self.cfg)}
        stored = self.store.done_keys("selection")
        out = {}
        for unit in units:
            if unit.kind == "selection" and (unit.key in stored or not partial):
                found = self.store.get(unit.key)
                assert found is not None
                record = SelectionRecord.model_validate(found.result)
                out[plain_model_id(record.pair, unit.inputs_as(SelectionInputs).method)] = by_id[record.chosen_model_id]
        return out

    def second_keys(self, chosen: dict[str, ModelSpec]) -> set[str]:
        """Phase two's keys for the selections in `chosen` (the others' candidates left out)."""
        return {u.key for u in phase_two(self.cfg, self.rows, chosen, self.checkpoints.identities, partial=True)}

    def record_plan(self, first: list[Unit], total: int) -> None:
        """Record the plan as far as it is known (phase two where selection ran) and, after a config change, say
        in one line what the store already holds of it."""
        chosen = self.chosen(first, partial=True)
        known = {u.key for u in first} | self.second_keys(chosen)
        self.store.set_plan(known)
        if self.store.previous_hash is None:
            return
        possible: set[str] = set()  # what phase two may add once the pending selections have chosen
        for c in candidate_models(self.cfg):
            if plain_model_id(c.pair, c.label) not in chosen:
                possible |= self.second_keys({**chosen, plain_model_id(c.pair, c.label): c})
        reuse = count_reuse(self.store.done_keys(), known, possible, total)
        print(reuse.line(), file=sys.stderr, flush=True)

    def remove_stale_merges(self) -> None:
        """Delete merged weights no model of this config uses (left by a killed run of an earlier config)."""
        folder = self.run_dir / "merges"
        if self.cfg.keep_merges or not folder.is_dir():
            return
        current = {
            merge_folder(self.cfg, self.checkpoints, m).name
            for m in [*plain_models(self.cfg), *candidate_models(self.cfg)]
        }
        for stale in folder.iterdir():
            if stale.name not in current:
                shutil.rmtree(stale, ignore_errors=True)


def run_experiment(cfg: ExperimentConfig) -> Path:
    """Run (or resume) `cfg`; returns the run directory."""
    data: dict[str, GlueSplit] = {d: load_glue(d, "validation", cfg.data_dir) for d in cfg.eval.datasets}
    for d in data:
        if cfg.eval.selection_n + cfg.eval.report_n > len(data[d]):
            from robustness.errors import UserError

            raise UserError(f"eval.selection_n + eval.report_n exceed {d}'s {len(data[d])} validation rows")
    rows = {d: row_parts(len(data[d]), cfg.eval.selection_n, cfg.eval.report_n, cfg.eval.split_seed) for d in data}
    # The stored config leaves out how units run (executor), so a study resumes as itself on another executor.
    Store.check_resumable(cfg.run_dir, cfg.study_config())  # before any model is built or loaded
    checkpoints = resolve_checkpoints(cfg)
    cfg.run_dir.mkdir(parents=True, exist_ok=True)
    with Store.create_or_resume(cfg.run_dir, cfg.study_config()) as store:
        runner = Runner(cfg, store, checkpoints, data, rows)
        first = phase_one(cfg, rows, checkpoints.identities)
        # Phase two's size does not depend on which candidates selection picks: the plain merges stand in.
        total = len(first) + len(phase_two(cfg, rows, {m.model_id: m for m in plain_models(cfg)},
                                           checkpoints.identities))  # fmt: skip
        runner.record_plan(first, total)
        runner.remove_stale_merges()
        with unit_progress(total, console) as progress:
            if cfg.executor == "ray":
                from robustness.experiment.executors.ray_driver import run_on_ray

                run_on_ray(runner, first, progress)
            else:
                runner.run_local(first, progress)
        console.print(f"{runner.done_now} units run, {total - runner.done_now} already in the store; "
                      f"{runner.loads} model loads")  # fmt: skip
    shutil.rmtree(cfg.run_dir / "tmp", ignore_errors=True)
    return cfg.run_dir

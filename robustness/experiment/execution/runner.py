"""Run an experiment: resolve checkpoints, plan the units, hand them to an executor, write each result to the store.

The runner implements the executors' `Study` (experiment/executors/host.py): units run here one after another
(`executor: local`) or in Ray actors (`executor: ray`); either way a unit runs by its kind on a `Worker`.

Only this driver writes the store, one transaction per finished unit, so a killed run loses at most the units in
flight and a rerun skips everything that finished. A rerun with a changed config reuses every stored unit whose
key the new config still plans, and records the new plan so reports leave the other units out. Merged weights are
deleted once no later unit needs them (unless `keep_merges`); a finished merge whose folder is gone is merged
again, deterministically, when needed.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from robustness.data.glue import GlueSplit, load_glue
from robustness.evaluation_cache import Usage, usage
from robustness.experiment.execution.progress import QUIET, UnitProgress, unit_progress
from robustness.experiment.execution.resume import count_reuse
from robustness.experiment.execution.worker import Checkpoints, merge_folder
from robustness.experiment.executors.host import Finished, Host
from robustness.experiment.kinds.base import Unit
from robustness.experiment.planning.models import ModelSpec, candidate_models, plain_model_id, plain_models
from robustness.experiment.planning.plan import Rows, chosen_candidates, phase_one, phase_two, plan_study
from robustness.experiment.planning.rows import split_rows
from robustness.experiment.spec.config import ExperimentConfig
from robustness.records import Record
from robustness.store import Store

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


def done_record(store: Store, key: str) -> Record | None:
    """The record of a finished unit, or None where the store holds no finished unit of that key."""
    found = store.get(key)
    return found.result if found is not None and found.status == "done" and isinstance(found.result, Record) else None


class StoredRecords(Mapping[str, Record]):
    """The store's finished records by key, read on demand (what planning needs of the store)."""

    def __init__(self, store: Store) -> None:
        self.store, self.done = store, store.done_keys()

    def __getitem__(self, key: str) -> Record:
        found = done_record(self.store, key) if key in self.done else None
        if found is None:
            raise KeyError(key)
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(self.done)

    def __len__(self) -> int:
        return len(self.done)


@dataclass
class Runner:
    """A run of one config against its store: the `Study` an executor runs."""

    cfg: ExperimentConfig
    store: Store
    checkpoints: Checkpoints
    data: Mapping[str, GlueSplit]
    rows: Rows
    progress: UnitProgress = field(default_factory=lambda: QUIET)  # set to a live one before an executor runs it
    done_now: int = 0
    loads: int = 0  # models loaded by the units run now (here, or in Ray actors)

    @property
    def run_dir(self) -> Path:
        return self.cfg.run_dir

    # ---- the executors' Study --------------------------------------------------------------------------------
    def first(self) -> list[Unit]:
        return phase_one(self.cfg, self.rows, self.checkpoints.identities)

    def known(self) -> list[Unit]:
        units = plan_study(self.cfg, self.rows, self.checkpoints.identities, StoredRecords(self.store))
        self.store.set_plan(u.key for u in units)
        return units

    def complete(self) -> list[Unit]:
        first = self.first()
        chosen = chosen_candidates(self.cfg, first, StoredRecords(self.store))
        second = phase_two(self.cfg, self.rows, chosen, self.checkpoints.identities)
        self.store.set_plan(u.key for u in [*first, *second])
        return second

    def done_keys(self) -> set[str]:
        return self.store.done_keys()

    def needed(self, unit: Unit) -> dict[str, Record]:
        out = {}
        for key in unit.kind.needs(unit):
            found = done_record(self.store, key)
            if found is None:
                raise RuntimeError(f"unit {unit.key} needs {key}, which is not stored yet: a unit must run after "
                                   "the units it needs (a bug in the unit order)")  # fmt: skip
            out[key] = found
        return out

    def put(self, unit: Unit, finished: Finished) -> None:
        self.store.put(unit.key, unit.stored_as, unit.inputs.payload(), finished.record,
                       started_at=finished.started_at)  # fmt: skip
        self.done_now += 1
        self.loads += finished.loads
        self.progress.finish(unit, finished.seconds)

    def merged_models(self) -> list[ModelSpec]:
        return [*plain_models(self.cfg), *candidate_models(self.cfg)]

    # ---- before the units run ----------------------------------------------------------------------------------
    def second_keys(self, chosen: dict[str, ModelSpec]) -> set[str]:
        """Phase two's keys for the selections in `chosen` (the others' candidates left out)."""
        return {u.key for u in phase_two(self.cfg, self.rows, chosen, self.checkpoints.identities, partial=True)}

    def record_plan(self, first: list[Unit], total: int) -> None:
        """Record the plan as far as it is known (phase two where selection ran) and, after a config change, say
        in one line what the store already holds of it."""
        chosen = chosen_candidates(self.cfg, first, StoredRecords(self.store))
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
        current = {merge_folder(self.cfg, self.checkpoints, m).name for m in self.merged_models()}
        for stale in folder.iterdir():
            if stale.name not in current:
                shutil.rmtree(stale, ignore_errors=True)


def host_for(cfg: ExperimentConfig) -> Host:
    """The executor the config names (Ray is imported only when asked for)."""
    if cfg.executor == "ray":
        from robustness.experiment.executors.ray_driver import RayHost

        return RayHost(cfg.ray_address)
    from robustness.experiment.executors.local import LocalHost

    return LocalHost()


def run_experiment(cfg: ExperimentConfig) -> Path:
    """Run (or resume) `cfg`; returns the run directory."""
    data: dict[str, GlueSplit] = {d: load_glue(d, "validation", cfg.data_dir) for d in cfg.eval.datasets}
    e = cfg.eval
    for d in data:
        if e.selection_n + e.report_n + (e.measure_n or 0) > len(data[d]):
            from robustness.errors import UserError

            raise UserError(
                f"eval.selection_n + eval.report_n (+ measure_n) exceed {d}'s {len(data[d])} validation rows"
            )
    rows = {d: split_rows(len(data[d]), e.selection_n, e.report_n, e.measure_n or 0, e.split_seed) for d in data}
    # The stored config leaves out how units run (executor), so a study resumes as itself on another executor.
    Store.check_resumable(cfg.run_dir, cfg.study_config())  # before any model is built or loaded
    checkpoints = resolve_checkpoints(cfg)
    cfg.run_dir.mkdir(parents=True, exist_ok=True)
    with Store.create_or_resume(cfg.run_dir, cfg.study_config()) as store:
        runner = Runner(cfg, store, checkpoints, data, rows)
        first = runner.first()
        # Phase two's size does not depend on which candidates selection picks: the plain merges stand in.
        total = len(first) + len(phase_two(cfg, rows, {m.model_id: m for m in plain_models(cfg)},
                                           checkpoints.identities))  # fmt: skip
        runner.record_plan(first, total)
        runner.remove_stale_merges()
        before = usage(cfg.run_dir) or Usage(0, 0)
        with unit_progress(total, console) as progress:
            runner.progress = progress
            host_for(cfg).run(runner)
        after = usage(cfg.run_dir) or Usage(0, 0)
        ran, served = after.ran - before.ran, after.served - before.served
        cached = f"; row evaluations: {ran:,} ran, {served:,} served from the evaluation cache" if ran + served else ""
        console.print(f"{runner.done_now} units run, {total - runner.done_now} already in the store; "
                      f"{runner.loads} model loads{cached}")  # fmt: skip
    shutil.rmtree(cfg.run_dir / "tmp", ignore_errors=True)
    return cfg.run_dir

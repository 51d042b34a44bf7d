"""Run an experiment: resolve checkpoints, execute units in dependency order, write each to the store.

Only this driver writes the store, one transaction per finished unit, so a killed run loses at most the unit in
flight and a rerun skips everything that finished. A rerun with a changed config reuses every stored unit whose
key the new config still plans, and records the new plan so reports leave the other units out. Merged weights are
deleted once no later unit needs them (unless `keep_merges`); a finished merge whose folder is gone is merged
again, deterministically, when needed.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from robustness.data.glue import GlueSplit, load_glue
from robustness.experiment import units as run
from robustness.experiment.config import ExperimentConfig
from robustness.experiment.inputs import AttackInputs, CleanInputs, SelectionInputs
from robustness.experiment.plan import (
    ModelSpec,
    Unit,
    candidate_models,
    phase_one,
    phase_two,
    plain_model_id,
    plain_models,
    row_parts,
)
from robustness.experiment.progress import UnitProgress, unit_progress
from robustness.experiment.resume import count_reuse
from robustness.store import Store, config_hash
from robustness.store.records import CleanRecord, SelectionRecord

console = Console(stderr=True)


@dataclass
class Checkpoints:
    paths: dict[str, Path]  # 'base' and each expert name -> folder
    identities: dict[str, str]  # what keys depend on: stable across machines (folder names carry recipe hashes)


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
    _loaded: tuple[str, Any] | None = None
    _bert: dict[str, Any] = field(default_factory=dict)

    @property
    def run_dir(self) -> Path:
        return self.cfg.run_dir

    def model_dir(self, model: ModelSpec) -> Path:
        """A reference's checkpoint, or where a merge goes: named by the model id and a digest of what it merges,
        so a folder left by a killed run of another config (same id, other parameters) is never taken for it."""
        if model.reference is not None:
            return self.checkpoints.paths[model.reference]
        digest = config_hash({"merge": model.merge, "checkpoints": self.checkpoints.identities})[:12]
        return self.run_dir / "merges" / f"{model.model_id.replace('/', '__')}-{digest}"

    def merge_json(self, model: ModelSpec) -> dict[str, Any] | None:
        file = self.model_dir(model) / "merge.json"
        return json.loads(file.read_text()) if model.merge is not None and file.is_file() else None

    def ensure_model(self, model: ModelSpec) -> Path:
        folder = self.model_dir(model)
        if model.merge is not None and not (folder / "merge.json").is_file():
            run.run_merge(model, self.checkpoints.paths, folder)
        return folder

    def load(self, model: ModelSpec) -> Any:
        if self._loaded is None or self._loaded[0] != model.model_id:
            from robustness.models import load_model

            self._loaded = None  # free the previous model before loading the next
            self._loaded = (model.model_id, load_model(self.ensure_model(model), self.cfg.device, self.cfg.dtype))
        return self._loaded[1]

    def drop(self, model: ModelSpec) -> None:
        """Delete a merged model's weights once nothing later needs them."""
        if self._loaded and self._loaded[0] == model.model_id:
            self._loaded = None
        if model.merge is not None and not self.cfg.keep_merges:
            shutil.rmtree(self.model_dir(model), ignore_errors=True)

    def execute(self, unit: Unit) -> Any:
        model = unit.model
        if unit.kind == "merge":
            assert model is not None
            folder = self.ensure_model(model)
            return run.merge_record(model, self.cfg, folder, self.merge_json(model) or {})
        if unit.kind == "selection":
            return run.run_selection(unit, self.selection_inputs(unit), self.cfg, self.reference_scores(unit))
        assert model is not None
        loaded = self.load(model)
        if unit.kind == "clean":
            data = self.data[unit.inputs_as(CleanInputs).dataset]
            return run.run_clean(unit, loaded, self.cfg, data, self.merge_json(model))
        if unit.kind == "attack":
            inputs = unit.inputs_as(AttackInputs)
            parts = self.bert_parts(unit, loaded) if inputs.attack.attack == "bertattack" else None
            data = self.data[inputs.dataset]
            return run.run_attack_unit(unit, loaded, self.cfg, data, self.merge_json(model), parts)
        if unit.kind == "livebench":
            return run.run_livebench(unit, loaded, self.cfg, self.run_dir / "livebench-answers", self.merge_json(model))
        raise ValueError(f"unknown unit kind {unit.kind}")

    def bert_parts(self, unit: Unit, loaded: Any) -> tuple[Any, Any]:
        from robustness.attacks.generators import bertattack_parts

        spec = unit.inputs_as(AttackInputs).attack
        assert unit.model is not None
        return bertattack_parts(loaded, unit.model.model_id, spec.masked_lm, spec.similarity_encoder, self._bert)

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

    def run_units(self, todo: list[Unit], progress: UnitProgress) -> None:
        done = self.store.done_keys()
        last_use = {u.model.model_id: i for i, u in enumerate(todo) if u.model is not None}
        for i, unit in enumerate(todo):
            if unit.key in done:
                progress.skip(unit)
            else:
                progress.start(unit)
                started, clock = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), time.monotonic()
                record = self.execute(unit)
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
        current = {self.model_dir(m).name for m in [*plain_models(self.cfg), *candidate_models(self.cfg)]}
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
    Store.check_resumable(cfg.run_dir, cfg.model_dump(mode="json"))  # before any model is built or loaded
    checkpoints = resolve_checkpoints(cfg)
    cfg.run_dir.mkdir(parents=True, exist_ok=True)
    with Store.create_or_resume(cfg.run_dir, cfg.model_dump(mode="json")) as store:
        runner = Runner(cfg, store, checkpoints, data, rows)
        first = phase_one(cfg, rows, checkpoints.identities)
        # Phase two's size does not depend on which candidates selection picks: the plain merges stand in.
        total = len(first) + len(phase_two(cfg, rows, {m.model_id: m for m in plain_models(cfg)},
                                           checkpoints.identities))  # fmt: skip
        runner.record_plan(first, total)
        runner.remove_stale_merges()
        with unit_progress(total, console) as progress:
            runner.run_units(first, progress)
            second = phase_two(cfg, rows, runner.chosen(first), checkpoints.identities)
            store.set_plan(u.key for u in [*first, *second])
            runner.run_units(second, progress)
        console.print(f"{runner.done_now} units run, {total - runner.done_now} already in the store")
    shutil.rmtree(cfg.run_dir / "tmp", ignore_errors=True)
    return cfg.run_dir

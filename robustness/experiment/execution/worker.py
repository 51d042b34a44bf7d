"""Executing the units that work on one model (merge, clean, attack, LiveBench), holding at most one loaded model.

The local runner has one `Worker`; under Ray each actor has its own (experiment/executors/). Either
way the unit's record comes back to the driver, which alone writes the store. Selections read stored records, so
the driver runs them itself (`Runner.execute`).
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from robustness.data.glue import GlueSplit
from robustness.experiment.kinds import run
from robustness.experiment.kinds.inputs import AttackInputs, CleanInputs, TransferInputs
from robustness.experiment.planning.plan import ModelSpec, Unit
from robustness.experiment.spec.config import ExperimentConfig
from robustness.store import config_hash
from robustness.store.records import AttackRecord, Record


def started_at() -> str:
    """When a unit starts, as the store records it (UTC, to the second)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass
class Checkpoints:
    paths: dict[str, Path]  # 'base' and each expert name -> folder
    identities: dict[str, str]  # what keys depend on: stable across machines (folder names carry recipe hashes)


def merge_folder(cfg: ExperimentConfig, checkpoints: Checkpoints, model: ModelSpec) -> Path:
    """Where a merge goes: named by the model id and a digest of what it merges, so a folder left by a killed run
    of another config (same id, other parameters) is never taken for it."""
    digest = config_hash({"merge": model.merge, "checkpoints": checkpoints.identities})[:12]
    return cfg.run_dir / "merges" / f"{model.model_id.replace('/', '__')}-{digest}"


def model_dir(cfg: ExperimentConfig, checkpoints: Checkpoints, model: ModelSpec) -> Path:
    """A reference's checkpoint, or its merge's folder under the run folder."""
    if model.reference is not None:
        return checkpoints.paths[model.reference]
    return merge_folder(cfg, checkpoints, model)


def delete_merge(cfg: ExperimentConfig, checkpoints: Checkpoints, model: ModelSpec) -> None:
    """Delete a merged model's weights (a reference's checkpoint, or any merge under `keep_merges`, stays)."""
    if model.merge is not None and not cfg.keep_merges:
        shutil.rmtree(merge_folder(cfg, checkpoints, model), ignore_errors=True)


@dataclass
class Worker:
    """Runs model units for one config; loads a model on first use and keeps it until a unit of another model."""

    cfg: ExperimentConfig
    checkpoints: Checkpoints
    data: dict[str, GlueSplit]
    _loaded: tuple[str, Any] | None = None
    _bert: dict[str, Any] = field(default_factory=dict)
    loads: int = 0  # models loaded so far (a study's summary line reports them)

    @property
    def run_dir(self) -> Path:
        return self.cfg.run_dir

    def model_dir(self, model: ModelSpec) -> Path:
        return model_dir(self.cfg, self.checkpoints, model)

    def merge_json(self, model: ModelSpec) -> dict[str, Any] | None:
        file = self.model_dir(model) / "merge.json"
        return json.loads(file.read_text()) if model.merge is not None and file.is_file() else None

    def ensure_model(self, model: ModelSpec) -> Path:
        """The model's folder; a merge whose folder is missing (deleted, or never finished) is merged again."""
        folder = self.model_dir(model)
        if model.merge is not None and not (folder / "merge.json").is_file():
            run.run_merge(model, self.checkpoints.paths, folder)
        return folder

    def load(self, model: ModelSpec) -> Any:
        if self._loaded is None or self._loaded[0] != model.model_id:
            from robustness.models import load_model

            self._loaded = None  # free the previous model before loading the next
            self._loaded = (model.model_id, load_model(self.ensure_model(model), self.cfg.device, self.cfg.dtype))
            self.loads += 1
        return self._loaded[1]

    def unload(self, model: ModelSpec) -> None:
        if self._loaded and self._loaded[0] == model.model_id:
            self._loaded = None

    def execute(self, unit: Unit, source: AttackRecord | None = None) -> Record:
        """The record of one model unit (merge, clean, attack, LiveBench); a transfer replay's needs `source`, the
        stored record of the attack whose prompt it replays (the driver reads it from the store)."""
        model = unit.model
        if model is None:
            raise ValueError(f"unit {unit.key} ({unit.kind}) works on no model; the driver runs it")
        if unit.kind == "merge":
            folder = self.ensure_model(model)
            return run.merge_record(model, self.cfg, folder, self.merge_json(model) or {})
        loaded = self.load(model)
        if unit.kind == "clean":
            data = self.data[unit.inputs_as(CleanInputs).dataset]
            return run.run_clean(unit, loaded, self.cfg, data, self.merge_json(model))
        if isinstance(unit.inputs, TransferInputs):
            if source is None:
                raise ValueError(f"unit {unit.key} replays {unit.inputs.source}, whose record was not passed")
            data = self.data[unit.inputs.dataset]
            return run.run_replay(unit, loaded, self.cfg, data, self.merge_json(model), source)
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

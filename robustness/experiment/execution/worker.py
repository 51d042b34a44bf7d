"""Executing units on a worker that holds at most one loaded model: the local executor has one `Worker`, under Ray
each actor has its own (experiment/executors/). Either way the unit's record goes back to the driver, which alone
writes the store. A unit runs by its kind (experiment/kinds/); the worker gives it the loaded model and the files.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from robustness import evaluation_cache
from robustness.data.glue import GlueSplit
from robustness.evaluation_cache import EvaluationCache
from robustness.experiment.kinds.base import Context, Unit
from robustness.experiment.kinds.merge import merge_into
from robustness.experiment.planning.models import ModelSpec
from robustness.experiment.spec.config import ExperimentConfig
from robustness.records import Record
from robustness.store import config_hash


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
    """Runs units for one config; loads a model on first use and keeps it until a unit of another model."""

    cfg: ExperimentConfig
    checkpoints: Checkpoints
    data: Mapping[str, GlueSplit]
    _loaded: tuple[str, Any] | None = None
    _caches: dict[str, dict[str, Any]] = field(default_factory=dict)
    loads: int = 0  # models loaded so far (a study's summary line reports them)
    # This worker's file of row outcomes (robustness/evaluation_cache.py), RUN_DIR/evaluations/NAME.sqlite; None:
    # no cache.
    cache_name: str | None = "local"
    _evaluations: EvaluationCache | None = None

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
            merge_into(model, self.checkpoints.paths, folder)
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

    def evaluation_cache(self) -> EvaluationCache | None:
        """The row outcomes this worker has computed for the study (opened on first use); None when off."""
        if self.cache_name is None or not evaluation_cache.enabled():
            return None
        if self._evaluations is None:
            self._evaluations = EvaluationCache(self.run_dir / evaluation_cache.FOLDER / f"{self.cache_name}.sqlite")
        return self._evaluations

    def cached(self, name: str) -> dict[str, Any]:
        """A cache that lives as long as this worker (e.g. BERTAttack's word generator per model)."""
        return self._caches.setdefault(name, {})

    def execute(self, unit: Unit, needed: Mapping[str, Record] | None = None) -> Record:
        """The record of one unit, run by its kind here; `needed` holds the stored records of the units it needs
        (the driver reads them from the store)."""
        return unit.kind.run(unit, Context(self.cfg, needed or {}, self))

"""Reading a run's store into frames: the only place the report touches the store (read-only).

A run folder may hold units of earlier configs (a rerun after a config change keeps them, README "The
experiment"); the report is made of the units the current config plans only, as the store records them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from robustness.evaluation_cache import Usage, usage
from robustness.experiment.kinds import attack, clean, livebench, measure, merge, selection
from robustness.store import ConfigEntry, Store, record_types

# The store kinds the report's sections read, as their kinds name them (experiment/kinds/).
MERGE, CLEAN, ATTACK = merge.KIND.stored_as, clean.KIND.stored_as, attack.KIND.stored_as
LIVEBENCH, SELECTION, MEASURE = livebench.KIND.stored_as, selection.KIND.stored_as, measure.KIND.stored_as


@dataclass(frozen=True)
class RunData:
    """Everything a report is made from: the run's meta table and one frame of finished units per kind."""

    name: str
    meta: dict[str, str]
    frames: dict[str, pd.DataFrame]
    failed: dict[str, int]  # units recorded as failed, per kind (they are not in any table)
    unplanned: int = 0  # finished units of earlier configs that the current config does not plan (not reported)
    history: list[ConfigEntry] = field(default_factory=list)  # the configs the folder has run, oldest first
    evaluations: Usage | None = None  # rows run and served by the study's evaluation caches (None: it has none)

    def frame(self, kind: str) -> pd.DataFrame:
        return self.frames[kind]


def planned_only(frame: pd.DataFrame, planned: set[str] | None) -> pd.DataFrame:
    """The rows of `frame` whose unit key the current config plans (all of them when no plan is recorded)."""
    if planned is None:
        return frame
    return frame[frame["key"].isin(planned)].reset_index(drop=True)


def load_run(run_dir: str | os.PathLike[str]) -> RunData:
    """Open the run's results.sqlite read-only and read every finished unit the current config plans."""
    path = Path(run_dir)
    with Store.open_readonly(path) as store:
        planned = store.planned_keys()
        frames = {kind: planned_only(store.frame(kind), planned) for kind in record_types()}
        failed = {kind: len(planned_only(store.frame(kind, status="failed"), planned)) for kind in record_types()}
        unplanned = len(store.done_keys() - planned) if planned is not None else 0
        meta, history = store.meta(), store.history()
    return RunData(path.resolve().name, meta, frames, {k: v for k, v in failed.items() if v}, unplanned, history,
                   usage(path))  # fmt: skip

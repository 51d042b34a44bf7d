"""The host interface: what an executor (local, Ray) is given to run a study, and what it hands back.

The runner (experiment/execution/runner.py) owns the plan and the store and implements `Study`; a host runs the
study's units on its workers, asks the study for the records a unit needs, and hands each finished unit back with
`put`. No executor imports the runner: each knows the study through this interface only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from robustness.data.glue import GlueSplit
from robustness.experiment.execution.progress import UnitProgress
from robustness.experiment.execution.worker import Checkpoints
from robustness.experiment.kinds.base import Unit
from robustness.experiment.planning.models import ModelSpec
from robustness.experiment.spec.config import ExperimentConfig
from robustness.records import Record


@dataclass(frozen=True)
class Finished:
    """What a worker returns for a unit: when it started, how long it ran, its record."""

    started_at: str
    seconds: float
    record: Record
    pid: int  # the worker's process: a new one means the executor restarted it
    loads: int = 0  # models the unit loaded (a unit that starts on another model loads it)


class Study(Protocol):
    """A run as a host sees it: its config and files, the units to run, and the store behind `put`."""

    cfg: ExperimentConfig
    checkpoints: Checkpoints
    data: Mapping[str, GlueSplit]
    progress: UnitProgress

    def first(self) -> list[Unit]:
        """Phase one's units."""

    def known(self) -> list[Unit]:
        """Every unit whose inputs are known now (phase two as far as the stored selections go); records that plan."""

    def complete(self) -> list[Unit]:
        """Once every selection is stored: phase two's units; records the whole plan."""

    def done_keys(self) -> set[str]:
        """The keys of the units the store holds as finished."""

    def needed(self, unit: Unit) -> dict[str, Record]:
        """The stored records of the units `unit` needs (its kind's `needs`); an error if one is not stored."""

    def put(self, unit: Unit, finished: Finished) -> None:
        """Store a finished unit (one transaction) and count it."""

    def merged_models(self) -> list[ModelSpec]:
        """Every merged model the study makes (plain merges and M3 candidates)."""


class Host(Protocol):
    """An executor: runs every unit of a study, phase two as selections finish, and stores each through `put`."""

    def run(self, study: Study) -> None: ...

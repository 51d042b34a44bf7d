"""The unit-kind protocol: what every kind of unit declares, the one `Unit` type, and what a kind's run sees.

A kind (one module each under experiment/kinds/) declares its typed inputs, the record it stores, what it needs
(other units' stored records, a loaded model), how it runs, and its work for `m3r plan`. The planner, both
executors, the cost model, the store and the report learn of kinds from the registry (experiment/kinds/registry.py);
a kind's name is written in its own module only. Adding a kind is one module and one `register` call
(docs/architecture.md).

Nothing here imports model code: a kind imports it inside `run`, so commands that run no model stay light.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from robustness.experiment.planning.models import ModelRef, ModelSpec
from robustness.keys import unit_key

if TYPE_CHECKING:
    from pathlib import Path

    from robustness.data.glue import GlueSplit
    from robustness.evaluation_cache import EvaluationCache
    from robustness.experiment.sizing.work import Work
    from robustness.experiment.spec.config import ExperimentConfig
    from robustness.records import Record


class Inputs(BaseModel):
    """What a unit works from: typed and frozen. A unit's key is the hash of `payload()`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def payload(self) -> dict[str, Any]:
        """The plain data the unit key hashes and the store keeps."""
        return self.model_dump(mode="json")


class ModelInputs(Inputs):
    model: ModelRef
    checkpoints: dict[str, str]  # every checkpoint's identity: a changed checkpoint changes the key


InputsT = TypeVar("InputsT", bound=Inputs)


@dataclass(frozen=True)
class Unit:
    """One unit of work: its key, its kind, the model it works on (None for a kind that runs on the driver), its
    inputs, and a label for people (the model id and where: dataset, attack, seed...)."""

    key: str
    kind: UnitKind
    model: ModelSpec | None
    inputs: Inputs
    label: str = ""

    def inputs_as(self, kind: type[InputsT]) -> InputsT:
        """The inputs as the type this unit's kind has (a mismatch is a bug in the plan)."""
        if not isinstance(self.inputs, kind):
            raise TypeError(f"unit {self.key}: inputs are {type(self.inputs).__name__}, not {kind.__name__}")
        return self.inputs

    @property
    def stored_as(self) -> str:
        """The kind the store files it under (and its key starts with)."""
        return self.kind.stored_as


class ModelHost(Protocol):
    """The worker side of a context: a loaded model and the files of the study's checkpoints and merges."""

    cfg: ExperimentConfig
    data: Mapping[str, GlueSplit]
    loads: int

    @property
    def run_dir(self) -> Path: ...

    def load(self, model: ModelSpec) -> Any: ...

    def ensure_model(self, model: ModelSpec) -> Path: ...

    def merge_json(self, model: ModelSpec) -> dict[str, Any] | None: ...

    def cached(self, name: str) -> dict[str, Any]: ...

    def evaluation_cache(self) -> EvaluationCache | None: ...


@dataclass(frozen=True)
class Context:
    """What a kind's `run` sees: the study's config, the stored records of the units it needs (by key), and, for a
    kind that works on a model, the worker that holds it."""

    cfg: ExperimentConfig
    needed: Mapping[str, Record]
    host: ModelHost | None = None

    @property
    def worker(self) -> ModelHost:
        if self.host is None:
            raise RuntimeError("this unit needs a model, and runs on a worker; the driver has none")
        return self.host


class UnitKind:
    """One kind of unit. A subclass declares what it is in its class statement and implements `run` and `work`:

        class CleanKind(UnitKind, name="clean", inputs_type=CleanInputs, record_type=CleanRecord, plan_rank=1): ...

    (`stored_as` defaults to the name)."""

    name: ClassVar[str]  # the kind's own name (the registry's key)
    stored_as: ClassVar[str]  # the store's kind for its records, and its keys' prefix (a replay is filed as an attack)
    inputs_type: ClassVar[type[Inputs]]
    record_type: ClassVar[type[Record]]
    on_model: ClassVar[bool] = True  # runs on a worker holding its model; False: on the driver, from stored records
    runs_model: ClassVar[bool] = True  # its work is forward passes of the model (a faster device speeds it up)
    disk_bound: ClassVar[bool] = False  # its work is reading and writing weights (on a GPU machine: the disk's speed)
    plan_rank: ClassVar[int] = 0  # where `m3r plan` lists its stored kind (merges, scores, selections, attacks, ...)
    builtin_rate: ClassVar[float] = 0.0  # seconds per work unit on the calibration machine (sizing/costs.py)

    def __init_subclass__(cls, **declared: Any) -> None:
        unknown = sorted(set(declared) - set(UnitKind.__annotations__))
        if unknown:
            raise TypeError(f"{cls.__name__}: a unit kind declares none of {unknown}")
        for attribute, value in declared.items():
            setattr(cls, attribute, value)
        if "name" in declared and "stored_as" not in declared:
            cls.stored_as = declared["name"]

    def __eq__(self, other: object) -> bool:  # one instance per kind; a copy (pickled to a Ray actor) is the same kind
        return type(other) is type(self)

    def __hash__(self) -> int:
        return hash(type(self).__qualname__)

    def __repr__(self) -> str:
        return f"<unit kind {self.name}>"

    def key(self, inputs: Inputs, label: str) -> str:
        return unit_key(self.stored_as, inputs.payload(), label)

    def unit(self, model: ModelSpec | None, inputs: Inputs, label: str) -> Unit:
        return Unit(self.key(inputs, label), self, model, inputs, label)

    def needs(self, unit: Unit) -> list[str]:
        """Keys of the units whose stored records this unit's run reads (run after them; passed in its context)."""
        return []

    def may_use(self, unit: Unit, model: ModelSpec) -> bool:
        """Whether this unit, not run yet, may still need `model`'s files (its merge is kept until it has run)."""
        return unit.model == model

    def claims(self, inputs: Mapping[str, Any]) -> bool:
        """Whether a stored unit filed under `stored_as` with these inputs is of this kind."""
        return True

    def run(self, unit: Unit, ctx: Context) -> Record:
        raise NotImplementedError

    def units_for(
        self, cfg: ExperimentConfig, model: ModelSpec, rows: Mapping[str, tuple[list[int], ...]],
        identities: dict[str, str],
    ) -> list[Unit]:  # fmt: skip
        """An extension's units for one model of phase two (its report rows: `rows[dataset][1]`), after the built-in
        ones. The built-in kinds plan none here: experiment/planning/plan.py plans them in their phases."""
        return []

    def work(self, inputs: Any, work: Work) -> float:
        """The unit's work in the cost model's units (experiment/sizing/costs.py): a rate per stored kind times it
        is its time."""
        raise NotImplementedError

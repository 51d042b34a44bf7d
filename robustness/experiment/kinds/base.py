"""The unit-kind protocol: what every kind of unit declares, the one `Unit` type, and the registry of kinds.

A kind (one module each under experiment/kinds/) declares its typed inputs, the record it stores, what it needs
(other units' stored records, a loaded model), how it runs, and its work for `m3r plan`. The planner, both
executors, the cost model, the store and the report learn of kinds from this registry; a kind's name is written in
its own module only. Adding a kind is one module and one `register` call (docs/architecture.md).

Nothing here imports model code: a kind imports it inside `run`, so commands that run no model stay light.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from robustness.store.keys import unit_key

if TYPE_CHECKING:
    from pathlib import Path

    from robustness.data.glue import GlueSplit
    from robustness.experiment.planning.models import ModelSpec
    from robustness.experiment.sizing.costs import Work
    from robustness.experiment.spec.config import ExperimentConfig
    from robustness.store.records import Record


class Inputs(BaseModel):
    """What a unit works from: typed and frozen. A unit's key is the hash of `payload()`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def payload(self) -> dict[str, Any]:
        """The plain data the unit key hashes and the store keeps."""
        return self.model_dump(mode="json")


class ModelRef(Inputs):
    """The model a unit works on: a merge (its merge config, with model names instead of paths) or a reference."""

    model_id: str
    merge: dict[str, Any] | None = None
    reference: str | None = None


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
    """One kind of unit. Subclasses set the class attributes and implement `run` and `work`."""

    name: ClassVar[str]  # the kind's own name (the registry's key)
    stored_as: ClassVar[str]  # the store's kind for its records, and its keys' prefix (a replay is filed as an attack)
    inputs_type: ClassVar[type[Inputs]]
    record_type: ClassVar[type[Record]]
    on_model: ClassVar[bool] = True  # runs on a worker holding its model; False: on the driver, from stored records
    runs_model: ClassVar[bool] = True  # its work is forward passes of the model (a faster device speeds it up)
    disk_bound: ClassVar[bool] = False  # its work is reading and writing weights (on a GPU machine: the disk's speed)
    plan_rank: ClassVar[int] = 0  # where `m3r plan` lists its stored kind (merges, scores, selections, attacks, ...)
    builtin_rate: ClassVar[float] = 0.0  # seconds per work unit on the calibration machine (sizing/costs.py)

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
        self, cfg: ExperimentConfig, model: ModelSpec, rows: Mapping[str, tuple[list[int], list[int]]],
        identities: dict[str, str],
    ) -> list[Unit]:  # fmt: skip
        """An extension's units for one model of phase two (its report rows: `rows[dataset][1]`), after the built-in
        ones. The built-in kinds plan none here: experiment/planning/plan.py plans them in their phases."""
        return []

    def work(self, inputs: Any, work: Work) -> float:
        """The unit's work in the cost model's units (experiment/sizing/costs.py): a rate per stored kind times it
        is its time."""
        raise NotImplementedError


_REGISTRY: dict[str, UnitKind] = {}


def register(kind: UnitKind) -> UnitKind:
    """Add a kind (refused when its name is taken, or its stored kind's record type differs from the one there)."""
    if kind.name in _REGISTRY and type(_REGISTRY[kind.name]) is not type(kind):
        raise ValueError(f"a unit kind named {kind.name!r} is registered already")
    for other in _REGISTRY.values():
        if other.stored_as == kind.stored_as and other.record_type is not kind.record_type:
            raise ValueError(f"kind {kind.name!r} files {kind.stored_as!r} records as {kind.record_type.__name__}, "
                             f"but {other.name!r} files them as {other.record_type.__name__}")  # fmt: skip
    _REGISTRY[kind.name] = kind
    return kind


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


@contextmanager
def registered(kind: UnitKind) -> Iterator[UnitKind]:
    """The kind registered for the duration of a `with` block (tests)."""
    register(kind)
    try:
        yield kind
    finally:
        unregister(kind.name)


def _builtins() -> dict[str, UnitKind]:
    import robustness.experiment.kinds  # noqa: F401  (registers the built-in kinds)

    return _REGISTRY


def kinds() -> list[UnitKind]:
    """Every registered kind, in registration order (the built-ins first)."""
    return list(_builtins().values())


def kind_named(name: str) -> UnitKind:
    found = _builtins().get(name)
    if found is None:
        raise ValueError(f"unknown unit kind {name!r}; known: {', '.join(_REGISTRY)}")
    return found


def stored_kinds() -> dict[str, type[Record]]:
    """The store's kinds and their record types, in registration order."""
    out: dict[str, type[Record]] = {}
    for kind in kinds():
        out.setdefault(kind.stored_as, kind.record_type)
    return out


def plan_order() -> list[str]:
    """The stored kinds as `m3r plan` lists them."""
    ranks: dict[str, int] = {}
    for kind in kinds():
        ranks.setdefault(kind.stored_as, kind.plan_rank)
    return sorted(ranks, key=lambda name: ranks[name])


def model_kinds() -> set[str]:
    """The stored kinds whose work runs the model (a faster device speeds them up)."""
    return {k.stored_as for k in kinds() if k.runs_model}


def stored_kind(stored_as: str, inputs: Mapping[str, Any]) -> UnitKind:
    """The kind of a stored unit, from its stored kind and inputs."""
    for kind in kinds():
        if kind.stored_as == stored_as and kind.claims(inputs):
            return kind
    raise ValueError(f"no registered unit kind files {stored_as!r} records with these inputs")


def kind_of(inputs: Inputs) -> UnitKind:
    """The kind whose inputs have this type."""
    for kind in kinds():
        if type(inputs) is kind.inputs_type:
            return kind
    raise ValueError(f"no registered unit kind takes {type(inputs).__name__}")


def parse_inputs(stored_as: str, inputs: Mapping[str, Any]) -> Inputs:
    """Stored inputs as their kind's type."""
    return stored_kind(stored_as, inputs).inputs_type.model_validate(inputs)

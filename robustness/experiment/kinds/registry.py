"""The registry of unit kinds: the built-in ones (registered by this package's `__init__`, in the order the store
and the report list them) and any an extension registers. The planner, both executors, the cost model, the store
and the report ask it which kinds there are; a kind's name is written in its own module only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from robustness.experiment.kinds.base import Inputs, UnitKind

if TYPE_CHECKING:
    from robustness.records import Record

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


def kinds() -> list[UnitKind]:
    """Every registered kind, in registration order (the built-ins first)."""
    return list(_REGISTRY.values())


def kind_named(name: str) -> UnitKind:
    found = _REGISTRY.get(name)
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

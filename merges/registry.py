"""The merge-method registry: every method the library knows, each defined once (README, "Adding a dataset, a
merge method or an attack").

A method is a `CombiningMethod` (it merges task vectors into one tensor: Average, Task Arithmetic, TIES) or a
`SparsifyingStep` (it thins the task vectors before a combining method named by one of its parameters: DARE, as
generalized task arithmetic treats it). Either one declares its typed parameters (`Param`), and the merge config
(`merges.config`), the engine (`merges.engine`, `merges.stream`), the record (`merges.record`) and the catalog
(`merges.catalog`) all ask the registry, at the time they run, what a name means. The built-in methods are
registered by `merges.builtin`; `register_method` adds another, `unregister_method` (or leaving the
`registered_method` block) removes it again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import AfterValidator

if TYPE_CHECKING:  # tensors only flow through a merge; validating a config or listing methods loads no torch
    from torch import Tensor

    from merges.methods import Contributions

Weights = tuple[float, ...]
# How a combining method merges one piece: (inputs, one weight per model, the resolved parameters, the trim
# thresholds of a method that trims, one per model; empty otherwise) -> the merged piece.
Combine = Callable[["Contributions", Sequence[float], Mapping[str, Any], Sequence[float]], "Tensor"]
# What a method adds to merge.json, besides what every record has (e.g. TIES's "ties" section).
RecordExtras = Callable[["RecordContext"], Mapping[str, Any]]
# A sparsifying step's keep masks of one tensor: (resolved parameters, run seed, tensor name, entries, models) ->
# one flat mask per model, or None when the step leaves this merge's task vectors as they are.
Masks = Callable[[Mapping[str, Any], int, str, int, int], "list[Tensor] | None"]
# A sparsifying step applied to one piece of one task vector: (delta, its slice of the model's mask, parameters).
Sparsify = Callable[["Tensor", "Tensor", Mapping[str, Any]], "Tensor"]

TRIM_PARAMETERS = frozenset({"keep", "trim_scope"})  # what a method that trims reads (the engine ranks by them)


@dataclass(frozen=True)
class Param:
    """One key of a merge config's `parameters`: its type and range, and what happens when it is not given.

    `type` is what pydantic validates a given value as (`float`, a `Literal`, an `Annotated` str with a check);
    `gt`/`ge`/`lt`/`le` bound a number. A key with a `default` is optional; one without (`default=None`) is
    required by every method that reads it, and `hint` says what to write in the message for a missing one.
    Methods that share a key share the one `Param` object (the registry refuses two different ones).
    """

    name: str
    type: Any
    description: str = ""
    default: Any = None
    hint: str = ""
    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None

    @property
    def required(self) -> bool:
        return self.default is None

    def bounds(self) -> dict[str, Any]:
        """The numeric bounds that are set, as pydantic `Field` keywords."""
        found = {"gt": self.gt, "ge": self.ge, "lt": self.lt, "le": self.le}
        return {key: value for key, value in found.items() if value is not None}


@dataclass(frozen=True)
class RecordContext:
    """What a method may write into merge.json: the merge's resolved parameters and TIES's global thresholds."""

    parameters: Mapping[str, Any]
    global_thresholds: list[float] | None


@dataclass(frozen=True)
class ScaleConvention:
    """How a method's M3 weights relate to its plain weights, as merge.json states it (`task_arithmetic_convention`):
    `plain` without M3, `official` with M3, `preserve_scale` with M3 and `m3.preserve_scale: true`."""

    plain: str
    official: str
    preserve_scale: str

    def describe(self, m3_enabled: bool, preserve_scale: bool) -> str:
        if not m3_enabled:
            return self.plain
        return self.preserve_scale if preserve_scale else self.official


@dataclass(frozen=True)
class MergeMethod:
    """What every registered method has: its name (as configs and records spell it), its display label (as reports
    spell it), its parameters, and what it adds to merge.json (`record`, given the resolved parameters)."""

    name: str
    display: str
    params: tuple[Param, ...] = ()
    record: RecordExtras | None = field(default=None, kw_only=True)

    sparsifies: ClassVar[bool] = False  # a step before a combining method, not a method alone

    @property
    def reads(self) -> frozenset[str]:
        """The `parameters` keys the method uses."""
        return frozenset(p.name for p in self.params)

    @property
    def needs(self) -> frozenset[str]:
        """Of those, the ones without a default."""
        return frozenset(p.name for p in self.params if p.required)

    @property
    def hint(self) -> str:
        """What to write for a missing required parameter."""
        return "; ".join(p.hint for p in self.params if p.required and p.hint)

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(f"method {self.name!r} has no parameter {name!r}")


@dataclass(frozen=True, kw_only=True)
class CombiningMethod(MergeMethod):
    """A method that merges the task vectors (or the models) into one tensor, piece by piece.

    M3 plugs in through the weights: `plain_weights(K)` are the weights of the plain method, `m3_weights(lambdas,
    preserve_scale)` turn M3's contribution ratios into weights. `convention` is set for a method whose M3 weights
    depend on `m3.preserve_scale` (and says how, in merge.json). A method that `trims` (TIES) is handed one trim
    threshold per model, which the engine settles from its `keep` and `trim_scope` parameters.
    """

    combine: Combine
    plain_weights: Callable[[int], Weights]
    m3_weights: Callable[[Sequence[float], bool], Weights]
    trims: bool = False
    convention: ScaleConvention | None = None

    def weights(self, lambdas: Sequence[float], m3_enabled: bool, preserve_scale: bool) -> Weights:
        """The per-model weights for one lambda group: M3's, or the plain method's."""
        return self.m3_weights(lambdas, preserve_scale) if m3_enabled else self.plain_weights(len(lambdas))


@dataclass(frozen=True, kw_only=True)
class SparsifyingStep(MergeMethod):
    """A step applied to each task vector before a combining method, which its parameter `combiner_param` names.

    `masks` draws a tensor's keep masks whole (so they do not depend on how the engine cuts the tensor), or returns
    None when the step changes nothing (DARE at p = 0: the plain combining method exactly); `apply` sparsifies one
    piece of a task vector with its slice of the mask. `seed_rule` is how the masks' seeds are derived, for
    merge.json (`seeds.dare_masks`).
    """

    combiner_param: str
    masks: Masks
    apply: Sparsify
    seed_rule: str | None = None

    sparsifies: ClassVar[bool] = True

    @property
    def default_combiner(self) -> str:
        return str(self.param(self.combiner_param).default)


# ---------------------------------------------------------------- the registry itself

_METHODS: dict[str, MergeMethod] = {}  # in registration order: the built-in methods first
_BUILT_IN: set[str] = set()


def register_method(method: MergeMethod) -> MergeMethod:
    """Add `method` to the registry (after the ones there) and return it; ValueError if it does not fit.

    A new method may reuse the `Param` objects of others (e.g. `merges.builtin.SCALING`) but not declare a
    different parameter under a name another method uses.
    """
    if not isinstance(method, (CombiningMethod, SparsifyingStep)):
        raise ValueError(f"register a CombiningMethod or a SparsifyingStep, got {type(method).__name__}")
    if not method.name.isidentifier():
        raise ValueError(f"method name {method.name!r}: use letters, digits and '_'")
    if method.name in _METHODS:
        raise ValueError(f"method {method.name!r} is already registered")
    names = [p.name for p in method.params]
    if len(set(names)) != len(names):
        raise ValueError(f"method {method.name!r} declares a parameter twice: {', '.join(names)}")
    for p in method.params:
        for other in _METHODS.values():
            if p.name in other.reads and other.param(p.name) != p:
                raise ValueError(
                    f"parameter {p.name!r} of method {method.name!r} differs from the one {other.name!r} declares; "
                    "reuse that Param or choose another name"
                )
    if isinstance(method, CombiningMethod) and method.trims and not method.reads >= TRIM_PARAMETERS:
        raise ValueError(f"method {method.name!r} trims, so it must read {' and '.join(sorted(TRIM_PARAMETERS))}")
    if isinstance(method, SparsifyingStep):
        if method.combiner_param not in method.reads:
            raise ValueError(f"step {method.name!r} must declare its combiner parameter {method.combiner_param!r}")
        combining_method(method.default_combiner)
    _METHODS[method.name] = method
    return method


def unregister_method(name: str) -> MergeMethod:
    """Remove a method added by `register_method` and return it (the built-in methods stay)."""
    if name in _BUILT_IN:
        raise ValueError(f"method {name!r} is built in and cannot be removed")
    if name not in _METHODS:
        raise ValueError(f"method {name!r} is not registered")
    return _METHODS.pop(name)


@contextmanager
def registered_method(method: MergeMethod) -> Iterator[MergeMethod]:
    """Register `method` for the duration of a `with` block."""
    register_method(method)
    try:
        yield method
    finally:
        unregister_method(method.name)


def _register_built_in(method: MergeMethod) -> None:
    register_method(method)
    _BUILT_IN.add(method.name)


# ---------------------------------------------------------------- queries: each reads the registry as it is now


def methods() -> tuple[MergeMethod, ...]:
    """Every registered method, in registration order."""
    return tuple(_METHODS.values())


def method_names() -> tuple[str, ...]:
    return tuple(_METHODS)


def combining_names() -> tuple[str, ...]:
    return tuple(name for name, m in _METHODS.items() if not m.sparsifies)


def sparsifying_names() -> tuple[str, ...]:
    return tuple(name for name, m in _METHODS.items() if m.sparsifies)


def lookup(name: str) -> MergeMethod:
    """The method registered as `name`; KeyError if there is none."""
    return _METHODS[name]


def get_method(name: str) -> MergeMethod:
    """The method registered as `name`; ValueError listing the known ones if there is none."""
    return lookup(known_method(name))


def combiner(name: str) -> CombiningMethod:
    """The combining method registered as `name`; ValueError if `name` is not one."""
    method = _METHODS.get(name)
    if not isinstance(method, CombiningMethod):
        combining_method(name)  # raises, naming the combining methods
        raise AssertionError(name)
    return method


def parameters() -> tuple[Param, ...]:
    """Every parameter of every registered method, each once, in order of first declaration."""
    seen: dict[str, Param] = {}
    for method in _METHODS.values():
        for p in method.params:
            seen.setdefault(p.name, p)
    return tuple(seen.values())


def parameter(name: str) -> Param:
    """The registered parameter called `name`; KeyError if no method reads it."""
    for p in parameters():
        if p.name == name:
            return p
    raise KeyError(name)


def known_method(name: str) -> str:
    """`name` if it is a registered method; else ValueError listing the known ones."""
    if name not in _METHODS:
        raise ValueError(f"unknown method {name!r}; use one of {', '.join(_METHODS)}")
    return name


def combining_method(name: str) -> str:
    """`name` if it is a combining method (what a sparsifying step's combiner parameter may name)."""
    if name not in combining_names():
        raise ValueError(f"{name!r} is not a combining method; use one of {', '.join(combining_names())}")
    return name


CombiningMethodName = Annotated[str, AfterValidator(combining_method)]  # the type of a combiner parameter


def combining_method_of(config: Mapping[str, Any]) -> str:
    """The combining method of a merge config given as plain data (as the YAML spells it): the method itself, or,
    for a sparsifying step such as DARE, the method its combiner parameter names (its default when not given)."""
    method = get_method(str(config["method"]))
    if isinstance(method, SparsifyingStep):
        given = (config.get("parameters") or {}).get(method.combiner_param)
        return str(given or method.default_combiner)
    return method.name


def combiner_of(config: Mapping[str, Any]) -> CombiningMethod:
    """The `CombiningMethod` of a merge config given as plain data (see `combining_method_of`)."""
    return combiner(combining_method_of(config))

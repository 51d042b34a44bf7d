"""The merge methods the library knows, as the merge config, the study config and the reports read them: a live
view of the method registry (`merges.registry`; the built-in methods are defined in `merges.builtin`).

`METHODS` maps each name to its entry (a `MethodEntry`: name, display label, the `parameters` keys it `reads`
and `needs`, whether it `sparsifies`, the `hint` for a missing parameter); `COMBINING` and `SPARSIFYING` list the
combining methods and the sparsification steps (DARE, applied to the task vectors before one of them). All three
read the registry each time they are used, so a method registered later (`merges.registry.register_method`) is
listed, and one unregistered is gone. Adding a method is one registration (README, "Adding a dataset, a merge
method or an attack").
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, overload

from merges import registry
from merges.registry import MergeMethod, combining_method, known_method

__all__ = ["COMBINING", "METHODS", "SPARSIFYING", "MethodEntry", "combining_method", "known_method"]

MethodEntry = MergeMethod


class _MethodTable(Mapping[str, MergeMethod]):
    """Name -> entry for every registered method, in registration order."""

    def __getitem__(self, name: str) -> MergeMethod:
        return registry.lookup(name)

    def __iter__(self) -> Iterator[str]:
        return iter(registry.method_names())

    def __len__(self) -> int:
        return len(registry.method_names())

    def __repr__(self) -> str:
        return f"METHODS({', '.join(self)})"


class _Names(Sequence[str]):
    """A tuple of method names that is read from the registry each time; equal to a tuple or list of the same names."""

    def __init__(self, names: Callable[[], tuple[str, ...]]) -> None:
        self._names = names

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[str, ...]: ...

    def __getitem__(self, index: int | slice) -> str | tuple[str, ...]:
        return self._names()[index]

    def __len__(self) -> int:
        return len(self._names())

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __contains__(self, name: object) -> bool:
        return name in self._names()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (tuple, list, _Names)):
            return self._names() == tuple(other)
        return NotImplemented

    __hash__: Any = None

    def __repr__(self) -> str:
        return repr(self._names())


METHODS: Mapping[str, MergeMethod] = _MethodTable()
COMBINING: Sequence[str] = _Names(registry.combining_names)
SPARSIFYING: Sequence[str] = _Names(registry.sparsifying_names)

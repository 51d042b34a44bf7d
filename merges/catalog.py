"""The merge methods the library knows: one entry each, read by the merge config, the study config and the reports.

An entry says what a method is called, which `parameters` keys it reads and which it needs, and whether it is a
combining method or a sparsification step applied to the task vectors before one (DARE, as generalized task
arithmetic treats it: drop and rescale, then Task Arithmetic or TIES). The arithmetic lives in `merges.methods`
(one `Method` per combining method) and `merges.methods.apply_dare`; the parameters' types and ranges in
`merges.config.Parameters`. Adding a method is one entry here plus its `Method` (README, "Adding a dataset, a
method or an attack").
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class MethodEntry:
    name: str  # as configs and records spell it
    display: str  # as reports spell it
    reads: frozenset[str] = field(default_factory=frozenset)  # `parameters` keys it uses
    needs: frozenset[str] = field(default_factory=frozenset)  # of those, the ones without a default
    sparsifies: bool = False  # a step before a combining method (named by `dare_method`), not a method alone
    hint: str = ""  # what to write for a missing required parameter


METHODS: dict[str, MethodEntry] = {
    e.name: e
    for e in (
        MethodEntry("average", "Average"),
        MethodEntry("task_arithmetic", "Task Arithmetic", reads=frozenset({"scaling"})),
        MethodEntry(
            "ties",
            "TIES",
            reads=frozenset({"scaling", "keep", "trim_scope"}),
            needs=frozenset({"keep"}),
            hint="the fraction of entries kept, e.g. 0.5, 0.7, 0.9",
        ),
        MethodEntry(
            "dare",
            "DARE",
            reads=frozenset({"drop_rate", "dare_method"}),
            needs=frozenset({"drop_rate"}),
            sparsifies=True,
            hint="the probability of dropping an entry; the paper uses 0.2",
        ),
    )
}
COMBINING: tuple[str, ...] = tuple(name for name, e in METHODS.items() if not e.sparsifies)
SPARSIFYING: tuple[str, ...] = tuple(name for name, e in METHODS.items() if e.sparsifies)


def known_method(name: str) -> str:
    """`name` if it is a method in the catalog; else ValueError listing the known ones."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; use one of {', '.join(METHODS)}")
    return name


def combining_method(name: str) -> str:
    """`name` if it is a combining method (what DARE's `dare_method` may name)."""
    if name not in COMBINING:
        raise ValueError(f"{name!r} is not a combining method; use one of {', '.join(COMBINING)}")
    return name

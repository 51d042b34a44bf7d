"""The names the suite knows, in one place: datasets, merge methods and attacks.

Configs, CLI choices, store records and reports all read their names, display labels, metrics and orders from
here. Adding a dataset is one entry below, a merge method one entry in `merges.catalog` (which the merge library
reads on its own and which is re-exported here), an attack one recipe object in the attack registry (registered by
`robustness.attacks.recipes`, read here through `ATTACKS`); the README's "Adding a dataset, a merge method or an
attack" says where each implementation goes.

Config validation and the reports import this module: the attack registry it reads holds data, and an attack's
code (the evaluator, the word generators, torch) is imported only when the attack runs.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Annotated

from pydantic import AfterValidator

from merges.catalog import COMBINING, METHODS, SPARSIFYING, MethodEntry, known_method
from robustness.attacks.recipes import ATTACK_SETTINGS, ATTACKS, SEARCHES, AttackRecipe, RecordSearch, SearchName
from robustness.datasets import DATASETS, DatasetEntry, MetricName
from robustness.readings import DEFAULT_READING, READINGS, ReadingName

__all__ = [
    "ATTACKS",
    "ATTACK_SETTINGS",
    "COMBINING",
    "DATASETS",
    "DEFAULT_READING",
    "METHODS",
    "READINGS",
    "REFERENCES",
    "SEARCHES",
    "SPARSIFYING",
    "AttackEntry",
    "AttackName",
    "DatasetEntry",
    "DatasetName",
    "MethodEntry",
    "MethodName",
    "MetricName",
    "ModelKind",
    "ReadingName",
    "RecordSearch",
    "SearchName",
    "attack_order",
    "dataset_order",
    "known",
    "method_label",
    "method_order",
]

# The attacks are recipe objects in the attack registry (robustness.attacks.registry), which PromptBench's recipes
# join on import (robustness.attacks.recipes); `ATTACKS` is a live view of it, so an attack registered later is
# listed and validated like those. An entry's fields: name, display, the settings it reads, its seeded searches.
AttackEntry = AttackRecipe

# What a result's model is when it is not a merge: the base and the fine-tuned experts (the reference rows).
REFERENCES: dict[str, str] = {"base": "Base", "expert": "Expert"}


def known(table: Mapping[str, object], what: str) -> AfterValidator:
    """A pydantic validator that accepts the names in `table` and names the known ones otherwise."""

    def check(name: str) -> str:
        if name not in table:
            raise ValueError(f"unknown {what} {name!r}; use one of {', '.join(table)}")
        return name

    return AfterValidator(check)


class _Joined(Mapping[str, object]):
    """Several tables read as one, in order, at each use (a method registered later is in it)."""

    def __init__(self, *parts: Mapping[str, object]) -> None:
        self.parts = parts

    def __getitem__(self, key: str) -> object:
        for part in self.parts:
            if key in part:
                return part[key]
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(k for part in self.parts for k in part))

    def __len__(self) -> int:
        return len(dict.fromkeys(k for part in self.parts for k in part))


DatasetName = Annotated[str, known(DATASETS, "dataset")]
AttackName = Annotated[str, known(ATTACKS, "attack")]
MethodName = Annotated[str, AfterValidator(known_method)]
ModelKind = Annotated[str, known(_Joined(METHODS, REFERENCES), "method")]  # a record's method: a merge or a reference


def _order(names: list[str]) -> dict[str, int]:
    return {name: i for i, name in enumerate(names)}


def dataset_order() -> dict[str, int]:
    return _order(list(DATASETS))


def method_order() -> dict[str, int]:
    """Merge methods in catalog order, then the references."""
    return _order([*METHODS, *REFERENCES])


def attack_order() -> dict[str, int]:
    return _order(list(ATTACKS))


def method_label(name: str) -> str:
    return METHODS[name].display if name in METHODS else REFERENCES[name]

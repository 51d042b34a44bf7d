"""The names the suite knows, in one place: datasets, merge methods and attacks.

Configs, CLI choices, store records and reports all read their names, display labels, metrics and orders from
here. Adding a dataset, a merge method or an attack is one entry below (methods: in `merges.catalog`, which the
merge library reads on its own and which is re-exported here) plus its implementation; the README's "Adding a
dataset, a method or an attack" says where each implementation goes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Literal

from pydantic import AfterValidator

from merges.catalog import COMBINING, METHODS, SPARSIFYING, MethodEntry, known_method

__all__ = [
    "ATTACKS",
    "ATTACK_SETTINGS",
    "COMBINING",
    "DATASETS",
    "METHODS",
    "REFERENCES",
    "SPARSIFYING",
    "AttackEntry",
    "AttackName",
    "DatasetEntry",
    "DatasetName",
    "MethodEntry",
    "MethodName",
    "MetricName",
    "ModelKind",
    "RecordSearch",
    "SearchName",
    "attack_order",
    "dataset_order",
    "known",
    "method_label",
    "method_order",
]

MetricName = Literal["accuracy", "mcc"]


@dataclass(frozen=True)
class DatasetEntry:
    """A classification task: its labels in label-id order and the metric its tables report."""

    name: str  # as configs and records spell it
    display: str  # as reports spell it
    metric: MetricName
    label_words: tuple[str, ...]  # index = label id; what prompts ask for and score mode compares
    attack_protected: tuple[str, ...] = ()  # words attacks leave alone besides the label words (PromptBench's)


@dataclass(frozen=True)
class AttackEntry:
    """An adversarial prompt attack (PromptBench's recipes)."""

    name: str
    display: str
    # Searches in which the attack seed changes the attack itself, not only which rows a study attacks
    # (robustness.attacks.recipes.seed_changes_attack).
    seeded_searches: frozenset[str] = field(default_factory=frozenset)
    record_search: str | None = None  # the search it always runs, whatever the config's `search` says
    settings: frozenset[str] = field(default_factory=frozenset)  # the attack config's keys of ATTACK_SETTINGS it reads


# The keys of a study's attack entry that tune one attack; setting one the attack does not read is an error.
ATTACK_SETTINGS = frozenset({"search", "levenshtein", "masked_lm", "similarity_encoder", "candidates"})
SEARCHES = ("greedy", "paper")  # the config's `search`: the fast default, or PromptBench's own recipe
SearchName = Literal["greedy", "paper"]
RecordSearch = Literal["greedy", "paper", "brute-force"]

DATASETS: dict[str, DatasetEntry] = {
    e.name: e
    for e in (
        DatasetEntry("sst2", "SST-2", "accuracy", ("negative", "positive"), attack_protected=("0", "1")),
        DatasetEntry("cola", "CoLA", "mcc", ("unacceptable", "acceptable")),
    )
}

ATTACKS: dict[str, AttackEntry] = {
    e.name: e
    for e in (
        AttackEntry(
            "deepwordbug",
            "DeepWordBug",
            seeded_searches=frozenset(SEARCHES),
            settings=frozenset({"search", "levenshtein"}),
        ),
        AttackEntry(
            "bertattack",
            "BERTAttack",
            seeded_searches=frozenset({"paper"}),
            settings=frozenset({"search", "masked_lm", "similarity_encoder", "candidates"}),
        ),
        AttackEntry("stresstest", "StressTest", record_search="brute-force"),
    )
}

# What a result's model is when it is not a merge: the base and the fine-tuned experts (the reference rows).
REFERENCES: dict[str, str] = {"base": "Base", "expert": "Expert"}


def known(table: Mapping[str, object], what: str) -> AfterValidator:
    """A pydantic validator that accepts the names in `table` and names the known ones otherwise."""

    def check(name: str) -> str:
        if name not in table:
            raise ValueError(f"unknown {what} {name!r}; use one of {', '.join(table)}")
        return name

    return AfterValidator(check)


DatasetName = Annotated[str, known(DATASETS, "dataset")]
AttackName = Annotated[str, known(ATTACKS, "attack")]
MethodName = Annotated[str, AfterValidator(known_method)]
ModelKind = Annotated[str, known({**METHODS, **REFERENCES}, "method")]  # a record's method: a merge or a reference


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

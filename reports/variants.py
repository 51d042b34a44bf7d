"""Which model stands for each row of the report, and what the row is called.

A row is a variant: a merge method with or without M3 for one expert pair, or a reference model (base, expert).
Several M3 candidates exist per configured method (one per lambda draw); the report's tables use only the one
that lambda selection carried forward (chosen on the selection split), while the lambda curves show them all. A
selection is made per pair and configured method name, so a config with two settings of one method (two TIES
variants) has two choices, each reported against its own plain merge.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import pandas as pd

from robustness import catalog
from robustness.experiment.planning.models import plain_model_id

V = TypeVar("V")


class _Live(Mapping[str, V]):
    """A table read from the catalog at each use, so a method or attack registered later is in it."""

    def __init__(self, build: Callable[[], dict[str, V]]) -> None:
        self._build = build

    def __getitem__(self, key: str) -> V:
        return self._build()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._build())

    def __len__(self) -> int:
        return len(self._build())


# Orders and labels of the report's rows and columns, from the catalog (live: registered extensions included).
METHOD_ORDER: Mapping[str, int] = _Live(catalog.method_order)
METHOD_LABEL: Mapping[str, str] = _Live(lambda: {name: catalog.method_label(name) for name in catalog.method_order()})
REFERENCE_METHODS = frozenset(catalog.REFERENCES)
DATASET_LABEL = {name: entry.display for name, entry in catalog.DATASETS.items()}
ATTACK_ORDER: Mapping[str, int] = _Live(catalog.attack_order)
ATTACK_LABEL: Mapping[str, str] = _Live(lambda: {name: entry.display for name, entry in catalog.ATTACKS.items()})
METRIC_LABEL = {"accuracy": "Acc", "mcc": "MCC"}


def variant_label(method: str, m3: bool, model_id: str, named: bool = False, setting: str | None = None) -> str:
    """'Task Arithmetic', 'Task Arithmetic + M3'; where one label would cover several models (reference models, or a
    method run with several settings) the configured setting's name is added, or the model id where it is unknown."""
    if method in REFERENCE_METHODS or named:
        return f"{METHOD_LABEL[method]} ({setting or model_id})" + (" + M3" if m3 else "")
    return METHOD_LABEL[method] + (" + M3" if m3 else "")


def variant_fields(pair: str, variant: str, group: pd.DataFrame) -> dict[str, object]:
    """The columns that say which model a summary row stands for (every row of `group` is that variant)."""
    return {
        "pair": pair,
        "variant": variant,
        "method": group["method"].iloc[0],
        "m3": bool(group["m3"].iloc[0]),
        "model_id": ";".join(sorted(set(group["model_id"]))),
    }


@dataclass(frozen=True)
class Choice:
    """One lambda selection: the M3 candidate carried forward for one configured method of one pair."""

    pair: str
    method: str  # the method's type (ties, dare, ...)
    setting: str | None  # its configured name (two TIES settings are two names); None where the store lacks it
    model_id: str  # the candidate carried forward

    @property
    def plain_model_id(self) -> str | None:
        """The plain merge of the same setting, which the runner evaluates beside the chosen candidate."""
        return None if self.setting is None else plain_model_id(self.pair, self.setting)


def recorded_setting(record: Any) -> str | None:
    """The configured method a selection record was made for: its unit's `method` input (two TIES settings are two
    names); None where the store does not say."""
    inputs = getattr(record, "inputs", None)
    setting = inputs.get("method") if isinstance(inputs, dict) else None
    return str(setting) if setting else None


def chosen_models(selection: pd.DataFrame) -> list[Choice]:
    """Every selection record, with the configured method it was made for (the selection unit's `method` input)."""
    return [
        Choice(str(r.pair), str(r.method), recorded_setting(r), str(r.chosen_model_id))
        for r in selection.sort_values("key").itertuples(index=False)
    ]


def carried_forward(frame: pd.DataFrame, chosen: Sequence[Choice], warnings: list[str] | None = None) -> pd.DataFrame:
    """Rows of plain and reference models, and of the selected M3 candidates, with `variant` and `setting` columns.

    Every selection keeps its own candidate, so two settings of one method keep two. Without a selection record a
    method's M3 rows are kept only if they come from a single model (nothing to choose from); otherwise they are
    left out and a warning says so. `setting` is the configured method a merged row belongs to (None for
    reference models and where the store does not say): what M3 is compared against (`reports.effects`).
    """
    if frame.empty:
        return frame.assign(variant=pd.Series(dtype=str), order=pd.Series(dtype=int), setting=pd.Series(dtype=object))
    m3 = frame["m3"].astype(bool)
    keep = ~m3
    chosen_ids = {c.model_id for c in chosen}
    for (pair, method), group in frame[m3].groupby(["pair", "method"], sort=True):
        picked = group["model_id"].isin(chosen_ids)
        if picked.any():
            keep |= frame.index.isin(group.index[picked])
        elif group["model_id"].nunique() == 1:
            keep |= frame.index.isin(group.index)
        elif warnings is not None:
            warnings.append(
                f"{pair} {METHOD_LABEL[method]} + M3: {group['model_id'].nunique()} candidates and no selection "
                "record; its M3 results are left out of the tables"
            )
    out = frame[keep].copy()
    setting_of = {c.model_id: c.setting for c in chosen}
    setting_of.update({c.plain_model_id: c.setting for c in chosen if c.plain_model_id is not None})
    # dtype=object: a list of strings and Nones would otherwise become a string column whose Nones read as NaN,
    # a truthy float that named every reference model "nan" and pooled the two experts into one row.
    out["setting"] = pd.Series([setting_of.get(i) if m not in REFERENCE_METHODS else None
                                for i, m in zip(out["model_id"], out["method"], strict=True)],
                               index=out.index, dtype=object)  # fmt: skip
    models = out.groupby(["pair", "method", "m3"])["model_id"].transform("nunique")
    out["variant"] = [
        variant_label(m, bool(x), i, named=k > 1, setting=s)
        for m, x, i, k, s in zip(out["method"], out["m3"], out["model_id"], models, out["setting"], strict=True)
    ]
    out["order"] = [METHOD_ORDER[m] * 2 + int(bool(x)) for m, x in zip(out["method"], out["m3"], strict=True)]
    return out

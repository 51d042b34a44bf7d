"""Which model stands for each row of the report, and what the row is called.

A row is a variant: a merge method with or without M3 for one expert pair, or a reference model (base, expert).
Several M3 candidates exist per method (one per lambda draw); the report's tables use only the one that lambda
selection carried forward (chosen on the selection split), while the lambda curves show them all.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

METHOD_ORDER = {"average": 0, "task_arithmetic": 1, "ties": 2, "dare": 3, "base": 4, "expert": 5}
METHOD_LABEL = {
    "average": "Average",
    "task_arithmetic": "Task Arithmetic",
    "ties": "TIES",
    "dare": "DARE",
    "base": "Base",
    "expert": "Expert",
}
REFERENCE_METHODS = frozenset({"base", "expert"})
DATASET_LABEL = {"sst2": "SST-2", "cola": "CoLA"}
ATTACK_ORDER = {"deepwordbug": 0, "bertattack": 1, "stresstest": 2}
ATTACK_LABEL = {"deepwordbug": "DeepWordBug", "bertattack": "BERTAttack", "stresstest": "StressTest"}
METRIC_LABEL = {"accuracy": "Acc", "mcc": "MCC"}


def variant_label(method: str, m3: bool, model_id: str, named: bool = False) -> str:
    """'Task Arithmetic', 'Task Arithmetic + M3'; the model id is added where one label would cover several
    models (reference models, or a plain method run with several settings)."""
    if method in REFERENCE_METHODS or named:
        return f"{METHOD_LABEL[method]} ({model_id})" + (" + M3" if m3 else "")
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


def chosen_models(selection: pd.DataFrame) -> dict[tuple[str, str], str]:
    """(pair, method) -> model_id of the M3 candidate carried forward."""
    return {
        (str(r.pair), str(r.method)): str(r.chosen_model_id)
        for r in selection.sort_values("key").itertuples(index=False)
    }


def carried_forward(
    frame: pd.DataFrame, chosen: Mapping[tuple[str, str], str], warnings: list[str] | None = None
) -> pd.DataFrame:
    """Rows of plain and reference models, and of the selected M3 candidate, with a `variant` column.

    Without a selection record a method's M3 rows are kept only if they come from a single model (nothing to
    choose from); otherwise they are left out and a warning says so.
    """
    if frame.empty:
        return frame.assign(variant=pd.Series(dtype=str), order=pd.Series(dtype=int))
    keep = ~frame["m3"].astype(bool)
    for (pair, method), group in frame[frame["m3"].astype(bool)].groupby(["pair", "method"], sort=True):
        if (pair, method) in chosen:
            keep |= frame.index.isin(group.index[group["model_id"] == chosen[(pair, method)]])
        elif group["model_id"].nunique() == 1:
            keep |= frame.index.isin(group.index)
        elif warnings is not None:
            warnings.append(
                f"{pair} {METHOD_LABEL[method]} + M3: {group['model_id'].nunique()} candidates and no selection "
                "record; its M3 results are left out of the tables"
            )
    out = frame[keep].copy()
    models = out.groupby(["pair", "method", "m3"])["model_id"].transform("nunique")
    out["variant"] = [
        variant_label(m, bool(x), i, named=k > 1)
        for m, x, i, k in zip(out["method"], out["m3"], out["model_id"], models, strict=True)
    ]
    out["order"] = [METHOD_ORDER[m] * 2 + int(bool(x)) for m, x in zip(out["method"], out["m3"], strict=True)]
    return out

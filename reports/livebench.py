"""Out-of-distribution scores (LiveBench): mean score per task for each variant, questions counted."""

from __future__ import annotations

import pandas as pd

from reports.document import Table
from reports.formatting import keys_cell, num
from reports.variants import variant_fields

OOD_COLUMNS = ["pair", "variant", "method", "m3", "model_id", "category", "task", "mean", "n", "unit_keys"]


def ood_frame(livebench: pd.DataFrame) -> pd.DataFrame:
    """One row per (pair, variant, category, task): the question-weighted mean over the variant's records."""
    rows = []
    if len(livebench):
        keys = ["pair", "order", "variant", "category", "task"]
        for (pair, order, variant, category, task), g in livebench.groupby(keys, sort=True):
            n = int(g["n"].sum())
            rows.append(
                {
                    **variant_fields(pair, variant, g),
                    "category": category,
                    "task": task,
                    "mean": float((g["mean"] * g["n"]).sum() / n) if n else None,
                    "n": n,
                    "unit_keys": keys_cell(g["key"]),
                    "order": order,
                }
            )
    frame = pd.DataFrame(rows, columns=[*OOD_COLUMNS, "order"])
    return frame.sort_values(["pair", "order", "variant", "category", "task"]).reset_index(drop=True)


def ood_table(frame: pd.DataFrame) -> Table:
    tasks = sorted({(r.category, r.task) for r in frame.itertuples(index=False)})
    header = ["Pair", "Model"] + [f"{c}/{t}" for c, t in tasks]
    rows = []
    for (pair, _o, variant), g in frame.groupby(["pair", "order", "variant"], sort=True):
        row = [pair, variant]
        for c, t in tasks:
            hit = g[(g.category == c) & (g.task == t)]
            row.append("—" if hit.empty else f"{num(hit.iloc[0]['mean'])} (n={hit.iloc[0]['n']})")
        rows.append(row)
    notes = ["LiveBench scores in [0, 1] by LiveBench's own rules; n = questions."]
    return Table("livebench", "Out-of-distribution scores (LiveBench)", frame[OOD_COLUMNS], header, rows, notes)

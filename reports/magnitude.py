"""Magnitude beside lambda: a method's attacked lambda curve at each scale of its magnitude axis (`methods[i].scales`).

M3's lambda sets the direction of the merge (how the two task vectors are mixed); the scaling sets its magnitude (how
far from the base the merge moves). With `scales` on, every M3 candidate and the plain merge are merged at each
scale and attacked on the curve rows, so the curve points (`reports.attack_curve.curve_points`) of the settings
`name`, `name@s1`, `name@s2`, ... form a grid over (lambda, scale). This module gathers them per configured method
and summarises each scale; the figure puts one line per scale on the clean and the attacked panel.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from reports.document import Table
from reports.formatting import num, value_interval
from reports.table3 import group_label
from robustness.experiment.spec.config import AXIS_MARK

SUMMARY_COLUMNS = [
    "pair", "method", "configured", "scale", "dataset", "attack", "search", "metric_name", "plain_clean",
    "plain_clean_low", "plain_clean_high", "plain_attacked", "plain_attacked_low", "plain_attacked_high",
    "m3_candidates", "m3_clean_mean", "m3_clean_min", "m3_clean_max", "m3_attacked_mean", "m3_attacked_min",
    "m3_attacked_max", "best_attacked_lambda",
]  # fmt: skip


def own_scalings(config: dict[str, Any]) -> dict[str, float]:
    """Configured method name -> the scaling of its own setting, from a stored study config (1.0 where the method
    gives none, as the merge library defaults). Methods without a magnitude axis are left out."""
    out: dict[str, float] = {}
    for method in config.get("methods") or []:
        if isinstance(method, dict) and method.get("scales"):
            name = str(method.get("label") or method.get("method"))
            out[name] = float((method.get("parameters") or {}).get("scaling", 1.0))
    return out


def axis_points(points: pd.DataFrame, scalings: dict[str, float]) -> pd.DataFrame:
    """The curve points of the methods that have a magnitude axis, with the configured method's name and the
    setting's scale (`name@0.5` -> 0.5; the method's own setting -> its scaling). Empty when no method has one."""
    if points.empty or not scalings:
        return points.iloc[:0].assign(configured=pd.Series(dtype=object), scale=pd.Series(dtype=float))
    configured, scales = [], []
    for setting in points["setting"].astype(str):
        name, mark, scale = setting.partition(AXIS_MARK)
        configured.append(name)
        scales.append(float(scale) if mark else scalings.get(name, float("nan")))
    out = points.assign(configured=configured, scale=scales)
    return out[out["configured"].isin(list(scalings))].reset_index(drop=True)


def summary(axis: pd.DataFrame) -> pd.DataFrame:
    """One row per (pair, configured method, cell, scale): the plain merge's clean and attacked metric with their
    intervals, and the M3 candidates' mean, lowest and highest clean and attacked metric over the curve."""
    rows = []
    cell = ["pair", "configured", "dataset", "attack", "search", "scale"]
    for (pair, configured, dataset, attack, search, scale), g in axis.groupby(cell, sort=False):
        plain = g[~g["m3"].astype(bool)]
        m3 = g[g["m3"].astype(bool)]
        p = plain.iloc[0] if len(plain) else None
        attacked = m3["attacked"].dropna()
        best = m3.loc[attacked.idxmax(), "lambda"] if len(attacked) else None
        rows.append(
            {
                "pair": pair,
                "method": g["method"].iloc[0],
                "configured": configured,
                "scale": scale,
                "dataset": dataset,
                "attack": attack,
                "search": search,
                "metric_name": g["metric_name"].iloc[0],
                **{
                    f"plain_{q}{suffix}": None if p is None else p[f"{q}{suffix}"]
                    for q in ("clean", "attacked")
                    for suffix in ("", "_low", "_high")
                },
                "m3_candidates": len(m3),
                **{
                    f"m3_{q}_{stat}": (getattr(m3[q].dropna(), stat)() if m3[q].notna().any() else None)
                    for q in ("clean", "attacked")
                    for stat in ("mean", "min", "max")
                },
                "best_attacked_lambda": best,
            }
        )
    frame = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    return frame.sort_values(["pair", "configured", "dataset", "attack", "search", "scale"], kind="stable").reset_index(
        drop=True
    )


def _range(mean: Any, low: Any, high: Any) -> str:
    return "" if mean is None or pd.isna(mean) else f"{num(mean)} ({num(low)} – {num(high)})"


def magnitude_table(frame: pd.DataFrame) -> Table:
    header = ["Pair", "Method", "Cell", "Scale", "Plain clean [95% CI]", "Plain attacked [95% CI]", "M3 candidates",
              "M3 clean: mean (min – max)", "M3 attacked: mean (min – max)", "λ of the best attacked"]  # fmt: skip
    show_search = frame["search"].nunique() > 1 if len(frame) else False
    rows = [
        [
            r["pair"],
            r["configured"],
            group_label(r["dataset"], r["attack"], r["search"], show_search),
            f"{r['scale']:g}",
            value_interval(r["plain_clean"], r["plain_clean_low"], r["plain_clean_high"]),
            value_interval(r["plain_attacked"], r["plain_attacked_low"], r["plain_attacked_high"]),
            str(r["m3_candidates"]),
            _range(r["m3_clean_mean"], r["m3_clean_min"], r["m3_clean_max"]),
            _range(r["m3_attacked_mean"], r["m3_attacked_min"], r["m3_attacked_max"]),
            num(r["best_attacked_lambda"]),
        ]
        for r in frame.to_dict("records")
    ]
    notes = [
        "Each scale is the task vectors' scaling of the merge (Task Arithmetic's `scaling`); the method's own scale "
        "is the one the other tables use. Every M3 candidate (all α × draws, the same λ draws at every scale) and "
        "the plain merge are attacked on the curve rows, so the rows compare across scales and λ; per-point "
        "intervals are in the attacked lambda curve table. The M3 columns summarise the candidates of one scale "
        "over λ: their spread is the effect of the direction, the rows' differences the effect of the magnitude.",
        "λ of the best attacked: the candidate with the highest attacked metric on these rows, a pick made on the "
        "rows it reports (optimistic; selection uses its own rows, see the lambda curves table).",
    ]
    return Table("magnitude", "Magnitude beside lambda: each scale's plain merge and M3 candidates", frame, header,
                 rows, notes)  # fmt: skip


def figure_name(pair: str, configured: str) -> str:
    """The file stem of one method's magnitude figure: `magnitude_sst2_cola_task_arithmetic`."""
    return "magnitude_" + re.sub(r"[^A-Za-z0-9]+", "_", f"{pair}_{configured}").strip("_").lower()

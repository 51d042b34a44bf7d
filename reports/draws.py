"""M3 as a random procedure: how a merge's scores spread over the draws of lambda at one alpha (`m3.draws` > 1).

M3 as the paper runs it draws lambda ~ Beta(alpha, alpha) once per merge, so at a given alpha a user gets one
random draw. This summary puts that distribution (mean, standard deviation, worst and best over the draws) next to
the draw that selection would pick at that alpha and next to the plain merge, on the same rows:

- the selection rows (always): every candidate is scored there; the selected draw's value is optimistic by
  construction there (it was picked on those rows), and the plain merge is not scored there;
- the curve rows (with the attacked lambda curve on): a sample of the report rows, disjoint from the selection
  rows, where every draw, the selected one and the plain merge were attacked alike; clean and attacked metric.

Pure arithmetic on the selection records and the curve's points (`reports.attack_curve.curve_points`). The spread is
over draws on fixed rows, so it does not include row sampling; with 2-3 draws it is a rough estimate and no test is
made on it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from reports.attack_curve import method_text
from reports.document import Table
from reports.formatting import num
from reports.table3 import DATASET_ORDER, group_label
from reports.variants import DATASET_LABEL, METRIC_LABEL, recorded_setting
from robustness.metrics import metric_for

DRAW_COLUMNS = [
    "pair", "method", "setting", "alpha", "rows", "dataset", "attack", "search", "quantity", "metric_name",
    "n_draws", "mean", "sd", "worst", "best", "values", "selected_draw", "selected_model_id", "selected_value",
    "selected_is_chosen", "plain_value",
]  # fmt: skip


@dataclass(frozen=True)
class Spread:
    """A quantity over the draws at one alpha (higher is better: a clean or attacked metric)."""

    n: int
    mean: float
    sd: float | None  # sample standard deviation (divisor n - 1); None with one draw
    worst: float
    best: float


def spread(values: Sequence[float]) -> Spread:
    if not values:
        raise ValueError("no draws to summarise")
    n = len(values)
    mean = math.fsum(values) / n
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else None
    return Spread(n, mean, sd, min(values), max(values))


def _score(candidate: dict[str, Any]) -> float:
    """What selection ranked a candidate by (stores without a score: its mean metric, the older criterion)."""
    score = candidate.get("score")
    if score is not None:
        return float(score)
    metrics = [float(v) for v in candidate["metrics"].values()]
    return math.fsum(metrics) / len(metrics)


def by_alpha(candidates: Sequence[dict[str, Any]]) -> dict[float, list[dict[str, Any]]]:
    """A selection record's candidates grouped by alpha, in the order listed."""
    out: dict[float, list[dict[str, Any]]] = {}
    for cand in candidates:
        if cand.get("alpha") is not None:
            out.setdefault(float(cand["alpha"]), []).append(cand)
    return out


def selected_draw(candidates: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The candidate selection ranks highest among `candidates` (one alpha's draws), as selection itself breaks
    ties: the first listed."""
    return max(enumerate(candidates), key=lambda ic: (_score(ic[1]), -ic[0]))[1]


def draw_frame(selection: pd.DataFrame, points: pd.DataFrame) -> pd.DataFrame:
    """One row per (pair, method, alpha with two or more draws, rows, cell, quantity)."""
    rows: list[dict[str, Any]] = []
    records = selection.sort_values("key").itertuples(index=False) if len(selection) else []
    for rec in records:
        setting = recorded_setting(rec) or str(rec.method)
        head = {"pair": rec.pair, "method": rec.method, "setting": setting}
        for alpha, draws in by_alpha(rec.candidates).items():
            if len(draws) < 2:
                continue
            pick = selected_draw(draws)
            picked = {"selected_draw": pick.get("draw"), "selected_model_id": pick["model_id"],
                      "selected_is_chosen": pick["model_id"] == rec.chosen_model_id}  # fmt: skip
            for dataset in sorted(draws[0]["metrics"], key=lambda d: (DATASET_ORDER.get(d, 9), d)):
                values = [float(c["metrics"][dataset]) for c in draws if dataset in c["metrics"]]
                cell = {"rows": "selection", "dataset": dataset, "attack": "", "search": "", "quantity": "clean",
                        "metric_name": metric_for(dataset)}  # fmt: skip
                rows.append(_row(head, alpha, cell, values, picked, float(pick["metrics"][dataset]), None))
            rows += _curve_rows(head, alpha, draws, picked, points)
    return pd.DataFrame(rows, columns=DRAW_COLUMNS)


def _curve_rows(head: dict[str, Any], alpha: float, draws: list[dict[str, Any]], picked: dict[str, Any],
                points: pd.DataFrame) -> list[dict[str, Any]]:  # fmt: skip
    """The draws' clean and attacked metric on the curve rows, beside the selected draw's and the plain merge's."""
    if points.empty:
        return []
    ids = [str(c["model_id"]) for c in draws]
    mine = points[(points.pair == head["pair"]) & (points.setting == head["setting"])]
    out = []
    for (dataset, attack, search), g in mine.groupby(["dataset", "attack", "search"], sort=False):
        found = g[g.model_id.isin(ids)]
        if len(found) < 2:
            continue
        plain = g[~g.m3.astype(bool)]
        chosen = found[found.model_id == picked["selected_model_id"]]
        for quantity in ("clean", "attacked"):
            cell = {"rows": "curve", "dataset": dataset, "attack": attack, "search": search, "quantity": quantity,
                    "metric_name": g["metric_name"].iloc[0]}  # fmt: skip
            selected = float(chosen[quantity].iloc[0]) if len(chosen) else None
            plain_value = float(plain[quantity].iloc[0]) if len(plain) else None
            out.append(_row(head, alpha, cell, [float(v) for v in found[quantity]], picked, selected, plain_value))
    return out


def _row(head: dict[str, Any], alpha: float, cell: dict[str, Any], values: list[float], picked: dict[str, Any],
         selected: float | None, plain: float | None) -> dict[str, Any]:  # fmt: skip
    s = spread(values)
    return {**head, "alpha": alpha, **cell, "n_draws": s.n, "mean": s.mean, "sd": s.sd, "worst": s.worst,
            "best": s.best, "values": ";".join(f"{v:.6f}" for v in values), **picked, "selected_value": selected,
            "plain_value": plain}  # fmt: skip


def draws_table(frame: pd.DataFrame) -> Table:
    header = ["Pair", "Method", "α", "Rows", "Cell", "Quantity", "n draws", "Random draw: mean", "sd", "worst",
              "best", "Selected draw", "Plain"]  # fmt: skip
    show_search = frame["search"].replace("", pd.NA).dropna().nunique() > 1 if len(frame) else False
    rows = []
    for r in frame.to_dict("records"):
        cell = (
            DATASET_LABEL.get(r["dataset"], r["dataset"])
            if r["rows"] == "selection"
            else group_label(r["dataset"], r["attack"], r["search"], show_search)
        )
        metric = METRIC_LABEL.get(r["metric_name"], r["metric_name"])
        selected = num(r["selected_value"])
        if r["selected_value"] is not None and not pd.isna(r["selected_value"]):
            draw = (
                "" if r["selected_draw"] is None or pd.isna(r["selected_draw"]) else f"draw {int(r['selected_draw'])}"
            )
            selected += f" ({draw}{', carried forward' if r['selected_is_chosen'] else ''})"
        rows.append(
            [
                r["pair"],
                method_text(r["method"], r["setting"]),
                f"{r['alpha']:g}",
                r["rows"],
                cell,
                f"{r['quantity']} {metric}",
                str(r["n_draws"]),
                num(r["mean"]),
                num(r["sd"]),
                num(r["worst"]),
                num(r["best"]),
                selected,
                num(r["plain_value"]),
            ]
        )
    return Table("m3_draws", "M3 as a random procedure: spread over the draws at each α", frame, header, rows,
                 DRAW_NOTES)  # fmt: skip


DRAW_NOTES = [
    "Random draw: M3 as the paper runs it, one λ ~ Beta(α, α) per merge. Mean, standard deviation (divisor n − 1), "
    "worst and best over the n draws at this α, all on the same rows. The spread is over draws on fixed rows, so it "
    "leaves out row sampling (the attacked lambda curve's intervals show that). With 2-3 draws the standard "
    "deviation is a rough estimate (its relative standard error is about 1/√(2(n − 1)): 71% at 2 draws, 50% at 3) "
    "and no test is made on it.",
    "Selected draw: the draw at this α that selection ranks highest by its criterion, computed on the selection rows "
    "only; 'carried forward' marks the candidate selection chose over all α. On the selection rows its value is "
    "optimistic by construction (it was picked there); on the curve rows (a sample of the report rows, disjoint "
    "from the selection rows) it compares fairly with a random draw.",
    "Plain: the plain merge of the same method on the same rows; it is not scored on the selection rows (—).",
]

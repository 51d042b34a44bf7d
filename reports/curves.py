"""Lambda curves: every M3 candidate's selection score, and its report-split clean and attacked scores if run.

The selection record keeps the whole curve, not only the winner, so a reader can see how much the choice of lambda
matters and whether the winner was an outlier. The x axis is the first model's weight (lambda_1); with per-block
M3 that is the first block's lambda.
"""

from __future__ import annotations

import pandas as pd

from reports.document import Table
from reports.formatting import MISSING, keys_cell, num
from reports.table3 import DATASET_ORDER
from reports.variants import DATASET_LABEL, METHOD_LABEL, METHOD_ORDER, recorded_setting


def method_text(method: str, setting: str) -> str:
    """'Task Arithmetic', or 'TIES (ties-k0.5)' where the configured name is not the method's own."""
    label = METHOD_LABEL.get(method, method)
    return label if setting == method else f"{label} ({setting})"


CURVE_COLUMNS = [
    "pair", "method", "setting", "model_id", "alpha", "draw", "lambda", "chosen", "dataset", "selection_metric",
    "selection_normalised", "selection_score", "selection_attacked", "report_clean", "report_clean_mode",
    "report_attacked", "criterion", "m3_convention", "unit_keys",
]  # fmt: skip


def _report_clean(clean: pd.DataFrame, model_id: str, dataset: str) -> tuple[float | None, str, list[str]]:
    if clean.empty:
        return None, "", []
    rows = clean[(clean.model_id == model_id) & (clean.dataset == dataset) & (clean.split == "report")]
    for mode in ("score", "generate"):
        hit = rows[rows["mode"] == mode]
        if len(hit):
            return float(hit["metric"].mean()), mode, list(hit["key"])
    return None, "", []


def _report_attacked(attacks: pd.DataFrame, model_id: str, dataset: str) -> tuple[float | None, list[str]]:
    if attacks.empty:
        return None, []
    hit = attacks[(attacks.model_id == model_id) & (attacks.dataset == dataset)]
    return (float(hit["attacked_metric"].mean()), list(hit["key"])) if len(hit) else (None, [])


def curve_frame(selection: pd.DataFrame, clean: pd.DataFrame, attacks: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for rec in selection.itertuples(index=False):
        setting = recorded_setting(rec) or str(rec.method)  # two TIES settings (or two scales): two curves
        for cand in rec.candidates:
            lambdas = cand.get("lambdas") or []
            for dataset in sorted(cand["metrics"], key=lambda d: (DATASET_ORDER.get(d, 9), d)):
                report_clean, mode, clean_keys = _report_clean(clean, cand["model_id"], dataset)
                report_attacked, attack_keys = _report_attacked(attacks, cand["model_id"], dataset)
                attacked_sel = (cand.get("attacked_metrics") or {}).get(dataset)
                rows.append(
                    {
                        "pair": rec.pair,
                        "method": rec.method,
                        "setting": setting,
                        "model_id": cand["model_id"],
                        "alpha": cand.get("alpha"),
                        "draw": cand.get("draw"),
                        "lambda": float(lambdas[0]) if lambdas else None,
                        "chosen": cand["model_id"] == rec.chosen_model_id,
                        "dataset": dataset,
                        "selection_metric": float(cand["metrics"][dataset]),
                        "selection_normalised": (cand.get("normalised") or {}).get(dataset),
                        "selection_score": cand.get("score"),
                        "selection_attacked": attacked_sel,
                        "report_clean": report_clean,
                        "report_clean_mode": mode,
                        "report_attacked": report_attacked,
                        "criterion": rec.criterion,
                        "m3_convention": rec.m3_convention or "",
                        "unit_keys": keys_cell([rec.key, *clean_keys, *attack_keys]),
                    }
                )
    frame = pd.DataFrame(rows, columns=CURVE_COLUMNS)
    if len(frame):
        frame["_m"] = frame["method"].map(METHOD_ORDER)
        frame["_d"] = frame["dataset"].map(lambda d: DATASET_ORDER.get(d, 9))
        frame["_l"] = frame["lambda"].fillna(-1.0)
        frame = frame.sort_values(["pair", "_m", "setting", "_l", "model_id", "_d"]).drop(columns=["_m", "_d", "_l"])
    return frame.reset_index(drop=True)


def curve_table(frame: pd.DataFrame) -> Table:
    header = ["Pair", "Method", "Candidate", "α", "λ", "Chosen", "Dataset", "Selection", "Normalised gain",
              "Criterion", "Report clean", "Report attacked"]  # fmt: skip
    rows = [
        [
            r["pair"],
            method_text(r["method"], r["setting"]),
            r["model_id"],
            MISSING if pd.isna(r["alpha"]) else f"{r['alpha']:g}",
            num(r["lambda"]),
            "yes" if r["chosen"] else "",
            DATASET_LABEL.get(r["dataset"], r["dataset"]),
            num(r["selection_metric"]),
            num(r["selection_normalised"]),
            num(r["selection_score"]),
            num(r["report_clean"]),
            num(r["report_attacked"]),
        ]
        for r in frame.to_dict("records")
    ]
    notes = [
        "Selection: clean metric on the selection split. Normalised gain: (merged - base) / (best expert - base) on "
        "those rows, 1 = the task's expert, 0 = the base. Criterion: what ranked the candidates (the config's "
        "eval.selection; for normalised_gain the mean normalised gain over the datasets), highest chosen. Report "
        "clean / attacked: the same candidate on the report split, where it was evaluated (attacked: mean over "
        "attacks and seeds).",
    ]
    return Table("lambda_curves", "Lambda curves of the M3 candidates", frame, header, rows, notes)

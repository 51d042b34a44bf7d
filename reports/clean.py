"""Clean scores (selection and report splits side by side, never mixed), score/generate agreement, split overlap."""

from __future__ import annotations

import pandas as pd

from reports.document import Table
from reports.formatting import keys_cell, num, sorted_columns
from reports.table3 import DATASET_ORDER
from reports.variants import DATASET_LABEL, METHOD_LABEL, METRIC_LABEL, variant_fields

AGREEMENT_WARN = 0.95  # below this, score mode is not a faithful stand-in for generated answers (attacks.md)
SPLIT_ORDER = {"selection": 0, "report": 1}
CLEAN_COLUMNS = [
    "pair", "variant", "method", "m3", "model_id", "mode", "dataset", "split", "metric_name", "metric", "accuracy",
    "n", "prompts", "unit_keys",
]  # fmt: skip
AGREEMENT_COLUMNS = [
    "pair", "model_id", "method", "m3", "dataset", "split", "agreement", "source", "prompts", "below_threshold",
    "unit_keys",
]  # fmt: skip


def clean_cells(clean: pd.DataFrame) -> pd.DataFrame:
    """One row per (pair, variant, mode, dataset, split): mean over prompts, samples summed."""
    if clean.empty:
        return pd.DataFrame(columns=[*CLEAN_COLUMNS, "order"])
    rows = []
    for (pair, order, variant, mode, dataset, split), g in clean.groupby(
        ["pair", "order", "variant", "mode", "dataset", "split"], sort=True
    ):
        rows.append(
            {
                **variant_fields(pair, variant, g),
                "mode": mode,
                "dataset": dataset,
                "split": split,
                "metric_name": g["metric_name"].iloc[0],
                "metric": float(g["metric"].mean()),
                "accuracy": float(g["accuracy"].mean()),
                "n": int(g["n"].sum()),
                "prompts": ";".join(sorted(set(g["prompt"]))),
                "unit_keys": keys_cell(g["key"]),
                "order": order,
            }
        )
    return pd.DataFrame(rows)


def clean_table(cells: pd.DataFrame) -> Table:
    groups = sorted(
        {(r.dataset, r.split, r.metric_name) for r in cells.itertuples(index=False)},
        key=lambda g: (DATASET_ORDER.get(g[0], 9), g[0], SPLIT_ORDER.get(g[1], 9)),
    )
    header = ["Pair", "Method", "M3", "Mode"]
    header += [f"{DATASET_LABEL.get(d, d)} {METRIC_LABEL.get(m, m)} ({s})" for d, s, m in groups]
    rows = []
    if len(cells):
        for (pair, _o, variant, mode), g in cells.groupby(["pair", "order", "variant", "mode"], sort=True):
            row = [pair, variant.removesuffix(" + M3"), "yes" if bool(g["m3"].iloc[0]) else "no", mode]
            for d, s, _m in groups:
                hit = g[(g.dataset == d) & (g.split == s)]
                row.append("—" if hit.empty else f"{num(hit.iloc[0].metric)} (n={hit.iloc[0].n})")
            rows.append(row)
    data = sorted_columns(cells, ["pair", "order", "variant", "mode", "dataset", "split"], CLEAN_COLUMNS)
    notes = [
        "The selection split chose the M3 candidate; the report split is the one every other table reports. "
        "They are kept in separate columns and never pooled.",
    ]
    return Table("clean", "Clean scores by split", data, header, rows, notes)


def _agreement_of(group: pd.DataFrame) -> tuple[float | None, str]:
    stored = [a for a in group["agreement"] if a is not None and not pd.isna(a)]
    if stored:
        return float(sum(stored) / len(stored)), "stored"
    modes = {m: g for m, g in group.groupby("mode")}
    if {"score", "generate"} <= set(modes):
        s, gen = modes["score"].iloc[0], modes["generate"].iloc[0]
        score_by_index = dict(zip(s["indices"], s["predictions"], strict=True))
        common = [(score_by_index[i], p) for i, p in zip(gen["indices"], gen["predictions"], strict=True)
                  if i in score_by_index]  # fmt: skip
        if common:
            return sum(a == b for a, b in common) / len(common), "computed"
    return None, ""


def agreement_frame(clean: pd.DataFrame) -> pd.DataFrame:
    """Score/generate agreement per model, dataset and split (all models, M3 candidates included)."""
    rows = []
    if len(clean):
        by = ["pair", "model_id", "dataset", "split"]
        for (pair, model_id, dataset, split), g in clean.groupby(by, sort=True):
            values, sources, prompts = [], set(), []
            for prompt, gp in g.groupby("prompt", sort=True):
                value, source = _agreement_of(gp)
                if value is not None:
                    values.append(value)
                    sources.add(source)
                    prompts.append(str(prompt))
            if not values:
                continue
            agreement = sum(values) / len(values)
            rows.append(
                {
                    "pair": pair,
                    "model_id": model_id,
                    "method": g["method"].iloc[0],
                    "m3": bool(g["m3"].iloc[0]),
                    "dataset": dataset,
                    "split": split,
                    "agreement": agreement,
                    "source": ";".join(sorted(sources)),
                    "prompts": ";".join(prompts),
                    "below_threshold": agreement < AGREEMENT_WARN,
                    "unit_keys": keys_cell(g["key"]),
                }
            )
    return pd.DataFrame(rows, columns=AGREEMENT_COLUMNS)


def agreement_table(frame: pd.DataFrame) -> Table:
    header = ["Pair", "Model", "Method", "M3", "Dataset", "Split", "Agreement", "Warning"]
    rows = [
        [
            r.pair,
            r.model_id,
            METHOD_LABEL.get(r.method, r.method),
            "yes" if r.m3 else "no",
            DATASET_LABEL.get(r.dataset, r.dataset),
            r.split,
            f"{100 * r.agreement:.1f}%",
            f"below {AGREEMENT_WARN:.0%}" if r.below_threshold else "",
        ]
        for r in frame.itertuples(index=False)
    ]
    notes = [
        "Fraction of clean rows where next-token scoring and generated answers give the same label. Below "
        f"{AGREEMENT_WARN:.0%}, score-mode numbers are not a faithful stand-in for the model's answers.",
    ]
    return Table("agreement", "Score/generate agreement per model", frame, header, rows, notes)


def agreement_warnings(frame: pd.DataFrame) -> list[str]:
    return [
        f"score/generate agreement of {r.model_id} on {DATASET_LABEL.get(r.dataset, r.dataset)} ({r.split}) is "
        f"{100 * r.agreement:.1f}%, below {AGREEMENT_WARN:.0%}"
        for r in frame.itertuples(index=False)
        if r.below_threshold
    ]


def split_overlap(clean: pd.DataFrame) -> dict[str, int]:
    """Per dataset: how many sample indices appear in both the selection and the report split (should be 0)."""
    out: dict[str, int] = {}
    if clean.empty:
        return out
    for dataset, g in clean.groupby("dataset", sort=True):
        sel = {i for idx in g[g.split == "selection"]["indices"] for i in idx}
        rep = {i for idx in g[g.split == "report"]["indices"] for i in idx}
        if sel and rep:
            out[str(dataset)] = len(sel & rep)
    return out

"""Table 3 of the paper: attacked metric and PDR per dataset and attack, each method with and without M3.

A cell averages one variant's attack results over replicates (prompt x attack seed): the attacked metric is the
mean of the per-seed attacked metrics; PDR is the mean of the per-seed PDRs and is undefined when any seed's clean
metric is <= 0 (then the absolute drop is shown instead, as attacks.md asks). A mean over seeds is undefined when
any seed's value is missing, never a mean over the seeds that have one. Every cell keeps the unit keys it was
computed from, the number of seeds, samples per seed and distinct rows (seeds share rows, so seeds x samples
overstates the data), whether the seeds were attack seeds, and which generator and similarity encoder made the
attack.
"""

from __future__ import annotations

import pandas as pd

from reports.document import Table
from reports.formatting import keys_cell, mean_of_all, num, per_seed, sorted_columns
from reports.variants import ATTACK_LABEL, ATTACK_ORDER, DATASET_LABEL, METRIC_LABEL
from robustness import catalog
from robustness.attacks.recipes import seed_changes_attack

DATASET_ORDER = catalog.dataset_order()
CELL_COLUMNS = [
    "pair", "variant", "method", "m3", "model_id", "m3_convention", "dataset", "attack", "search", "metric_name",
    "clean_metric", "attacked_metric", "pdr", "absolute_drop", "n_seeds", "n_samples", "samples_per_seed", "n_rows",
    "attack_seeds", "prompts", "generator", "similarity_encoder", "unit_keys",
]  # fmt: skip


def _joined(values: pd.Series) -> str:
    return ";".join(sorted({str(v) for v in values if v is not None and not pd.isna(v)}))


def attack_cells(attacks: pd.DataFrame) -> pd.DataFrame:
    """One row per (pair, variant, dataset, attack, search) from carried-forward attack rows."""
    if attacks.empty:
        return pd.DataFrame(columns=[*CELL_COLUMNS, "order"])
    rows = []
    keys = ["pair", "order", "variant", "dataset", "attack", "search"]
    for (pair, order, variant, dataset, attack, search), g in attacks.groupby(keys, sort=True):
        sizes = [len(i) for i in g["indices"]]
        pairs = zip(g["clean_metric"], g["attacked_metric"], strict=True)
        drops = [None if pd.isna(c) or pd.isna(a) else c - a for c, a in pairs]
        rows.append(
            {
                "pair": pair,
                "variant": variant,
                "method": g["method"].iloc[0],
                "m3": bool(g["m3"].iloc[0]),
                "model_id": _joined(g["model_id"]),
                "m3_convention": _joined(g["m3_convention"]),
                "dataset": dataset,
                "attack": attack,
                "search": search,
                "metric_name": _joined(g["metric_name"]),
                "clean_metric": mean_of_all(g["clean_metric"]),
                "attacked_metric": mean_of_all(g["attacked_metric"]),
                "pdr": mean_of_all(g["pdr"]),
                "absolute_drop": mean_of_all(drops),
                "n_seeds": len(g),
                "n_samples": sum(sizes),
                "samples_per_seed": per_seed(sizes),
                "n_rows": len({int(i) for indices in g["indices"] for i in indices}),
                "attack_seeds": seed_changes_attack(str(attack), str(search)),
                "prompts": _joined(g["prompt"]),
                "generator": _joined(g["generator"]),
                "similarity_encoder": _joined(g["similarity_encoder"]),
                "unit_keys": keys_cell(g["key"]),
                "order": order,
            }
        )
    return pd.DataFrame(rows)


def column_groups(cells: pd.DataFrame) -> list[tuple[str, str, str]]:
    """(dataset, attack, search) column groups in the paper's order."""
    groups = {(r.dataset, r.attack, r.search) for r in cells.itertuples(index=False)}
    return sorted(groups, key=lambda g: (DATASET_ORDER.get(g[0], 9), g[0], ATTACK_ORDER.get(g[1], 9), g[1], g[2]))


def group_label(dataset: str, attack: str, search: str, show_search: bool) -> str:
    label = f"{DATASET_LABEL.get(dataset, dataset)} {ATTACK_LABEL.get(attack, attack)}"
    return f"{label} ({search})" if show_search else label


def size_text(cell: pd.Series) -> str:
    """'3×40 (113 rows)': seeds × samples per seed, and the distinct rows behind them; † when seeds only drew rows."""
    mark = "†" if not cell["attack_seeds"] and cell["n_seeds"] > 1 else ""
    return f"{cell['n_seeds']}×{cell['samples_per_seed']}{mark} ({cell['n_rows']} rows)"


def pdr_text(pdr: float | None, drop: float | None) -> str:
    if pdr is None or pd.isna(pdr):
        return f"undef. (drop {num(drop)})"
    return num(pdr)


def table3(cells: pd.DataFrame) -> Table:
    groups = column_groups(cells) if not cells.empty else []
    show_search = len({g[2] for g in groups}) > 1
    metric_of = {}
    for g in groups:
        names = cells[(cells.dataset == g[0]) & (cells.attack == g[1]) & (cells.search == g[2])]["metric_name"]
        metric_of[g] = METRIC_LABEL.get(names.iloc[0], names.iloc[0])
    header = ["Pair", "Method", "M3"]
    for g in groups:
        label = group_label(*g, show_search)
        header += [f"{label} {metric_of[g]}", f"{label} PDR", f"{label} n"]
    rows = []
    if not cells.empty:
        ordered = cells.sort_values(["pair", "order", "variant"])
        for (pair, _order, variant), g in ordered.groupby(["pair", "order", "variant"], sort=True):
            convention = g["m3_convention"].iloc[0]
            m3 = bool(g["m3"].iloc[0])
            row = [
                pair,
                variant.removesuffix(" + M3"),
                (f"yes ({convention})" if convention else "yes") if m3 else "no",
            ]
            for d, a, s in groups:
                hit = g[(g.dataset == d) & (g.attack == a) & (g.search == s)]
                if hit.empty:
                    row += ["—", "—", "—"]
                    continue
                c = hit.iloc[0]
                row += [num(c.attacked_metric), pdr_text(c["pdr"], c["absolute_drop"]), size_text(c)]
            rows.append(row)
    data = sorted_columns(cells, ["pair", "order", "variant", "dataset", "attack", "search"], CELL_COLUMNS)
    notes = [
        "Metric: attacked accuracy (SST-2) or MCC (CoLA), mean over seeds; PDR = (clean - attacked) / clean, mean "
        "over seeds; lower PDR is more robust. PDR is undefined when a clean metric <= 0 (the absolute drop is shown).",
        "n = seeds × samples per seed (distinct rows: seeds draw from the same report rows, so a row can count "
        "more than once). † the attack ignores its seed (StressTest, greedy BERTAttack): its seeds only drew "
        "other rows and are not attack seeds. M3 rows use the candidate chosen on the selection split; the M3 "
        "column names the weighting convention (official or preserve_scale).",
    ]
    return Table("table3", "Table 3: attacked metric and PDR, with and without M3", data, header, rows, notes)

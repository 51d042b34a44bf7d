"""The paired comparisons of a report: M3 vs plain for every method, and each method + M3 vs plain DARE.

Every comparison is one (pair, dataset, attack, search) cell and one quantity (attacked metric or PDR). Its
interval is the joint paired bootstrap over rows of `robustness.stats`; beside it stand two p-values: the
row-level paired permutation test, which enters Holm's correction over all comparisons of the report at once
(both tables together), and the paired test across attack seeds. README, "Reading the statistics", says what
each can and cannot show. Each comparison's streams are seeded from the report seed and the comparison's name,
so results do not depend on row order.

M3 is compared with the plain merge of the same configured setting (the selection's method name), never with
another setting of the same method type.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd

from reports.formatting import interval, keys_cell, mean_of_all, num, pvalue, signed, too_wide
from reports.variants import METHOD_LABEL, REFERENCE_METHODS
from robustness.attacks.recipes import seed_changes_attack
from robustness.stats import ArmRun, compare, derived_seed, holm

QUANTITIES = ("attacked", "pdr")
# The sign of a difference that favours M3 (or, in the DARE table, the method + M3).
FAVOURS_M3 = {"attacked": "positive", "pdr": "negative"}
EFFECT_COLUMNS = [
    "family", "pair", "method", "dataset", "attack", "search", "metric_name", "quantity", "m3_better_if",
    "a_variant", "b_variant", "a_value", "b_value", "estimate", "ci_low", "ci_high", "resamples", "resamples_used",
    "n_rows", "n_seeds", "n_pairs", "attack_seeds", "p_rows", "p_rows_exact", "permutations", "p_seeds",
    "seed_test", "t", "p_wilcoxon", "p_holm", "note", "unit_keys",
]  # fmt: skip


def replicate_name(prompt: str, seed: int) -> str:
    return f"{prompt}/seed={int(seed)}"


def arms(rows: pd.DataFrame) -> dict[str, ArmRun]:
    out: dict[str, ArmRun] = {}
    for r in rows.itertuples(index=False):
        name = replicate_name(r.prompt, r.seed)
        if name in out:
            raise ValueError(f"{r.variant}: two results for replicate {name} ({r.key}); the store is inconsistent")
        out[name] = ArmRun(r.indices, r.labels, r.clean_predictions, r.attacked_predictions)
    return out


def _plain_for(m3: pd.DataFrame, plain: pd.DataFrame, warnings: list[str]) -> Iterator[pd.DataFrame]:
    """The plain variant(s) one M3 variant is compared with: the plain merge of its own setting.

    Where the store does not say which setting a row belongs to, the match falls back to the method type; if that
    is ambiguous (several plain or M3 variants of the type) a warning says so instead of a silent mismatch."""
    setting = m3["setting"].iloc[0] if "setting" in m3 else None
    if setting is not None and not pd.isna(setting):
        own = plain[plain["setting"] == setting] if "setting" in plain else plain.iloc[:0]
        if len(own):
            yield own
            return
    unknown = plain[plain["setting"].isna()] if "setting" in plain else plain
    variants = sorted(set(unknown["variant"]))
    if len(variants) > 1:
        warnings.append(
            f"{m3['pair'].iloc[0]} {m3['variant'].iloc[0]}: the store does not record which plain setting this M3 "
            f"choice belongs to; compared with each of {', '.join(variants)} (matched by method type only)"
        )
    for _, b in unknown.groupby("variant", sort=True):
        yield b


def _pairs(attacks: pd.DataFrame, warnings: list[str]) -> Iterator[tuple[str, str, pd.DataFrame, pd.DataFrame]]:
    """(family, method, arm A rows, arm B rows) for every comparison cell, in a fixed order."""
    cell = ["pair", "dataset", "attack", "search"]
    merged = attacks[~attacks["method"].isin(REFERENCE_METHODS)]
    for _, g in merged.groupby(cell, sort=True):
        m3 = g["m3"].astype(bool)
        for method in sorted(set(g["method"])):
            plain = g[(g.method == method) & ~m3]
            for _, a in g[(g.method == method) & m3].groupby("variant", sort=True):
                for b in _plain_for(a, plain, warnings):
                    yield "m3_vs_plain", method, a, b
        for method in sorted(set(g["method"]) - {"dare"}):
            for _, a in g[(g.method == method) & m3].groupby("variant", sort=True):
                for _, dare in g[(g.method == "dare") & ~m3].groupby("variant", sort=True):
                    yield "m3_vs_dare", method, a, dare


def effects_frame(
    attacks: pd.DataFrame, resamples: int, seed: int, permutations: int = 9999, warnings: list[str] | None = None
) -> pd.DataFrame:
    """All comparisons with intervals, tests and Holm-adjusted p-values (one row per comparison and quantity)."""
    rows = []
    found: list[str] = []
    for family, method, a_rows, b_rows in _pairs(attacks, found):
        first = a_rows.iloc[0]
        metric_name = str(first["metric_name"])
        b_variant = str(b_rows["variant"].iloc[0])
        a_variant = str(a_rows["variant"].iloc[0])
        name = [str(x) for x in (family, first["pair"], method, first["dataset"], first["attack"], first["search"])]
        name.append(b_variant)
        if a_variant != f"{METHOD_LABEL[method]} + M3":
            name.append(a_variant)  # a method with several settings: each M3 choice its own stream
        seeded = seed_changes_attack(str(first["attack"]), str(first["search"]))
        effects = compare(
            arms(a_rows), arms(b_rows), metric_name, resamples, derived_seed(seed, *name),
            permutations=permutations, permutation_seed=derived_seed(seed, "permutation", *name),
            attack_seeds=seeded,
        )  # fmt: skip
        paired = set(arms(a_rows)) & set(arms(b_rows))
        in_a = a_rows[[replicate_name(p, s) in paired for p, s in zip(a_rows.prompt, a_rows.seed, strict=True)]]
        in_b = b_rows[[replicate_name(p, s) in paired for p, s in zip(b_rows.prompt, b_rows.seed, strict=True)]]
        for q in QUANTITIES:
            e = effects[q]
            column = "attacked_metric" if q == "attacked" else "pdr"
            seed_test = e.seed_test
            notes = list(e.notes)
            if seed_test is not None and seed_test.note and e.estimate is not None:
                notes.append(seed_test.note)
            if e.unpaired:
                notes.append(f"unpaired seeds left out: {', '.join(e.unpaired)}")
            rows.append(
                {
                    "family": family,
                    "pair": first["pair"],
                    "method": method,
                    "dataset": first["dataset"],
                    "attack": first["attack"],
                    "search": first["search"],
                    "metric_name": metric_name,
                    "quantity": q,
                    "m3_better_if": FAVOURS_M3[q],
                    "a_variant": a_variant,
                    "b_variant": b_variant,
                    "a_value": mean_of_all(list(in_a[column])),
                    "b_value": mean_of_all(list(in_b[column])),
                    "estimate": e.estimate,
                    "ci_low": e.low,
                    "ci_high": e.high,
                    "resamples": e.resamples,
                    "resamples_used": e.used,
                    "n_rows": e.n_rows,
                    "n_seeds": e.n_seeds,
                    "n_pairs": e.n_pairs,
                    "attack_seeds": seeded,
                    "p_rows": e.p_rows,
                    "p_rows_exact": e.permutation.exact,
                    "permutations": e.permutation.assignments,
                    "p_seeds": e.p_seeds,
                    "seed_test": seed_test.method if seed_test is not None and e.p_seeds is not None else "",
                    "t": seed_test.t if seed_test is not None and e.estimate is not None else None,
                    "p_wilcoxon": seed_test.p_wilcoxon if seed_test is not None and e.estimate is not None else None,
                    "note": "; ".join(notes),
                    "unit_keys": keys_cell([*in_a["key"], *in_b["key"]]),
                }
            )
    if warnings is not None:
        warnings.extend(dict.fromkeys(found))  # one warning per ambiguous match, not one per cell
    frame = pd.DataFrame(rows, columns=[c for c in EFFECT_COLUMNS if c != "p_holm"])
    frame.insert(EFFECT_COLUMNS.index("p_holm"), "p_holm", holm(list(frame["p_rows"])) if len(frame) else [])
    return frame


def quantity_label(quantity: str, metric_name: str) -> str:
    return "PDR" if quantity == "pdr" else f"attacked {'Acc' if metric_name == 'accuracy' else 'MCC'}"


def quantity_cell(quantity: str, metric_name: str) -> str:
    """The quantity with the direction that favours M3: higher attacked metric, lower PDR."""
    return quantity_label(quantity, metric_name) + (" (↓ better)" if quantity == "pdr" else " (↑ better)")


def sample_size(n_rows: int, n_seeds: int, attack_seeds: bool) -> str:
    """'113 rows × 3 seeds': distinct rows and seeds; seeds that only drew rows are called row draws."""
    unit = ("seed" if attack_seeds else "row draw") + ("s" if n_seeds != 1 else "")
    return f"{n_rows} rows × {n_seeds} {unit}"


def _interval_cell(quantity: str, low: float | None, high: float | None) -> str:
    """An interval, or for PDR one that says nothing (`reports.formatting.too_wide`), why it is withheld."""
    width = too_wide(low, high) if quantity == "pdr" else None
    return f"too wide to say ({width:.2f} wide)" if width else interval(low, high)


def display_rows(frame: pd.DataFrame, with_wilcoxon: bool) -> list[list[str]]:
    from reports.table3 import group_label

    show_search = frame["search"].nunique() > 1 if len(frame) else False
    rows = []
    for r in frame.itertuples(index=False):
        row = [
            r.pair,
            r.b_variant if r.family == "m3_vs_plain" else f"{r.a_variant} vs {r.b_variant}",
            group_label(r.dataset, r.attack, r.search, show_search),
            quantity_cell(r.quantity, r.metric_name),
            num(r.b_value),
            num(r.a_value),
            signed(r.estimate),
            _interval_cell(r.quantity, r.ci_low, r.ci_high),
            pvalue(r.p_rows),
            pvalue(r.p_seeds),
        ]
        if with_wilcoxon:
            row.append(pvalue(r.p_wilcoxon))
        note = "; ".join(n for n in (r.note or "").split("; ") if n and not n.startswith("Wilcoxon needs"))
        row += [pvalue(r.p_holm), sample_size(int(r.n_rows), int(r.n_seeds), bool(r.attack_seeds)), note]
        rows.append(row)
    return rows

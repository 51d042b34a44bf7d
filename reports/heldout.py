"""The held-out verdict: each M3 setting against its plain merge on found prompts measured on held-out rows.

Each attack seed's search found one prompt per model on the seed's search rows; measurement units scored each found
prompt, and the clean prompt, on rows no selection and no search saw (`eval.measure_n`). Per cell (pair, method,
dataset, attack) the crossed seeds x rows test (robustness/stats/crossed.py) compares the chosen M3 merge with the
plain merge on the held-out attacked metric: the primary family, Holm-adjusted together. PDR on the same rows is
exploratory (unadjusted p). The in-search difference (the attack units' own, PromptBench's protocol) stands beside
it for comparison with the paper's tables.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from reports.document import Table
from reports.formatting import PDR_WIDEST, detectable_cell, interval, keys_cell, num, pvalue, signed, too_wide
from reports.variants import ATTACK_LABEL, DATASET_LABEL
from robustness.stats import crossed_test
from robustness.stats.power import POWER, detectable, family_holm, seeds_for

TARGET = 0.10  # the difference the verdict issue asks a default to detect (README, "Reading the statistics")

COLUMNS = ["pair", "setting", "dataset", "attack", "metric_name", "primary", "seeds", "rows", "m3_attacked",
           "plain_attacked", "diff", "low", "high", "p", "p_holm", "detectable", "seeds_for_target", "df", "se",
           "seed_share", "in_search_diff", "pdr_diff", "pdr_low", "pdr_high", "pdr_p", "note", "keys"]  # fmt: skip


def _arm(group: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[int]]:
    """[S, R] attacked predictions, [R] clean predictions and labels, in seed order; the seeds."""
    group = group.sort_values("seed")
    attacked = np.array([list(p) for p in group["attacked_predictions"]])
    first = group.iloc[0]
    return attacked, np.array(first["clean_predictions"]), np.array(first["labels"]), [int(s) for s in group["seed"]]


def heldout_rows(measures: pd.DataFrame, attacks: pd.DataFrame, primary: list[str] | None = None,
                 others: Sequence[float | None] = ()) -> pd.DataFrame:  # fmt: skip
    """One row per cell with both arms measured: M3 (the chosen candidate) minus plain. `measures` and `attacks`
    are the carried-forward frames (`reports.variants.carried_forward`: plain merges and chosen candidates).
    `primary`: the config's eval.primary (method/dataset/attack); Holm runs over those rows, the others are
    exploratory (None: every row is primary). `others`: the p-values of the primary family's other members (the
    LiveBench comparisons), so that Holm runs over the whole family."""
    merged = measures[measures["setting"].notna()] if not measures.empty else measures
    out = []
    for (pair, setting, dataset, attack), cell in merged.groupby(["pair", "setting", "dataset", "attack"], sort=True):
        m3, plain = cell[cell["m3"].astype(bool)], cell[~cell["m3"].astype(bool)]
        if m3.empty or plain.empty:
            continue
        a, clean_a, labels, seeds = _arm(m3)
        b, clean_b, _, seeds_b = _arm(plain)
        if seeds != seeds_b or a.shape != b.shape:
            continue  # a cell one arm has not finished: nothing to compare yet
        metric = str(cell["metric_name"].iloc[0])
        test = crossed_test(a, b, labels, metric)
        on_pdr = crossed_test(a, b, labels, metric, clean_a=clean_a, clean_b=clean_b)
        searched = attacks[(attacks.pair == pair) & (attacks.setting == setting) & (attacks.dataset == dataset)
                           & (attacks.attack == attack)]  # fmt: skip
        in_search = (
            searched[searched.m3.astype(bool)].attacked_metric.mean()
            - searched[~searched.m3.astype(bool)].attacked_metric.mean()
        )
        note = "" if test.over_searches else "1 seed: conditional on the prompt found, not over searches"
        out.append({
            "pair": pair, "setting": setting, "dataset": dataset, "attack": attack, "metric_name": metric,
            "primary": primary is None or f"{setting}/{dataset}/{attack}" in primary,
            "seeds": len(seeds), "rows": a.shape[1], "m3_attacked": float(m3.attacked_metric.mean()),
            "plain_attacked": float(plain.attacked_metric.mean()), "diff": test.estimate, "low": test.low,
            "high": test.high, "p": test.p, "df": test.df, "se": test.se, "seed_share": test.seed_share,
            "in_search_diff": float(in_search) if searched.size else None, "pdr_diff": on_pdr.estimate,
            "pdr_low": on_pdr.low, "pdr_high": on_pdr.high, "pdr_p": on_pdr.p, "note": note,
            "keys": keys_cell(cell["key"]), "_parts": test.components,
        })  # fmt: skip
    frame = pd.DataFrame(out, columns=[*(c for c in COLUMNS if c not in ("p_holm", "detectable", "seeds_for_target")),
                                       "_parts"])  # fmt: skip
    in_family = [bool(f) for f in frame["primary"]]
    adjusted, family = family_holm(list(frame["p"]), in_family, others)
    frame.insert(COLUMNS.index("p_holm"), "p_holm", adjusted)
    sizes = [family if f else 1 for f in in_family]  # an exploratory row stands alone
    found = [detectable(se, df, m) for se, df, m in zip(frame["se"], frame["df"], sizes, strict=True)]
    frame.insert(COLUMNS.index("detectable"), "detectable", found)
    # None: one seed (no search spread to project); infinity: no number of seeds reaches TARGET on these rows
    needed = [None if parts is None else seeds_for(TARGET, parts, int(r), m) or math.inf
              for parts, r, m in zip(frame["_parts"], frame["rows"], sizes, strict=True)]  # fmt: skip
    frame.insert(COLUMNS.index("seeds_for_target"), "seeds_for_target", needed)
    return frame.drop(columns="_parts")


def _seeds(n: float | None) -> str:
    if n is None or pd.isna(n):
        return "—"
    return f"{int(n)}" if math.isfinite(n) else "none: more rows"


def _pdr_cell(diff: float | None, low: float | None, high: float | None) -> str:
    """An exploratory PDR difference, or why it is not shown: an interval at least `PDR_WIDEST` wide (PDR on a
    small MCC often is) says nothing about the difference."""
    width = too_wide(low, high)
    return f"too wide to say (interval {width:.2f} wide)" if width else f"{signed(diff)} {interval(low, high)}"


def heldout_table(frame: pd.DataFrame) -> Table:
    header = ["Pair", "Method", "Task", "Seeds × rows", "M3", "Plain", "Δ held-out", "95% CI", "p", "p (Holm)",
              "Detectable", f"Seeds for {TARGET:.2f}", "Δ in-search", "Δ PDR (exploratory)", "p (PDR)",
              "Note"]  # fmt: skip
    rows = [
        [
            r.pair, r.setting, f"{DATASET_LABEL.get(r.dataset, r.dataset)} {ATTACK_LABEL.get(r.attack, r.attack)}",
            f"{r.seeds} × {r.rows}", num(r.m3_attacked), num(r.plain_attacked), signed(r.diff),
            interval(r.low, r.high), pvalue(r.p), pvalue(r.p_holm) if r.primary else "exploratory",
            detectable_cell(r.detectable), _seeds(r.seeds_for_target),
            signed(r.in_search_diff),
            _pdr_cell(r.pdr_diff, r.pdr_low, r.pdr_high), pvalue(r.pdr_p), r.note,
        ]
        for r in frame.itertuples(index=False)
    ]  # fmt: skip
    notes = [
        "Δ held-out: M3 minus plain on the attacked metric, found prompts measured on rows no search or selection "
        "saw; interval and p from the crossed seeds × rows test (valid over searches; with one seed conditional on "
        "the prompt found). p (Holm): Holm over the primary family (the config's eval.primary; every row when it "
        "is not set); the other rows are exploratory, with unadjusted p. Detectable: the smallest true "
        f"difference this design detects with {POWER:.0%} power (after Holm in the family), from the realised "
        "standard error: a difference that is not significant is not one larger than this. Seeds for "
        f"{TARGET:.2f}: the attack seeds (searches) that would detect a difference of {TARGET:.2f} on the same "
        "number of rows, from this comparison's variance components (search, row, rest); 'none: more rows' where "
        "the rows' part alone is too large; — with one seed, whose search spread cannot be estimated.",
        "Δ in-search: the same difference on the attack units' own rows (the prompt each search picked there), "
        "comparable with PromptBench's tables; no test. Δ PDR: exploratory, unadjusted; an interval at least "
        f"{PDR_WIDEST:.0f} wide is withheld as saying nothing about the difference.",
    ]
    return Table("heldout", "Held-out attacks: M3 vs plain", frame, header, rows, notes)

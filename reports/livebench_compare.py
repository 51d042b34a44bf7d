"""LiveBench, M3 against plain: per (pair, method, category), the mean paired difference over the questions both
merges answered, a t interval and p-value over questions, Holm over the categories (LiveBench's own family), and
the smallest difference the questions detect with 80% power after Holm.

Questions are the sampling unit: answers are greedy, so a model's score on a question is fixed, and there is no
prompt search to model. With the default's 2 questions per task the interval is as wide as the scale.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd
from scipy import stats

from reports.document import Table
from reports.formatting import detectable_cell, interval, keys_cell, num, pvalue, signed
from robustness.stats.power import POWER, detectable, family_holm

COLUMNS = ["pair", "setting", "category", "primary", "questions", "m3", "plain", "diff", "low", "high", "p",
           "p_holm", "detectable", "keys"]  # fmt: skip


def _scores(rows: pd.DataFrame) -> dict[str, float]:
    return {str(q["question_id"]): float(q["score"]) for qs in rows["per_question"] for q in qs}


def compare_livebench(livebench: pd.DataFrame, primary: Sequence[str] | None = None,
                      others: Sequence[float | None] = ()) -> pd.DataFrame:  # fmt: skip
    """`livebench`: the carried-forward frame (plain merges and chosen candidates, with `setting`). `primary`: the
    config's eval.primary (method/livebench/category entries count here; None: every category is primary);
    `others`: the p-values of the family's other members (the held-out attack comparisons), so that Holm runs over
    the whole primary family."""
    out = []
    merged = livebench[livebench["setting"].notna()] if len(livebench) else livebench
    for (pair, setting, category), cell in merged.groupby(["pair", "setting", "category"], sort=True):
        m3, plain = _scores(cell[cell["m3"].astype(bool)]), _scores(cell[~cell["m3"].astype(bool)])
        shared = sorted(set(m3) & set(plain))
        if len(shared) < 2:
            continue
        diffs = [m3[q] - plain[q] for q in shared]
        n = len(diffs)
        mean = sum(diffs) / n
        sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1))
        se, df = sd / math.sqrt(n), float(n - 1)
        if se > 0:
            half = float(stats.t.ppf(0.975, df)) * se
            low, high, p = mean - half, mean + half, float(2 * stats.t.sf(abs(mean) / se, df))
        else:  # every question moved by the same amount: no spread to test against
            low = high = mean
            p = 1.0 if mean == 0 else 0.0
        out.append({
            "pair": pair, "setting": setting, "category": category, "questions": n,
            "primary": primary is None or f"{setting}/livebench/{category}" in primary,
            "m3": sum(m3[q] for q in shared) / n, "plain": sum(plain[q] for q in shared) / n, "diff": mean,
            "low": low, "high": high, "p": p, "se": se, "df": df, "keys": keys_cell(cell["key"]),
        })  # fmt: skip
    frame = pd.DataFrame(out, columns=[c for c in COLUMNS if c not in ("p_holm", "detectable")] + ["se", "df"])
    adjusted, family = family_holm(list(frame["p"]), list(frame["primary"]), others)
    frame.insert(COLUMNS.index("p_holm"), "p_holm", adjusted)
    found = [detectable(se, df, family if f else 1) if se > 0 else None
             for se, df, f in zip(frame["se"], frame["df"], frame["primary"], strict=True)]  # fmt: skip
    frame.insert(COLUMNS.index("detectable"), "detectable", found)
    return frame[COLUMNS]


def compare_table(frame: pd.DataFrame) -> Table:
    header = ["Pair", "Method", "Category", "Questions", "M3", "Plain", "Δ", "95% CI", "p", "p (Holm)", "Detectable"]
    rows = [
        [r.pair, r.setting, r.category, str(r.questions), num(r.m3), num(r.plain), signed(r.diff),
         interval(r.low, r.high), pvalue(r.p), pvalue(r.p_holm) if r.primary else "exploratory",
         detectable_cell(r.detectable)]
        for r in frame.itertuples(index=False)
    ]  # fmt: skip
    notes = [
        "M3 minus plain on the LiveBench questions both merges answered, per category: mean paired difference, t "
        "interval and p over questions (greedy answers: a question's score is fixed, so questions are the sampling "
        f"unit). p (Holm): over the primary family, these categories with the held-out attack comparisons (the "
        "config's eval.primary; every one when it is not set). Detectable: the smallest difference the "
        f"questions detect with {POWER:.0%} power after Holm; with a few questions per task it exceeds the scale.",
    ]
    return Table("livebench_m3_vs_plain", "LiveBench: M3 vs plain", frame, header, rows, notes)

"""LiveBench, M3 against plain: per (pair, method, category), the mean paired difference over the questions both
merges answered, a t interval and p-value over questions, Holm over the categories (LiveBench's own family), and
the smallest difference the questions detect with 80% power after Holm.

Questions are the sampling unit: answers are greedy, so a model's score on a question is fixed, and there is no
prompt search to model. With the default's 2 questions per task the interval is as wide as the scale.
"""

from __future__ import annotations

import math

import pandas as pd
from scipy import stats

from reports.document import Table
from reports.formatting import interval, keys_cell, num, pvalue, signed
from robustness.stats import holm
from robustness.stats.power import POWER, detectable

COLUMNS = ["pair", "setting", "category", "questions", "m3", "plain", "diff", "low", "high", "p", "p_holm",
           "detectable", "keys"]  # fmt: skip


def _scores(rows: pd.DataFrame) -> dict[str, float]:
    return {str(q["question_id"]): float(q["score"]) for qs in rows["per_question"] for q in qs}


def compare_livebench(livebench: pd.DataFrame) -> pd.DataFrame:
    """`livebench`: the carried-forward frame (plain merges and chosen candidates, with `setting`)."""
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
            "m3": sum(m3[q] for q in shared) / n, "plain": sum(plain[q] for q in shared) / n, "diff": mean,
            "low": low, "high": high, "p": p, "se": se, "df": df, "keys": keys_cell(cell["key"]),
        })  # fmt: skip
    frame = pd.DataFrame(out, columns=[c for c in COLUMNS if c not in ("p_holm", "detectable")] + ["se", "df"])
    frame.insert(COLUMNS.index("p_holm"), "p_holm", holm(list(frame["p"])) if len(frame) else [])
    family = int(frame["p"].notna().sum()) if len(frame) else 0
    found = [detectable(se, df, family) if se > 0 else None for se, df in zip(frame["se"], frame["df"], strict=True)]
    frame.insert(COLUMNS.index("detectable"), "detectable", found)
    return frame[COLUMNS]


def compare_table(frame: pd.DataFrame) -> Table:
    header = ["Pair", "Method", "Category", "Questions", "M3", "Plain", "Δ", "95% CI", "p", "p (Holm)", "Detectable"]
    rows = [
        [r.pair, r.setting, r.category, str(r.questions), num(r.m3), num(r.plain), signed(r.diff),
         interval(r.low, r.high), pvalue(r.p), pvalue(r.p_holm),
         "—" if r.detectable is None or pd.isna(r.detectable) else
         "> 1 (none)" if r.detectable > 1 else num(r.detectable)]
        for r in frame.itertuples(index=False)
    ]  # fmt: skip
    notes = [
        "M3 minus plain on the LiveBench questions both merges answered, per category: mean paired difference, t "
        "interval and p over questions (greedy answers: a question's score is fixed, so questions are the sampling "
        f"unit). p (Holm): over this table's categories, LiveBench's family. Detectable: the smallest difference the "
        f"questions detect with {POWER:.0%} power after Holm; with a few questions per task it exceeds the scale.",
    ]
    return Table("livebench_m3_vs_plain", "LiveBench: M3 vs plain", frame, header, rows, notes)

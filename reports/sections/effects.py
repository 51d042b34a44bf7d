"""M3 effects (with their forest plot when there are any), then M3 vs DARE (`reports.effects`)."""

from __future__ import annotations

import pandas as pd

from reports import effects, table3
from reports.document import Block, Figure, Heading, Table
from reports.section import Inputs, Section, figures
from reports.shared import EFFECTS
from reports.variants import ATTACK_ORDER, METHOD_ORDER


def effects_notes(permutations: int) -> list[str]:
    """What each column of the effects tables is, and what it can and cannot show (README, "Reading the
    statistics")."""
    return [
        "Δ: A minus B (M3 minus plain; method + M3 minus DARE), the mean over seeds of the per-seed difference on "
        "the same rows. It favours M3 when positive for the attacked metric (↑ better) and negative for PDR "
        "(↓ better).",
        "95% CI: paired bootstrap over rows. The distinct rows are resampled once for all seeds (seeds share rows, "
        "and a row's clean prediction is the same in every seed) and each resample is applied to both arms; "
        "percentile interval. It is conditional on the attacked prompts each seed found: it covers the sampling "
        "of rows, not the chance that another seed would find other prompts.",
        "p (rows): paired permutation test on per-row outcomes. Each row's two arms are swapped at random (the "
        "same swap in every seed that used the row) and the metric or PDR is recomputed seed by seed; every "
        f"assignment when few rows differ (exact), else {permutations} random ones. Also conditional on the "
        "attacked prompts found: a small p says the arms differ on these rows beyond row-level chance, not that "
        "another attack seed would give the same difference.",
        "p (seeds): paired t-test across attack seeds (the exact sign-flip test when every seed gives the same "
        "difference; Wilcoxon from 6 seeds on). It reflects the variation between seeds, but with 3 seeds it has "
        "2 degrees of freedom and little power: a large p means 'could not tell', not 'no effect'. None where "
        "the attack ignores its seed (the seeds only drew rows).",
        "p (Holm): Holm's correction of p (rows) over every comparison in this report with a defined estimate (this "
        "table and the DARE table). The row-level test feeds it because it uses every row and so can detect "
        "an effect; read a small adjusted p as 'these arms differ under these attacked prompts' and p (seeds) for "
        "whether the seeds agree.",
        "n: distinct rows × seeds. An undefined estimate (PDR where a clean metric <= 0 on some seed) has no "
        "interval and no p-value and is not in Holm's family; a PDR undefined in more than 2.5% of the resamples "
        "has no interval (flagged in the note).",
    ]


def _test_columns(wilcoxon: bool) -> list[str]:
    """The effects tables' columns after the difference; Wilcoxon only where some comparison has 6 seeds."""
    return ["95% CI", "p (rows)", "p (seeds)", *(["p (Wilcoxon)"] if wilcoxon else []), "p (Holm)", "n", "Note"]


def effects_tables(frame: pd.DataFrame, permutations: int) -> tuple[Table, Table]:
    """(M3 minus plain, method + M3 minus DARE), each in the report's row order."""
    order = frame.assign(
        _m=frame["method"].map(METHOD_ORDER),
        _d=frame["dataset"].map(table3.DATASET_ORDER),
        _a=frame["attack"].map(lambda a: ATTACK_ORDER.get(a, len(ATTACK_ORDER))),
        _q=frame["quantity"].map({"attacked": 0, "pdr": 1}),
    ).sort_values(["pair", "_m", "b_variant", "a_variant", "_d", "_a", "search", "_q"])
    order = order.drop(columns=["_m", "_d", "_a", "_q"]).reset_index(drop=True)
    m3 = order[order.family == "m3_vs_plain"].reset_index(drop=True)
    dare = order[order.family == "m3_vs_dare"].reset_index(drop=True)
    m3_wilcoxon, dare_wilcoxon = (bool(f["p_wilcoxon"].notna().any()) if len(f) else False for f in (m3, dare))
    m3_table = Table(
        "m3_effects",
        "M3 effects: M3 minus plain, per method, dataset and attack",
        m3,
        ["Pair", "Method", "Cell", "Quantity", "Plain", "M3", "Δ (M3 − plain)", *_test_columns(m3_wilcoxon)],
        effects.display_rows(m3, with_wilcoxon=m3_wilcoxon),
        effects_notes(permutations),
    )
    dare_table = Table(
        "m3_vs_dare",
        "M3 vs DARE: each method + M3 minus plain DARE",
        dare,
        [
            "Pair",
            "Comparison",
            "Cell",
            "Quantity",
            "DARE",
            "Method + M3",
            "Δ (M3 − DARE)",
            *_test_columns(dare_wilcoxon),
        ],
        effects.display_rows(dare, with_wilcoxon=dare_wilcoxon),
        ["Same rows per seed for both arms, so the comparison is paired as for M3 vs plain; columns as there."],
    )
    return m3_table, dare_table


def _tables(inputs: Inputs) -> tuple[Table, Table]:
    return effects_tables(inputs.get(EFFECTS).frame, inputs.settings.permutations)


def _render(tables: tuple[Table, Table]) -> list[Block]:
    m3_table, dare_table = tables
    blocks: list[Block] = [Heading("M3 effects"), m3_table]
    if len(m3_table.data):
        blocks.append(
            Figure(
                "forest_m3",
                "Forest plot of M3 effects",
                figures().forest_plot(m3_table.data),
                "M3 minus plain with 95% paired-bootstrap intervals; Holm-adjusted p-values at the right.",
            )
        )
    return [*blocks, Heading("M3 vs DARE"), dare_table]


SECTION = Section(name="effects", uses=(EFFECTS,), compute=_tables, render=_render)

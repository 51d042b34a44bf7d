"""The report as a document: every table, figure and sentence, computed from a run's frames (no I/O).

`build_report` is a list of named steps: the rows the report shows (`_carried_rows`), the warnings about them,
then one function per section in the order the report prints them. Reading the store and writing the files is
`reports.write`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from types import ModuleType

import pandas as pd

from reports import attack_curve, curves, draws, effects, livebench, magnitude, provenance, table3, transfer
from reports import clean as clean_mod
from reports.document import Block, Bullets, Figure, Heading, Paragraph, Table
from reports.load import RunData
from reports.variants import ATTACK_ORDER, METHOD_ORDER, carried_forward, chosen_models, recorded_setting
from robustness.experiment.spec.config import AXIS_MARK

DEFAULT_RESAMPLES = 2000
DEFAULT_PERMUTATIONS = 9999  # p >= 1/10000: Holm over 96 comparisons can still reach 0.01


@dataclass(frozen=True)
class Report:
    title: str
    blocks: list[Block]
    warnings: list[str]

    @property
    def tables(self) -> list[Table]:
        return [b for b in self.blocks if isinstance(b, Table)]

    @property
    def figures(self) -> list[Figure]:
        return [b for b in self.blocks if isinstance(b, Figure)]


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


def _effects_tables(frame: pd.DataFrame, permutations: int) -> tuple[Table, Table]:
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


@dataclass(frozen=True)
class _Rows:
    """The attack, clean and LiveBench rows of the models the report shows: references, plain merges and the M3
    candidates that lambda selection carried forward; and the attacked lambda curve's attack rows (every candidate
    and plain merge on the curve rows), which stay out of every other table."""

    attacks: pd.DataFrame
    clean: pd.DataFrame
    ood: pd.DataFrame
    curve: pd.DataFrame


def build_report(
    run: RunData, resamples: int = DEFAULT_RESAMPLES, seed: int = 0, permutations: int = DEFAULT_PERMUTATIONS
) -> Report:
    """Every table, figure and sentence of the report, from the run's frames (no I/O)."""
    warnings: list[str] = []
    rows = _carried_rows(run, warnings)
    points = attack_curve.curve_points(rows.curve, run.frame("selection"), resamples, seed)
    moved = transfer.transfer_rows(run.frame("attack"), run.frame("selection"), resamples, seed)
    effect_frame = effects.effects_frame(rows.attacks, resamples, seed, permutations, warnings)
    agreement = clean_mod.agreement_frame(run.frame("clean"))
    warnings += clean_mod.agreement_warnings(agreement)
    overlap = clean_mod.split_overlap(run.frame("clean"))
    warnings += _data_warnings(run, effect_frame, overlap)
    blocks: list[Block] = [
        _run_summary(run),
        *_warnings_section(warnings),
        *_sample_sizes_section(rows),
        *_table3_section(rows.attacks),
        *_effects_sections(effect_frame, permutations),
        *_clean_section(rows.clean),
        *_selection_section(run, overlap),
        *_attack_curve_section(points),
        *_magnitude_section(run, points),
        *_draws_section(run, points),
        *_transfer_section(moved),
        *_livebench_section(rows.ood),
        *_agreement_section(agreement),
        *_provenance_section(rows, effect_frame, resamples, seed, permutations),
    ]
    return Report(f"Robustness report: {run.name}", blocks, warnings)


def _carried_rows(run: RunData, warnings: list[str]) -> _Rows:
    """The rows of the references, the plain merges and the chosen M3 candidates (what is dropped, in `warnings`)."""
    # A magnitude-axis point's choice is not carried into phase two: its candidate has selection scores only.
    chosen = [c for c in chosen_models(run.frame("selection")) if AXIS_MARK not in (c.setting or "")]
    attacks, curve = attack_curve.split_curve(run.frame("attack"))
    return _Rows(
        attacks=carried_forward(transfer.table_attacks(attacks), chosen, warnings),
        clean=carried_forward(run.frame("clean"), chosen, warnings),
        ood=carried_forward(run.frame("livebench"), chosen, warnings),
        curve=curve,
    )


def _data_warnings(run: RunData, effect_frame: pd.DataFrame, overlap: dict[str, int]) -> list[str]:
    """Shared samples between the splits, failed units, undefined PDR comparisons and withheld intervals."""
    warnings = [
        f"{dataset}: {count} samples are in both the selection and the report split"
        for dataset, count in overlap.items()
        if count
    ]
    for kind, count in sorted(run.failed.items()):
        warnings.append(f"{count} {kind} unit(s) failed and are missing from the tables")
    undefined = (
        effect_frame[(effect_frame.quantity == "pdr") & effect_frame.estimate.isna()]
        if len(effect_frame)
        else effect_frame
    )
    if len(undefined):
        warnings.append(f"{len(undefined)} PDR comparison(s) undefined: a clean metric <= 0 on some seed")
    withheld = int((effect_frame.estimate.notna() & effect_frame.ci_low.isna()).sum()) if len(effect_frame) else 0
    if withheld:
        warnings.append(
            f"{withheld} interval(s) withheld: the quantity is undefined in more than 2.5% of the resamples "
            "(a clean metric near 0); see the effects tables' notes"
        )
    return warnings


def _run_summary(run: RunData) -> Paragraph:
    """The opening line: run name, config hash, suite version and the unit count per kind."""
    meta = run.meta
    return Paragraph(
        f"Run {run.name}: config hash {meta.get('config_hash', '')[:12]}, written by suite version "
        f"{meta.get('suite_version', '?')}. Units: "
        + ", ".join(f"{len(run.frame(k))} {k}" for k in ("merge", "clean", "attack", "livebench", "selection"))
        + _curve_count(run)
        + ". Every table's csv (tables/) carries the unit keys of the store rows behind each number."
        + config_history(run)
    )


def _warnings_section(warnings: list[str]) -> list[Block]:
    return [Heading("Warnings"), Bullets(warnings)] if warnings else []


def _sample_sizes_section(rows: _Rows) -> list[Block]:
    sizes = provenance.sample_sizes(rows.attacks, rows.clean, rows.ood) + attack_curve.curve_sizes(rows.curve)
    return [Heading("Sample sizes"), Bullets(sizes or ["none"])]


def _table3_section(attacks: pd.DataFrame) -> list[Block]:
    return [Heading("Robustness under attack (Table 3 layout)"), table3.table3(table3.attack_cells(attacks))]


def _effects_sections(effect_frame: pd.DataFrame, permutations: int) -> list[Block]:
    """M3 effects (with their forest plot when there are any), then M3 vs DARE."""
    m3_table, dare_table = _effects_tables(effect_frame, permutations)
    blocks: list[Block] = [Heading("M3 effects"), m3_table]
    if len(m3_table.data):
        blocks.append(
            Figure(
                "forest_m3",
                "Forest plot of M3 effects",
                _figures().forest_plot(m3_table.data),
                "M3 minus plain with 95% paired-bootstrap intervals; Holm-adjusted p-values at the right.",
            )
        )
    return [*blocks, Heading("M3 vs DARE"), dare_table]


def _clean_section(clean_rows: pd.DataFrame) -> list[Block]:
    return [Heading("Clean scores"), clean_mod.clean_table(clean_mod.clean_cells(clean_rows))]


def _setting(record: object) -> str:
    return recorded_setting(record) or str(getattr(record, "method", ""))


def _selection_section(run: RunData, overlap: dict[str, int]) -> list[Block]:
    """What lambda selection chose and on which split, the split-overlap check, and the lambda curves."""
    selection = run.frame("selection")
    selection_lines = [
        f"{r.pair} {curves.method_text(str(r.method), _setting(r))}: {len(r.candidates)} candidates scored on the "
        f"{r.split} split ({r.criterion}); carried forward: {r.chosen_model_id}"
        + (" (a magnitude-axis point: not carried into the tables)" if AXIS_MARK in _setting(r) else "")
        for r in selection.sort_values("key").itertuples(index=False)
    ]
    overlap_text = (
        "; ".join(f"{d}: {c} shared samples" for d, c in overlap.items()) if overlap else "not checkable (no split)"
    )
    blocks: list[Block] = [
        Heading("Lambda selection"),
        Paragraph(
            "Lambda is chosen on a selection split disjoint from the report split; all other tables use the report "
            f"split. Overlap check between the two splits' samples: {overlap_text}."
        ),
    ]
    if selection_lines:
        blocks.append(Bullets(selection_lines))
    attacks = transfer.table_attacks(attack_curve.split_curve(run.frame("attack"))[0])
    curve_frame = curves.curve_frame(selection, run.frame("clean"), attacks)
    blocks.append(curves.curve_table(curve_frame))
    if len(curve_frame) and curve_frame["lambda"].notna().any():
        blocks.append(
            Figure(
                "lambda_curves",
                "Lambda curves",
                _figures().lambda_curves(curve_frame),
                "Metric against λ for every M3 candidate; the star marks the candidate chosen on the selection split.",
            )
        )
    return blocks


def _curve_count(run: RunData) -> str:
    curve = attack_curve.split_curve(run.frame("attack"))[1]
    moved = transfer.replays(run.frame("attack"))
    parts = [f"{len(curve)} of the attack units for the attacked lambda curve"] if len(curve) else []
    parts += [f"{len(moved)} transfer replays"] if len(moved) else []
    return f" ({'; '.join(parts)})" if parts else ""


def _transfer_section(frame: pd.DataFrame) -> list[Block]:
    """Each transfer source's prompts replayed on the other models (none when transfer is off)."""
    if frame.empty:
        return []
    return [
        Heading("Transfer attacks"),
        Paragraph(
            "Whether a merged model inherits its parents' adversarial prompts: each source's found prompt (per attack "
            "seed) scored unchanged on the other models, on the source attack's rows, next to each target's own "
            "attack on the same rows. " + " ".join(transfer.transfer_sizes(frame)) + "."
        ),
        transfer.transfer_table(frame),
    ]


def _attack_curve_section(points: pd.DataFrame) -> list[Block]:
    """Every M3 candidate and the plain merge under attack, against lambda: a table and one figure per curve."""
    if points.empty:
        return []
    blocks: list[Block] = [
        Heading("Attacked lambda curve"),
        Paragraph(
            "Every M3 candidate of each method (all α × draws) and the plain merge, attacked on the same curve rows "
            "(per attack seed, a seeded sample of curve_n report rows; disjoint from the selection rows). Each "
            "point is the mean over attack seeds with a 95% percentile bootstrap interval over rows (clean and "
            "attacked prediction of a row resampled together); the plain merge is the dotted reference line, its "
            "interval the band. These units are not in Table 3 or the effects tables, which use the chosen "
            "candidate on the attack's own rows."
        ),
        attack_curve.curve_table(points),
    ]
    for pair, setting in attack_curve.groups(points):
        mine = points[(points.pair == pair) & (points.setting == setting)]
        label = f"{pair}: {curves.method_text(str(mine['method'].iloc[0]), setting)} + M3"
        blocks.append(
            Figure(
                attack_curve.figure_name(pair, setting),
                f"Attacked lambda curve, {label}",
                _figures().attack_curve(mine, f"{label}, attacked lambda curve"),
                "Clean and attacked metric (left) and PDR (right) against λ for every M3 candidate on the curve "
                "rows, with 95% intervals (on the left the two series sit 0.008 apart in λ so their bars can be "
                "told apart); dotted lines and bands: the plain merge; star: the candidate chosen on the selection "
                "rows.",
            )
        )
    return blocks


def _magnitude_section(run: RunData, points: pd.DataFrame) -> list[Block]:
    """With a magnitude axis: each scale's curve summarised, and one grid figure per (pair, configured method)."""
    config = json.loads(run.meta.get("config") or "{}")
    axis = magnitude.axis_points(points, magnitude.own_scalings(config))
    if axis.empty:
        return []
    blocks: list[Block] = [
        Heading("Magnitude beside lambda"),
        Paragraph(
            "The methods with a magnitude axis (methods[i].scales), merged at each scale with every M3 candidate "
            "and plain, attacked on the curve rows: λ sets the direction of the merge, the scale how far it moves "
            "from the base. Only the method's own scale enters Table 3 and the effects tables."
        ),
        magnitude.magnitude_table(magnitude.summary(axis)),
    ]
    for (pair, configured), mine in axis.groupby(["pair", "configured"], sort=False):
        label = f"{pair}: {curves.method_text(str(mine['method'].iloc[0]), str(configured))}"
        blocks.append(
            Figure(
                magnitude.figure_name(str(pair), str(configured)),
                f"Magnitude beside lambda, {label}",
                _figures().magnitude(mine, f"{label} + M3 at each scale"),
                "Clean (left) and attacked (right) metric against λ on the curve rows, one colour per scale, each "
                "point with its 95% interval (the scales sit 0.008 apart in λ so their bars can be told apart); "
                "dotted lines: the plain merge at each scale.",
            )
        )
    return blocks


def _draws_section(run: RunData, points: pd.DataFrame) -> list[Block]:
    """With several draws per α: the spread over draws beside the selected draw and the plain merge."""
    frame = draws.draw_frame(run.frame("selection"), points)
    if frame.empty:
        return []
    return [Heading("M3 as a random procedure: spread over draws"), draws.draws_table(frame)]


def _livebench_section(ood_rows: pd.DataFrame) -> list[Block]:
    ood = livebench.ood_frame(ood_rows)
    blocks: list[Block] = [Heading("Out-of-distribution: LiveBench"), livebench.ood_table(ood)]
    if len(ood):
        blocks.append(
            Figure("ood_livebench", "LiveBench scores", _figures().ood_bars(ood), "Mean LiveBench score per task.")
        )
    return blocks


def _agreement_section(agreement: pd.DataFrame) -> list[Block]:
    return [Heading("Score/generate agreement"), clean_mod.agreement_table(agreement)]


def _provenance_section(
    rows: _Rows, effect_frame: pd.DataFrame, resamples: int, seed: int, permutations: int
) -> list[Block]:
    """Conventions, attack sources and seeds, and how the intervals and p-values were computed."""
    return [
        Heading("Provenance and methods"),
        Bullets(
            provenance.conventions([rows.attacks, rows.clean, rows.ood])
            + provenance.attack_sources(rows.attacks)
            + [
                f"Bootstrap: {resamples} paired resamples per comparison of the distinct rows, jointly across "
                f"seeds, percentile 95% interval; permutation test: exact, or {permutations} random arm swaps per "
                f"comparison; seed {seed} (each comparison's streams derived from it and the comparison's name).",
                f"Holm correction over {int(effect_frame['p_rows'].notna().sum()) if len(effect_frame) else 0} "
                "comparisons with a row-level permutation p-value (M3 effects and M3 vs DARE together); the "
                "seed-level p-values are shown beside them, unadjusted.",
            ]
            + provenance.attack_seeds(rows.attacks)
            + attack_curve.curve_provenance(rows.curve, resamples)
        ),
    ]


def config_history(run: RunData) -> str:
    """A sentence for a folder that has run more than one config: which ones, and what is left out."""
    if len(run.history) < 2:
        return ""
    earlier = ", ".join(f"{e.config_hash[:12]} (first run {e.first_run_at[:16]})" for e in run.history[:-1])
    left_out = (
        f" The store also holds {run.unplanned} finished unit(s) that this config does not plan; they are not in "
        "this report."
        if run.unplanned
        else ""
    )
    return (
        f" This folder has run {len(run.history)} configs; earlier: {earlier}. Only the units the current config "
        f"plans are reported (units of earlier configs with unchanged inputs were reused).{left_out}"
    )


def _figures() -> ModuleType:
    """matplotlib is imported only when a figure is drawn."""
    from reports import figures

    return figures

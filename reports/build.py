"""`m3r report`: read a run's store, compute every table and figure, write report.md, report.html, tables/, figures/.

The pure part (`build_report`) turns frames into a document; the shell (`write_report`) reads the store and writes
files. Files are written into a temporary folder beside the output and moved into place at the end, so a failure
(a full disk) never leaves a half-written report that looks finished.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pandas as pd

from reports import clean as clean_mod
from reports import curves, effects, livebench, provenance, table3
from reports.completeness import Completeness, notice_blocks, run_completeness
from reports.document import Block, Bullets, Figure, Heading, Paragraph, Table
from reports.formatting import csv_text
from reports.html import render_html
from reports.latex import table_tex
from reports.load import RunData, load_run
from reports.markdown import render_markdown
from reports.variants import METHOD_LABEL, METHOD_ORDER, carried_forward, chosen_models
from robustness.errors import UserError

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


@dataclass(frozen=True)
class Written:
    out_dir: Path
    files: list[str]  # relative to out_dir, sorted
    warnings: list[str]
    completeness: Completeness | None = None


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
        _a=frame["attack"].map(lambda a: {"deepwordbug": 0, "bertattack": 1, "stresstest": 2}.get(a, 9)),
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


def build_report(
    run: RunData, resamples: int = DEFAULT_RESAMPLES, seed: int = 0, permutations: int = DEFAULT_PERMUTATIONS
) -> Report:
    """Every table, figure and sentence of the report, from the run's frames (no I/O)."""
    warnings: list[str] = []
    chosen = chosen_models(run.frame("selection"))
    attacks = carried_forward(run.frame("attack"), chosen, warnings)
    clean_rows = carried_forward(run.frame("clean"), chosen, warnings)
    ood_rows = carried_forward(run.frame("livebench"), chosen, warnings)

    cells = table3.attack_cells(attacks)
    t3 = table3.table3(cells)
    effect_frame = effects.effects_frame(attacks, resamples, seed, permutations, warnings)
    m3_table, dare_table = _effects_tables(effect_frame, permutations)
    clean_table = clean_mod.clean_table(clean_mod.clean_cells(clean_rows))
    agreement = clean_mod.agreement_frame(run.frame("clean"))
    warnings += clean_mod.agreement_warnings(agreement)
    curve_frame = curves.curve_frame(run.frame("selection"), run.frame("clean"), run.frame("attack"))
    ood = livebench.ood_frame(ood_rows)
    overlap = clean_mod.split_overlap(run.frame("clean"))
    for dataset, count in overlap.items():
        if count:
            warnings.append(f"{dataset}: {count} samples are in both the selection and the report split")
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

    meta = run.meta
    blocks: list[Block] = [
        Paragraph(
            f"Run {run.name}: config hash {meta.get('config_hash', '')[:12]}, written by suite version "
            f"{meta.get('suite_version', '?')}. Units: "
            + ", ".join(f"{len(run.frame(k))} {k}" for k in ("merge", "clean", "attack", "livebench", "selection"))
            + ". Every table's csv (tables/) carries the unit keys of the store rows behind each number."
            + config_history(run)
        ),
    ]
    if warnings:
        blocks += [Heading("Warnings"), Bullets(warnings)]
    blocks += [Heading("Sample sizes"), Bullets(provenance.sample_sizes(attacks, clean_rows, ood_rows) or ["none"])]
    blocks += [Heading("Robustness under attack (Table 3 layout)"), t3]
    blocks += [Heading("M3 effects"), m3_table]
    if len(m3_table.data):
        blocks.append(
            Figure(
                "forest_m3",
                "Forest plot of M3 effects",
                _figures().forest_plot(m3_table.data),
                "M3 minus plain with 95% paired-bootstrap intervals; Holm-adjusted p-values at the right.",
            )
        )
    blocks += [Heading("M3 vs DARE"), dare_table]
    blocks += [Heading("Clean scores"), clean_table]
    blocks += [Heading("Lambda selection")]
    selection = run.frame("selection")
    selection_lines = [
        f"{r.pair} {METHOD_LABEL.get(r.method, r.method)}: {len(r.candidates)} candidates scored on the "
        f"{r.split} split ({r.criterion}); carried forward: {r.chosen_model_id}"
        for r in selection.sort_values("key").itertuples(index=False)
    ]
    overlap_text = (
        "; ".join(f"{d}: {c} shared samples" for d, c in overlap.items()) if overlap else "not checkable (no split)"
    )
    blocks.append(
        Paragraph(
            "Lambda is chosen on a selection split disjoint from the report split; all other tables use the report "
            f"split. Overlap check between the two splits' samples: {overlap_text}."
        )
    )
    if selection_lines:
        blocks.append(Bullets(selection_lines))
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
    blocks += [Heading("Out-of-distribution: LiveBench"), livebench.ood_table(ood)]
    if len(ood):
        blocks.append(
            Figure("ood_livebench", "LiveBench scores", _figures().ood_bars(ood), "Mean LiveBench score per task.")
        )
    blocks += [Heading("Score/generate agreement"), clean_mod.agreement_table(agreement)]
    blocks += [
        Heading("Provenance and methods"),
        Bullets(
            provenance.conventions([attacks, clean_rows, ood_rows])
            + provenance.attack_sources(attacks)
            + [
                f"Bootstrap: {resamples} paired resamples per comparison of the distinct rows, jointly across "
                f"seeds, percentile 95% interval; permutation test: exact, or {permutations} random arm swaps per "
                f"comparison; seed {seed} (each comparison's streams derived from it and the comparison's name).",
                f"Holm correction over {int(effect_frame['p_rows'].notna().sum()) if len(effect_frame) else 0} "
                "comparisons with a row-level permutation p-value (M3 effects and M3 vs DARE together); the "
                "seed-level p-values are shown beside them, unadjusted.",
            ]
            + provenance.attack_seeds(attacks)
        ),
    ]
    return Report(f"Robustness report: {run.name}", blocks, warnings)


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


def write_report(
    run_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str] | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Written:
    """Render the report of `run_dir` into `out_dir` (default: <run_dir>/report)."""
    run = load_run(run_dir)
    report = build_report(run, resamples, seed)
    status = run_completeness(run_dir)
    blocks = [*notice_blocks(status), *report.blocks]  # an unfinished run says so before anything else
    out = Path(out_dir) if out_dir is not None else Path(run_dir) / "report"
    files: dict[str, bytes] = {
        "report.md": render_markdown(report.title, blocks).encode(),
        "report.html": render_html(report.title, blocks).encode(),
    }
    for table in report.tables:
        files[f"tables/{table.name}.csv"] = csv_text(table.data).encode()
        files[f"tables/{table.name}.tex"] = table_tex(table).encode()
    for figure in report.figures:
        files[f"figures/{figure.name}.png"] = figure.png
    _write_atomically(out, files)
    return Written(out, sorted(files), report.warnings, status)


def _write_atomically(out: Path, files: dict[str, bytes]) -> None:
    """Write into a temporary sibling folder, then move each part into `out` (tables/ and figures/ replaced)."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.exists() and not out.is_dir():
            raise UserError(f"report output {out} exists and is not a folder")
        staging = Path(tempfile.mkdtemp(prefix=".report-", dir=out.parent))
    except OSError as exc:
        raise UserError(f"cannot write the report to {out}: {exc.strerror or exc}") from exc
    try:
        for name, data in files.items():
            path = staging / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        out.mkdir(exist_ok=True)
        for part in ("tables", "figures"):
            if (out / part).exists():
                shutil.rmtree(out / part)
            if (staging / part).exists():
                os.replace(staging / part, out / part)
        for name in ("report.md", "report.html"):
            os.replace(staging / name, out / name)
    except OSError as exc:
        raise UserError(
            f"cannot write the report to {out}: {exc.strerror or exc}; the store is unchanged, rerun once fixed"
        ) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)

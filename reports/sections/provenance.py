"""Conventions, attack sources and seeds, and how the intervals and p-values were computed
(`reports.provenance`)."""

from __future__ import annotations

from reports import attack_curve, provenance
from reports.document import Block, Bullets, Heading
from reports.section import Inputs, Section
from reports.shared import EFFECTS, ROWS


def _lines(inputs: Inputs) -> list[str]:
    rows, effect_frame = inputs.get(ROWS), inputs.get(EFFECTS).frame
    resamples, seed, permutations = (inputs.settings.resamples, inputs.settings.seed, inputs.settings.permutations)
    return (
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
        + provenance.evaluation_cache(inputs.run.evaluations)
    )


def _render(lines: list[str]) -> list[Block]:
    return [Heading("Provenance and methods"), Bullets(lines)]


SECTION = Section(name="provenance", uses=(ROWS, EFFECTS), compute=_lines, render=_render)

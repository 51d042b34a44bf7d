"""Every M3 candidate and the plain merge under attack, against lambda: a table and one figure per curve
(`reports.attack_curve`)."""

from __future__ import annotations

import pandas as pd

from reports import attack_curve, curves
from reports.document import Block, Figure
from reports.section import Section, figures, opening
from reports.shared import CURVE_POINTS

CURVE_INTRO = (
    "Every M3 candidate of each method (all α × draws) and the plain merge, attacked on the same curve rows "
    "(per attack seed, a seeded sample of curve_n report rows; disjoint from the selection rows). Each "
    "point is the mean over attack seeds with a 95% percentile bootstrap interval over rows (clean and "
    "attacked prediction of a row resampled together); the plain merge is the dotted reference line, its "
    "interval the band. These units are not in Table 3 or the effects tables, which use the chosen "
    "candidate on the attack's own rows."
)


def _render(points: pd.DataFrame) -> list[Block]:
    if points.empty:
        return []
    blocks = opening("Attacked lambda curve", CURVE_INTRO, attack_curve.curve_table(points))
    for pair, setting in attack_curve.groups(points):
        mine = points[(points.pair == pair) & (points.setting == setting)]
        label = f"{pair}: {curves.method_text(str(mine['method'].iloc[0]), setting)} + M3"
        blocks.append(
            Figure(
                attack_curve.figure_name(pair, setting),
                f"Attacked lambda curve, {label}",
                figures().attack_curve(mine, f"{label}, attacked lambda curve"),
                "Clean and attacked metric (left) and PDR (right) against λ for every M3 candidate on the curve "
                "rows, with 95% intervals (on the left the two series sit 0.008 apart in λ so their bars can be "
                "told apart); dotted lines and bands: the plain merge; star: the candidate chosen on the selection "
                "rows.",
            )
        )
    return blocks


SECTION = Section(
    name="attack_curve", uses=(CURVE_POINTS,), compute=lambda inputs: inputs.get(CURVE_POINTS), render=_render
)

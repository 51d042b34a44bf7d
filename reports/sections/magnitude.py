"""With a magnitude axis: each scale's curve summarised, and one grid figure per (pair, configured method)
(`reports.magnitude`)."""

from __future__ import annotations

import json

import pandas as pd

from reports import curves, magnitude
from reports.document import Block, Figure
from reports.section import Inputs, Section, figures, opening
from reports.shared import CURVE_POINTS

AXIS_INTRO = (
    "The methods with a magnitude axis (methods[i].scales), merged at each scale with every M3 candidate "
    "and plain, attacked on the curve rows: λ sets the direction of the merge, the scale how far it moves "
    "from the base. Only the method's own scale enters Table 3 and the effects tables."
)


def _axis(inputs: Inputs) -> pd.DataFrame:
    config = json.loads(inputs.run.meta.get("config") or "{}")
    return magnitude.axis_points(inputs.get(CURVE_POINTS), magnitude.own_scalings(config))


def _render(axis: pd.DataFrame) -> list[Block]:
    if axis.empty:
        return []
    blocks = opening("Magnitude beside lambda", AXIS_INTRO, magnitude.magnitude_table(magnitude.summary(axis)))
    for (pair, configured), mine in axis.groupby(["pair", "configured"], sort=False):
        label = f"{pair}: {curves.method_text(str(mine['method'].iloc[0]), str(configured))}"
        blocks.append(
            Figure(
                magnitude.figure_name(str(pair), str(configured)),
                f"Magnitude beside lambda, {label}",
                figures().magnitude(mine, f"{label} + M3 at each scale"),
                "Clean (left) and attacked (right) metric against λ on the curve rows, one colour per scale, each "
                "point with its 95% interval (the scales sit 0.008 apart in λ so their bars can be told apart); "
                "dotted lines: the plain merge at each scale.",
            )
        )
    return blocks


SECTION = Section(name="magnitude", uses=(CURVE_POINTS,), compute=_axis, render=_render)

"""With several draws per alpha: the spread over draws beside the selected draw and the plain merge
(`reports.draws`)."""

from __future__ import annotations

import pandas as pd

from reports import draws
from reports.document import Block, Heading
from reports.load import SELECTION
from reports.section import Inputs, Section
from reports.shared import CURVE_POINTS


def _frame(inputs: Inputs) -> pd.DataFrame:
    return draws.draw_frame(inputs.frame(SELECTION), inputs.get(CURVE_POINTS))


def _render(frame: pd.DataFrame) -> list[Block]:
    if frame.empty:
        return []
    return [Heading("M3 as a random procedure: spread over draws"), draws.draws_table(frame)]


SECTION = Section(name="draws", reads=(SELECTION,), uses=(CURVE_POINTS,), compute=_frame, render=_render)

"""Robustness under attack in the paper's Table 3 layout (`reports.table3`)."""

from __future__ import annotations

import pandas as pd

from reports import table3
from reports.document import Block, Heading
from reports.section import Section
from reports.shared import ROWS


def _render(cells: pd.DataFrame) -> list[Block]:
    return [Heading("Robustness under attack (Table 3 layout)"), table3.table3(cells)]


SECTION = Section(
    name="table3",
    uses=(ROWS,),
    compute=lambda inputs: table3.attack_cells(inputs.get(ROWS).attacks),
    render=_render,
)

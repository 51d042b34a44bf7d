"""Clean scores of the models the report shows (`reports.clean`)."""

from __future__ import annotations

import pandas as pd

from reports import clean as clean_mod
from reports.document import Block, Heading
from reports.section import Section
from reports.shared import ROWS


def _render(cells: pd.DataFrame) -> list[Block]:
    return [Heading("Clean scores"), clean_mod.clean_table(cells)]


SECTION = Section(
    name="clean",
    uses=(ROWS,),
    compute=lambda inputs: clean_mod.clean_cells(inputs.get(ROWS).clean),
    render=_render,
)

"""Out-of-distribution: the LiveBench scores of the models the report shows (`reports.livebench`)."""

from __future__ import annotations

import pandas as pd

from reports import livebench
from reports.document import Block, Figure, Heading
from reports.section import Section, figures
from reports.shared import ROWS


def _render(ood: pd.DataFrame) -> list[Block]:
    blocks: list[Block] = [Heading("Out-of-distribution: LiveBench"), livebench.ood_table(ood)]
    if len(ood):
        blocks.append(
            Figure("ood_livebench", "LiveBench scores", figures().ood_bars(ood), "Mean LiveBench score per task.")
        )
    return blocks


SECTION = Section(
    name="livebench",
    uses=(ROWS,),
    compute=lambda inputs: livebench.ood_frame(inputs.get(ROWS).ood),
    render=_render,
)

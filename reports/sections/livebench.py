"""Out-of-distribution: the LiveBench scores of the models the report shows (`reports.livebench`)."""

from __future__ import annotations

import pandas as pd

from reports import livebench, livebench_compare
from reports.document import Block, Figure, Heading
from reports.section import Inputs, Section, figures
from reports.shared import ROWS, VERDICT


def _compute(inputs: Inputs) -> tuple[pd.DataFrame, pd.DataFrame]:
    ood = inputs.get(ROWS).ood
    return livebench.ood_frame(ood), inputs.get(VERDICT).livebench


def _render(data: tuple[pd.DataFrame, pd.DataFrame]) -> list[Block]:
    ood, compared = data
    blocks: list[Block] = [Heading("Out-of-distribution: LiveBench"), livebench.ood_table(ood)]
    if len(compared):
        blocks.append(livebench_compare.compare_table(compared))
    if len(ood):
        blocks.append(
            Figure("ood_livebench", "LiveBench scores", figures().ood_bars(ood), "Mean LiveBench score per task.")
        )
    return blocks


SECTION = Section(name="livebench", uses=(ROWS, VERDICT), compute=_compute, render=_render)

"""Score/generate agreement per model, dataset and split (`reports.clean`)."""

from __future__ import annotations

import pandas as pd

from reports import clean as clean_mod
from reports.document import Block, Heading
from reports.section import Section
from reports.shared import AGREEMENT


def _render(agreement: pd.DataFrame) -> list[Block]:
    return [Heading("Score/generate agreement"), clean_mod.agreement_table(agreement)]


SECTION = Section(name="agreement", uses=(AGREEMENT,), compute=lambda inputs: inputs.get(AGREEMENT), render=_render)

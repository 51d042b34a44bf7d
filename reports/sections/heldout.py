"""The held-out verdict: M3 against plain on found prompts measured on held-out rows (`reports.heldout`; none
without `eval.measure_n`)."""

from __future__ import annotations

import json

import pandas as pd

from reports import heldout, modes
from reports.document import Block
from reports.load import MEASURE
from reports.section import Inputs, Section, opening
from reports.shared import CHOSEN, ROWS
from reports.variants import carried_forward

INTRO = (
    "Each attack seed's search found one prompt per model on the seed's search rows; that prompt and the clean prompt "
    "were then measured on rows that no search and no selection saw, the same rows for every seed and both arms. The "
    "test is the crossed seeds × rows test: its interval covers the spread of searches as well as of rows, so with "
    "two or three seeds it is wide, as it should be. The attacked-metric rows of the primary family (the config's "
    "eval.primary, every row when it is not set) are adjusted by Holm; the other rows and PDR are exploratory. The "
    "in-search difference is PromptBench's protocol (each prompt measured where it was found)."
)


def _rows(inputs: Inputs) -> pd.DataFrame:
    chosen = inputs.get(CHOSEN)
    measures = carried_forward(modes.in_mode(inputs.frame(MEASURE), "score"), chosen)
    config = json.loads(inputs.run.meta.get("config") or "{}")
    primary = config.get("eval", {}).get("primary")
    return heldout.heldout_rows(measures, inputs.get(ROWS).attacks, primary)


def _render(frame: pd.DataFrame) -> list[Block]:
    if frame.empty:
        return []
    return opening("Held-out attacks: the verdict", INTRO, heldout.heldout_table(frame))


SECTION = Section(name="heldout", reads=(MEASURE,), uses=(CHOSEN, ROWS), compute=_rows, render=_render)

"""The held-out verdict: M3 against plain on found prompts measured on held-out rows (`reports.heldout`; none
without `eval.measure_n`)."""

from __future__ import annotations

import pandas as pd

from reports import heldout
from reports.document import Block
from reports.section import Section, opening
from reports.shared import VERDICT

INTRO = (
    "Each attack seed's search found one prompt per model on the seed's search rows; that prompt and the clean prompt "
    "were then measured on rows that no search and no selection saw, the same rows for every seed and both arms. The "
    "test is the crossed seeds × rows test: its interval covers the spread of searches as well as of rows, so with "
    "two or three seeds it is wide, as it should be. The attacked-metric rows of the primary family (the config's "
    "eval.primary, every row when it is not set) are adjusted by Holm; the other rows and PDR are exploratory. The "
    "in-search difference is PromptBench's protocol (each prompt measured where it was found)."
)


def _render(frame: pd.DataFrame) -> list[Block]:
    if frame.empty:
        return []
    return opening("Held-out attacks: the verdict", INTRO, heldout.heldout_table(frame))


SECTION = Section(name="heldout", uses=(VERDICT,), compute=lambda inputs: inputs.get(VERDICT).heldout, render=_render)

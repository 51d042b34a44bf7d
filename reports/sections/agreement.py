"""Score/generate agreement per model, dataset and split (`reports.clean`), and where clean units kept both modes'
labels and the raw answers, score mode against generated answers under each reading rule (`reports.modes`)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from reports import clean as clean_mod
from reports import modes
from reports.document import Block, Heading
from reports.load import CLEAN, MEASURE
from reports.section import Inputs, Section
from reports.shared import AGREEMENT


@dataclass(frozen=True)
class Agreement:
    agreement: pd.DataFrame
    modes: pd.DataFrame
    found: pd.DataFrame


def _compute(inputs: Inputs) -> Agreement:
    report = inputs.frame(CLEAN)
    report = report[report["split"] == "report"] if len(report) else report
    settings = inputs.settings
    return Agreement(inputs.get(AGREEMENT), modes.mode_frame(report, settings.resamples, settings.seed),
                     modes.found_prompt_frame(inputs.frame(MEASURE)))  # fmt: skip


def _render(data: Agreement) -> list[Block]:
    blocks: list[Block] = [Heading("Score/generate agreement"), clean_mod.agreement_table(data.agreement)]
    if len(data.modes):
        blocks.append(modes.mode_table(data.modes))
    if len(data.found):
        blocks.append(modes.found_prompt_table(data.found))
    return blocks


SECTION = Section(name="agreement", reads=(CLEAN, MEASURE), uses=(AGREEMENT,), compute=_compute, render=_render)

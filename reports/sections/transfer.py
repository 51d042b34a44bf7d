"""Transfer attacks: each source's prompts replayed on the other models (none when transfer is off;
`reports.transfer`)."""

from __future__ import annotations

import pandas as pd

from reports import transfer
from reports.document import Block, Heading, Paragraph
from reports.load import ATTACK, SELECTION
from reports.section import Inputs, Section


def _rows(inputs: Inputs) -> pd.DataFrame:
    settings = inputs.settings
    return transfer.transfer_rows(inputs.frame(ATTACK), inputs.frame(SELECTION), settings.resamples, settings.seed)


def _render(frame: pd.DataFrame) -> list[Block]:
    if frame.empty:
        return []
    return [
        Heading("Transfer attacks"),
        Paragraph(
            "Whether a merged model inherits its parents' adversarial prompts: each source's found prompt (per attack "
            "seed) scored unchanged on the other models, on the source attack's rows, next to each target's own "
            "attack on the same rows. " + " ".join(transfer.transfer_sizes(frame)) + "."
        ),
        transfer.transfer_table(frame),
    ]


SECTION = Section(name="transfer", reads=(ATTACK, SELECTION), compute=_rows, render=_render)

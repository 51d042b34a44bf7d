"""What lambda selection chose and on which split, the split-overlap check, and the lambda curves
(`reports.curves`)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from reports import curves, selection_check
from reports.document import Block, Bullets, Figure, Heading, Paragraph
from reports.load import CLEAN, SELECTION
from reports.section import Inputs, Section, figures
from reports.shared import OVERLAP, TABLE_ATTACKS
from reports.variants import chosen_models, recorded_setting
from robustness.experiment.spec.config import AXIS_MARK


@dataclass(frozen=True)
class Selection:
    lines: list[str]  # one per selection record
    overlap: str  # the overlap check between the two splits, in words
    curve: pd.DataFrame  # `reports.curves.curve_frame`
    check: selection_check.SelectionCheck  # every candidate against the plain merge, criteria under resampling


def _setting(record: object) -> str:
    return recorded_setting(record) or str(getattr(record, "method", ""))


def _selection(inputs: Inputs) -> Selection:
    selection = inputs.frame(SELECTION)
    lines = [
        f"{r.pair} {curves.method_text(str(r.method), _setting(r))}: {len(r.candidates)} candidates scored on the "
        f"{r.split} split ({r.criterion}); carried forward: {r.chosen_model_id}"
        + (" (a magnitude-axis point: not carried into the tables)" if AXIS_MARK in _setting(r) else "")
        for r in selection.sort_values("key").itertuples(index=False)
    ]
    overlap = inputs.get(OVERLAP)
    overlap_text = (
        "; ".join(f"{d}: {c} shared samples" for d, c in overlap.items()) if overlap else "not checkable (no split)"
    )
    curve = curves.curve_frame(selection, inputs.frame(CLEAN), inputs.get(TABLE_ATTACKS))
    check = selection_check.check_selection(inputs.frame(CLEAN), selection, chosen_models(selection),
                                            inputs.settings.resamples, inputs.settings.seed)  # fmt: skip
    return Selection(lines, overlap_text, curve, check)


def _render(data: Selection) -> list[Block]:
    blocks: list[Block] = [
        Heading("Lambda selection"),
        Paragraph(
            "Lambda is chosen on a selection split disjoint from the report split; all other tables use the report "
            f"split. Overlap check between the two splits' samples: {data.overlap}."
        ),
    ]
    if data.lines:
        blocks.append(Bullets(data.lines))
    if len(data.check.candidates):
        blocks += [selection_check.candidate_table(data.check.candidates),
                   selection_check.criterion_table(data.check.criteria)]  # fmt: skip
    blocks.append(curves.curve_table(data.curve))
    if len(data.curve) and data.curve["lambda"].notna().any():
        blocks.append(
            Figure(
                "lambda_curves",
                "Lambda curves",
                figures().lambda_curves(data.curve),
                "Metric against λ for every M3 candidate; the star marks the candidate chosen on the selection split.",
            )
        )
    return blocks


SECTION = Section(
    name="selection",
    reads=(SELECTION, CLEAN),
    uses=(OVERLAP, TABLE_ATTACKS),
    compute=_selection,
    render=_render,
)

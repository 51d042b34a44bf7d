"""The sample sizes behind the tables and the attacked lambda curve."""

from __future__ import annotations

from reports import attack_curve, provenance
from reports.document import Block, Bullets, Heading
from reports.section import Inputs, Section
from reports.shared import ROWS


def _sizes(inputs: Inputs) -> list[str]:
    rows = inputs.get(ROWS)
    return provenance.sample_sizes(rows.attacks, rows.clean, rows.ood) + attack_curve.curve_sizes(rows.curve)


def _render(sizes: list[str]) -> list[Block]:
    return [Heading("Sample sizes"), Bullets(sizes or ["none"])]


SECTION = Section(name="sample_sizes", uses=(ROWS,), compute=_sizes, render=_render)

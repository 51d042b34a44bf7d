"""Robustness under attack in the paper's Table 3 layout (`reports.table3`)."""

from __future__ import annotations

from reports import table3
from reports.section import Section, titled
from reports.shared import ROWS

SECTION = Section(name="table3", uses=(ROWS,), compute=lambda inputs: table3.attack_cells(inputs.get(ROWS).attacks),
                  render=titled("Robustness under attack (Table 3 layout)", table3.table3))  # fmt: skip

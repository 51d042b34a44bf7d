"""Clean scores of the models the report shows (`reports.clean`)."""

from __future__ import annotations

from reports import clean as clean_mod
from reports.section import Section, titled
from reports.shared import ROWS

SECTION = Section(name="clean", uses=(ROWS,), compute=lambda inputs: clean_mod.clean_cells(inputs.get(ROWS).clean),
                  render=titled("Clean scores", clean_mod.clean_table))  # fmt: skip

"""The report as a document: every table, figure and sentence, computed from a run's frames (no I/O).

`build_report` walks the report's sections in order (`reports.registry`; each one a `reports.section.Section` in
`reports.sections`) and gives every one the same `ReportContext`, so the data several sections read (the rows the
report shows, the split of the attack frame, the curve's points, the effects; `reports.shared`) is computed once.
Reading the store and writing the files is `reports.write`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from reports.document import Block, Figure, Table
from reports.load import RunData
from reports.registry import registered_sections
from reports.section import ReportContext, Section, Settings
from reports.shared import WARNINGS

DEFAULT_RESAMPLES = 2000
DEFAULT_PERMUTATIONS = 9999  # p >= 1/10000: Holm over 96 comparisons can still reach 0.01


@dataclass(frozen=True)
class Report:
    title: str
    blocks: list[Block]
    warnings: list[str]

    @property
    def tables(self) -> list[Table]:
        return [b for b in self.blocks if isinstance(b, Table)]

    @property
    def figures(self) -> list[Figure]:
        return [b for b in self.blocks if isinstance(b, Figure)]


def build_report(
    run: RunData,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    permutations: int = DEFAULT_PERMUTATIONS,
    sections: Sequence[Section[Any]] | None = None,
) -> Report:
    """Every table, figure and sentence of the report, from the run's frames (no I/O): the blocks of `sections`
    (default: the registered ones) in order, and the report's warnings."""
    context = ReportContext(run, Settings(resamples, seed, permutations))
    blocks = [
        block
        for section in (registered_sections() if sections is None else sections)
        for block in section.blocks(context)
    ]
    return Report(f"Robustness report: {run.name}", blocks, context.get(WARNINGS))

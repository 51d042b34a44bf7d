"""What a report section is, and the shared data its sections read.

A `Section` declares what it reads: the store kinds whose frames it reads itself (`reads`: some of the kinds that
`reports.load.RunData` holds) and the data derived once per report that it shares with other sections (`uses`, each
a `Shared`). It computes its data once from those (`compute`) and turns that data into blocks (`render`: headings,
paragraphs, bullets, tables and figures of `reports.document`). A `Shared` datum declares its inputs the same way
and is computed at most once per report, the first time a section (or another datum) asks for it.

A section or datum sees its declared inputs only (`Inputs`): asking for an undeclared frame or datum is an error,
so the declarations stay true. The run's name, meta table, failed counts and config history, and the report's
resampling settings, are open to every section.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from types import ModuleType
from typing import Any, Generic, TypeVar

import pandas as pd

from reports.document import Block, Heading, Paragraph
from reports.load import RunData

T = TypeVar("T")


@dataclass(frozen=True, eq=False, kw_only=True)
class Shared(Generic[T]):
    """Data derived from the run that several sections read: computed once per report, on first use."""

    name: str
    compute: Callable[[Inputs], T]
    reads: tuple[str, ...] = ()  # store kinds whose frames `compute` reads
    uses: tuple[Shared[Any], ...] = ()  # other shared data `compute` reads


@dataclass(frozen=True, eq=False, kw_only=True)
class Section(Generic[T]):
    """One part of the report: what it reads, the data it computes from that once, and the blocks it renders."""

    name: str  # its place in the registry (`reports.registry`), unique
    compute: Callable[[Inputs], T]
    render: Callable[[T], list[Block]]  # [] leaves the section out of this report
    reads: tuple[str, ...] = ()  # store kinds whose frames `compute` reads itself
    uses: tuple[Shared[Any], ...] = ()  # shared data `compute` reads

    def blocks(self, context: ReportContext) -> list[Block]:
        return self.render(self.compute(context.inputs(f"section {self.name!r}", self.reads, self.uses)))


@dataclass(frozen=True)
class Settings:
    """How the report's intervals and tests are computed (README, "Reading the statistics")."""

    resamples: int
    seed: int
    permutations: int


@dataclass
class ReportContext:
    """One report's run, settings and cache of shared data: every section of the report gets the same one."""

    run: RunData
    settings: Settings
    _cache: dict[Shared[Any], Any] = field(default_factory=dict, repr=False)

    def get(self, shared: Shared[T]) -> T:
        """`shared` of this report, computed on first use."""
        if shared not in self._cache:
            self._cache[shared] = shared.compute(self.inputs(f"shared data {shared.name!r}", shared.reads, shared.uses))
        value: T = self._cache[shared]
        return value

    def inputs(self, owner: str, reads: tuple[str, ...], uses: tuple[Shared[Any], ...]) -> Inputs:
        unknown = [kind for kind in reads if kind not in self.run.frames]
        if unknown:
            raise ValueError(f"{owner} reads unknown store kind(s) {unknown}; the run has {', '.join(self.run.frames)}")
        run = replace(self.run, frames={kind: self.run.frames[kind] for kind in reads})
        return Inputs(owner, run, self.settings, self, uses)


@dataclass(frozen=True)
class Inputs:
    """What one section or shared datum may read: its declared frames and shared data, the run's meta and the
    report's settings."""

    owner: str
    run: RunData  # holds the declared frames only
    settings: Settings
    _context: ReportContext = field(repr=False)
    _uses: tuple[Shared[Any], ...] = field(repr=False)

    def frame(self, kind: str) -> pd.DataFrame:
        if kind not in self.run.frames:
            raise LookupError(f"{self.owner} reads the {kind!r} frame without declaring it in `reads`")
        return self.run.frame(kind)

    def get(self, shared: Shared[T]) -> T:
        if shared not in self._uses:
            raise LookupError(f"{self.owner} reads shared data {shared.name!r} without declaring it in `uses`")
        return self._context.get(shared)


def figures() -> ModuleType:
    """matplotlib is imported only when a figure is drawn."""
    from reports import figures as drawn

    return drawn


def titled(heading: str, table: Callable[[Any], Block]) -> Callable[[Any], list[Block]]:
    """A `render` that puts `heading` above the one block `table` makes of the section's data."""
    return lambda data: [Heading(heading), table(data)]


def opening(heading: str, text: str, *blocks: Block) -> list[Block]:
    """A section's first blocks: its heading, the paragraph that says what it shows, then `blocks`."""
    return [Heading(heading), Paragraph(text), *blocks]

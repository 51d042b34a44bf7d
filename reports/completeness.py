"""Whether a run has finished every unit it planned, for a notice at the top of its report and a line on stderr.

A report of an unfinished run has empty or thin sections that look like results. The planned units are counted
as the runner counts them for its progress bar (`phase_one` plus `phase_two` with the plain merges standing in
for the candidates selection has not chosen yet); the finished ones are the store's done units that the current
config plans (units of an earlier config in the same folder do not count), per kind.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from reports.document import Block, Heading, Paragraph
from robustness.store import Store, record_types


@dataclass(frozen=True)
class Completeness:
    """Finished and planned units per kind; `planned` is None when the stored config cannot be planned."""

    done: dict[str, int]
    planned: dict[str, int] | None

    @property
    def complete(self) -> bool:
        return self.planned is not None and all(self.done.get(k, 0) >= n for k, n in self.planned.items())

    @property
    def incomplete(self) -> bool:
        return self.planned is not None and not self.complete

    def summary(self) -> str:
        """`incomplete run: 40 of 96 planned units done (clean 20/42, attack 4/28)`, naming the short kinds."""
        if self.planned is None:
            return "cannot tell whether the run is complete: its stored config is not an experiment this suite plans"
        done = sum(min(self.done.get(k, 0), n) for k, n in self.planned.items())
        short = [f"{k} {self.done.get(k, 0)}/{n}" for k, n in self.planned.items() if self.done.get(k, 0) < n]
        state = "incomplete" if short else "complete"
        detail = f" ({', '.join(short)})" if short else ""
        return f"{state} run: {done} of {sum(self.planned.values())} planned units done{detail}"


def run_completeness(run_dir: str | os.PathLike[str]) -> Completeness:
    with Store.open_readonly(run_dir) as store:
        config = store.config()
        planned = store.planned_keys()
        done = {kind: len(store.done_keys(kind) & planned if planned is not None else store.done_keys(kind))
                for kind in record_types()}  # fmt: skip
    return Completeness(done, planned_units(config))


def planned_units(config: dict[str, Any]) -> dict[str, int] | None:
    """Units per kind that `m3r run` plans for `config` (the stored experiment config), or None."""
    from robustness.experiment.planning.models import plain_models
    from robustness.experiment.planning.plan import Rows, phase_one, phase_two
    from robustness.experiment.planning.rows import stand_in_rows
    from robustness.experiment.spec.config import ExperimentConfig

    try:
        cfg = ExperimentConfig.model_validate(config)
    except ValidationError:
        return None
    e = cfg.eval
    # Counts do not depend on which rows or checkpoints: stand-ins of the right sizes are enough.
    rows: Rows = {d: stand_in_rows(e.selection_n, e.report_n, e.measure_n or 0) for d in e.datasets}
    stand_in = {m.model_id: m for m in plain_models(cfg)}
    units = [*phase_one(cfg, rows, {}), *phase_two(cfg, rows, stand_in, {})]
    counts = Counter(u.stored_as for u in units)
    return {kind: counts[kind] for kind in record_types() if counts[kind]}


def notice_blocks(status: Completeness) -> list[Block]:
    """The report's first section when the run is unfinished; nothing otherwise."""
    if not status.incomplete:
        return []
    return [
        Heading("INCOMPLETE RUN"),
        Paragraph(
            f"{status.summary()}. The tables below hold only the finished units; sections may be empty or thin, "
            "and no comparison is final. Resume the run with m3r run and its config (finished units are skipped), "
            "then render the report again."
        ),
    ]

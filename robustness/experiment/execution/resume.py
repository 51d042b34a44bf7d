"""What a rerun with a changed config reuses from its run folder's store, counted before any unit runs.

Unit keys depend only on a unit's inputs, so a unit the new config plans with unchanged inputs has its old key and
is reused. Phase two's keys depend on which candidate each selection chose: where a selection is not stored yet,
stored units that phase two would plan for one of its candidates are neither reused nor dropped yet ("waiting").
"""

from __future__ import annotations

from dataclasses import dataclass


def units(n: int, what: str = "unit") -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


@dataclass(frozen=True)
class Reuse:
    reused: int  # stored units the new plan holds
    dropped: int  # stored units it no longer plans (kept in the store, left out of reports)
    waiting: int  # stored units of candidates whose selection has not run yet: reused if selection picks them
    to_run: int  # planned units not stored (an upper bound while units are waiting)

    def line(self) -> str:
        """`config changed since the last run: 40 stored units reused, 12 no longer planned (...), 8 to run`."""
        head = (
            f"config changed since the last run: {units(self.reused, 'stored unit')} reused, {self.dropped} no longer "
            "planned (kept in the store, not reported), "
        )
        if not self.waiting:
            return head + f"{self.to_run} to run"
        return head + f"up to {self.to_run} to run ({self.waiting} more stored may be reused once selection has run)"


def count_reuse(stored: set[str], known: set[str], possible: set[str], total: int) -> Reuse:
    """`stored`: keys of the finished units; `known`: the plan's keys known now; `possible`: the keys phase two
    would add for each candidate a pending selection may choose; `total`: how many units the plan has in all."""
    reused = len(known & stored)
    waiting = len((possible - known) & stored)
    return Reuse(reused, len(stored) - reused - waiting, waiting, total - reused)

"""How lambda selection ranks M3 candidates: one number per candidate from its clean scores on the selection rows.

Accuracy (chance 0.5) and MCC (chance 0) are not on one scale, so their plain mean favours whichever task moves
more in raw points. The default criterion, `normalised_gain`, puts every task on the scale merging papers use:
the merged model's gain over the base, as a share of the best expert's gain on that task (1 = as good as the
task's expert, 0 = no better than the base), measured on the same selection rows, averaged over the tasks.
`worst_task` ranks by the smallest normalised gain over the tasks instead: a candidate that gives up one task for
another (an SST-2 accuracy back at chance beside a CoLA gain) ranks low, whatever the other task's noisy gain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

CRITERIA = {
    "normalised_gain": "normalised gain over the base, (merged - base) / (best expert - base), mean over",
    "worst_task": "normalised gain over the base, (merged - base) / (best expert - base), smallest over",
    "mean_metric": "mean clean metric over",
}
NORMALISED = ("normalised_gain", "worst_task")  # the criteria that read the base's and experts' scores


@dataclass(frozen=True)
class Ranked:
    score: float  # what the candidates are ranked by
    normalised: dict[str, float | None]  # per dataset; None where no expert beats the base (left out of the score)


def normalised_gain(metric: float, base: float, best_expert: float) -> float | None:
    """(metric - base) / (best_expert - base); None when no expert beats the base, so the scale has no unit."""
    gain = best_expert - base
    return None if gain <= 0 else (metric - base) / gain


def rank_candidate(
    metrics: Mapping[str, float],
    base: Mapping[str, float] | None,
    experts: Sequence[Mapping[str, float]],
    criterion: str = "normalised_gain",
) -> Ranked:
    """The candidate's score: the mean (`normalised_gain`) or smallest (`worst_task`) normalised gain over the
    datasets where it is defined, or, without references (criterion `mean_metric`) or where it is defined on no
    dataset, the mean raw metric."""
    if base is None:
        return Ranked(sum(metrics.values()) / len(metrics), {})
    normalised = {d: normalised_gain(m, base[d], max(e[d] for e in experts)) for d, m in metrics.items()}
    defined = [v for v in normalised.values() if v is not None]
    if not defined:
        return Ranked(sum(metrics.values()) / len(metrics), normalised)
    score = min(defined) if criterion == "worst_task" else sum(defined) / len(defined)
    return Ranked(score, normalised)


def describe(criterion: str, datasets: Sequence[str], rows: int, undefined: Sequence[str] = ()) -> str:
    """The criterion in words, as the selection record and the report state it."""
    text = f"{CRITERIA[criterion]} {', '.join(datasets)} on {rows} selection rows"
    if undefined:
        text += f" ({', '.join(undefined)} left out: no expert beats the base there)"
    return text

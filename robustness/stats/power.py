"""How large a difference a held-out attack design can detect, before it runs and after.

After: from the realised standard error and degrees of freedom of the crossed test (`detectable`). Before (`m3r
plan`): the same quantity for a planned design, from the crossed test's standard error over studies simulated with
the search model (robustness/stats/search_model.py) under no true difference: the median SE and df over `studies`
simulations. The model's standard deviations are assumptions (its defaults) unless the caller passes fitted ones,
and the plan says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from robustness.stats.crossed import SEED_BOUND, Components, crossed_test
from robustness.stats.search_model import Design, SearchModel, simulate

POWER = 0.8
ALPHA = 0.05


def detectable(se: float | None, df: float | None, comparisons: int) -> float | None:
    """The smallest true difference a design detects with `POWER` at level `ALPHA` after Holm over `comparisons`
    (taken at its strictest, ALPHA / comparisons), given a standard error and degrees of freedom:
    (t_{1 - ALPHA / (2 m)} + t_{POWER}) x SE. So "not significant" reads "no difference larger than this"."""
    if se is None or df is None or not comparisons:
        return None
    return float((stats.t.ppf(1 - ALPHA / (2 * comparisons), df) + stats.t.ppf(POWER, df)) * se)


def projected(parts: Components, seeds: int, rows: int, comparisons: int) -> tuple[float, float, float | None]:
    """(SE, df, detectable difference) of a design with `seeds` searches and `rows` measurement rows, from variance
    components measured on another design: the expected mean squares, combined as the crossed test combines the
    observed ones (robustness/stats/crossed.py)."""
    if seeds < 1 or rows < 3:
        raise ValueError("a projection needs at least 1 seed and 3 rows")
    ms_seed, ms_row = rows * parts.seed + parts.error, seeds * parts.row + parts.error
    if seeds == 1:  # one search: the test holds its prompt fixed, so only the rows' spread counts
        se = math.sqrt(ms_row / rows)
        return se, float(rows - 1), detectable(se, float(rows - 1), comparisons)
    total = max(ms_seed + ms_row - parts.error, ms_seed, ms_row)
    se = math.sqrt(total / (seeds * rows))
    pessimistic = ms_seed * (seeds - 1) / float(stats.chi2.ppf(1 - SEED_BOUND, seeds - 1))
    df = (pessimistic + ms_row) ** 2 / (pessimistic**2 / (seeds - 1) + ms_row**2 / (rows - 1))
    return se, df, detectable(se, df, comparisons)


def seeds_for(target: float, parts: Components, rows: int, comparisons: int, most: int = 200) -> int | None:
    """The fewest searches (seeds) that detect `target` with `POWER` after Holm at `rows` measurement rows; None
    when even `most` do not."""
    for seeds in range(2, most + 1):
        found = projected(parts, seeds, rows, comparisons)[2]
        if found is not None and found <= target:
            return seeds
    return None


def family_holm(pvalues: Sequence[float | None], primary: Sequence[bool],
                others: Sequence[float | None] = ()) -> tuple[list[float | None], int]:  # fmt: skip
    """Holm over a primary family of which `pvalues` (where `primary`) are one part and `others` the rest: the
    adjusted p-values of this part (None outside the family) and the family's size (comparisons with a p-value)."""
    from robustness.stats.holm import holm

    mine = [p if f else None for p, f in zip(pvalues, primary, strict=True)]
    adjusted = holm([*mine, *others])[: len(mine)]
    size = sum(1 for p in [*mine, *others] if p is not None and not math.isnan(p))
    return adjusted, size


@dataclass(frozen=True)
class PlannedPower:
    seeds: int
    rows: int
    metric: str
    se: float  # median over the simulated studies
    df: float
    detectable: float | None  # after Holm over the family's comparisons
    over_searches: bool  # False with one seed: the test holds the found prompt fixed
    components: Components | None = None  # mean over the simulated studies (or measured); None with one seed

    def seeds_for(self, target: float, comparisons: int) -> int | None:
        """The searches that would detect `target` on this design's rows (None: none within 200, or one seed)."""
        return None if self.components is None else seeds_for(target, self.components, self.rows, comparisons)


def planned_power(design: Design, metric: str, comparisons: int, model: SearchModel | None = None,
                  studies: int = 100, seed: int = 0) -> PlannedPower:  # fmt: skip
    """The detectable difference of a planned design (`design.measure_rows` >= 3) on `metric` (accuracy or mcc)."""
    if design.measure_rows < 3:
        raise ValueError("a held-out design needs at least 3 measurement rows (eval.measure_n)")
    model = model or SearchModel()
    rng = np.random.default_rng(seed)
    ses, dfs, parts = [], [], []
    for _ in range(studies):
        study = simulate(rng, model, design)
        result = crossed_test(study.attacked[0], study.attacked[1], study.labels, metric)
        if result.se is not None and result.df is not None:
            ses.append(result.se)
            dfs.append(result.df)
        if result.components is not None:
            parts.append((result.components.seed, result.components.row, result.components.error))
    se, df = float(np.median(ses)), float(np.median(dfs))
    mean = Components(*(float(x) for x in np.mean(parts, axis=0))) if parts else None
    return PlannedPower(design.seeds, design.measure_rows, metric, se, df, detectable(se, df, comparisons),
                        design.seeds >= 2, mean)  # fmt: skip

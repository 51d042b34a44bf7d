"""Paired tests across replicates (attack seeds): does arm A beat arm B consistently, seed by seed?

Each seed contributes one number per arm (its metric or PDR on that seed's rows). These tests speak to the
variation between attack seeds, which the row-level permutation test and the bootstrap interval hold fixed; with
3 seeds they have 2 degrees of freedom and little power, so "not significant" here means "could not tell".

- The paired t-test (scipy's `ttest_rel`) needs two seeds and some spread in the differences.
- When every seed gives the same difference the t statistic is infinite and its p-value 0, which would claim
  certainty from a handful of numbers; the exact sign-flip test over seeds is used instead (scipy's
  `permutation_test`): all differences equal and nonzero on n seeds give p = 2 / 2^n, all zero give p = 1.
- The Wilcoxon signed-rank test is added from six seeds on, where it can reach p < 0.05 at all.
- A seed with an undefined value (PDR with a clean metric <= 0) makes the mean over seeds undefined; testing the
  remaining seeds would test another quantity than the one reported, so there is no test.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

WILCOXON_MIN = 6
# Differences equal to this are one value: metrics computed two ways differ in the last bits, not in substance.
CONSTANT_ATOL = 1e-12


@dataclass(frozen=True)
class SeedTest:
    n: int  # replicates the test saw
    t: float | None
    p: float | None  # the paired t-test's, or the exact sign-flip test's when the t-test is undefined
    method: str  # 'paired t-test', 'exact sign-flip' or '' (no test)
    p_wilcoxon: float | None
    note: str  # '' when the t-test and, from WILCOXON_MIN seeds on, Wilcoxon ran as planned


def paired_seed_test(a: Sequence[float | None], b: Sequence[float | None]) -> SeedTest:
    """Paired tests of per-replicate values, one value per arm and replicate (None: undefined)."""
    if len(a) != len(b):
        raise ValueError("the two arms need one value per replicate each")
    missing = sum(x is None or y is None for x, y in zip(a, b, strict=True))
    n = len(a)
    if missing:
        return SeedTest(n, None, None, "", None, f"undefined on {missing} of {n} seed(s): no test across seeds")
    if n < 2:
        return SeedTest(n, None, None, "", None, f"{n} seed(s): no test across seeds")
    xa = np.array(a, dtype=np.float64)
    xb = np.array(b, dtype=np.float64)
    diffs = xa - xb
    if np.allclose(diffs, diffs[0], rtol=0, atol=CONSTANT_ATOL):
        what = "identical on every seed" if abs(diffs[0]) <= CONSTANT_ATOL else "the same difference on every seed"
        note = f"arms {what}: t-test undefined, exact sign-flip test over the {n} seeds"
        return SeedTest(n, None, sign_flip_p(diffs), "exact sign-flip", _wilcoxon(xa, xb), note)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # near-constant differences: scipy warns, result stands
        result = stats.ttest_rel(xa, xb)
    t, p = _finite(float(result.statistic)), _finite(float(result.pvalue))
    note = "" if n >= WILCOXON_MIN else f"Wilcoxon needs >= {WILCOXON_MIN} seeds"
    return SeedTest(n, t, p, "paired t-test" if p is not None else "", _wilcoxon(xa, xb), note)


def sign_flip_p(diffs: np.ndarray) -> float:
    """Exact two-sided p of the mean difference over every sign assignment (scipy's `permutation_test`)."""
    if np.allclose(diffs, 0, rtol=0, atol=CONSTANT_ATOL):
        return 1.0  # every assignment gives 0: nothing is more extreme than nothing
    result = stats.permutation_test(
        (diffs,), np.mean, permutation_type="samples", n_resamples=np.inf, alternative="two-sided"
    )
    return float(result.pvalue)


def _wilcoxon(xa: np.ndarray, xb: np.ndarray) -> float | None:
    if len(xa) < WILCOXON_MIN or np.allclose(xa, xb, rtol=0, atol=CONSTANT_ATOL):
        return None
    return _finite(float(stats.wilcoxon(xa, xb).pvalue))


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None

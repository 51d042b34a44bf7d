"""Paired permutation (sign-flip) test of A - B on per-row outcomes, pooled over seeds and stratified by seed.

Null hypothesis: on every row, the two arms' outcomes are exchangeable; for the attacked prompts found, M3's and
plain's predictions on a row could as well have been the other way round. Under it, swapping the arm labels of any
set of rows leaves the distribution of the data unchanged. The test swaps the arms of each distinct row with
probability 1/2 (clean and attacked predictions together, and the same swap in every seed that used the row: a
row's outcomes in different seeds are not independent), recomputes the statistic, and counts how often its size
reaches the observed one. The statistic is the estimate itself: the mean over seeds of the per-seed A - B
difference in the metric, or in PDR, each seed's metric computed on that seed's rows only (stratified by seed). So
MCC and PDR are recomputed from the permuted predictions, never approximated by a per-row score.

With few informative rows (rows where the arms differ) every assignment is enumerated and the p-value is exact,
as `scipy.stats.permutation_test` computes it; otherwise assignments are drawn and p = (1 + hits) / (1 + draws),
which is a valid p-value at any number of draws. An assignment under which PDR is undefined (a permuted clean
metric <= 0) counts as at least as extreme: conservative. Two-sided throughout.

What it can show: that on these rows, under these attacked prompts, the arms differ by more than row-level chance.
What it cannot show: that another attack seed would find prompts that give the same difference; the test is
conditional on the attacked prompts found, like the bootstrap interval (README, "Reading the statistics").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from robustness.stats.bootstrap import CHUNK_CELLS, QUANTITIES
from robustness.stats.pairing import PairedRun, SharedRows, shared_rows
from robustness.stats.resample import batch_metric

# Agreement within this relative tolerance counts as "as extreme": the statistic is recomputed in another order
# under each assignment and differs from the observed one in the last bits (scipy uses the same rule).
RELATIVE_TOLERANCE = 100 * np.finfo(np.float64).eps


@dataclass(frozen=True)
class PermutationTest:
    quantity: str
    p: float | None  # None when the observed statistic is undefined (PDR with a clean metric <= 0)
    assignments: int  # arm assignments evaluated (every one of them when `exact`)
    exact: bool
    undefined: int  # assignments under which the statistic was undefined (counted as extreme)
    informative_rows: int  # rows whose outcomes differ between the arms (the others cannot move the statistic)


def paired_permutation_test(
    runs: Sequence[PairedRun], metric_name: str, permutations: int = 9999, seed: int = 0
) -> dict[str, PermutationTest]:
    """Two-sided p-values for A - B in clean metric, attacked metric and PDR (keys of `QUANTITIES`)."""
    if permutations < 1:
        raise ValueError("permutations must be >= 1")
    rows = shared_rows(runs)
    informative = _informative(rows)
    k = int(informative.sum())
    exact = 2**k <= permutations + 1
    if exact:
        patterns = ((np.arange(2**k)[:, None] >> np.arange(k)) & 1).astype(bool)
        flips = np.zeros((2**k, rows.n_rows), dtype=bool)
        flips[:, informative] = patterns
    else:
        flips = np.random.default_rng(seed).random((permutations, rows.n_rows)) < 0.5
    observed, observed_ok = _statistics(rows, metric_name, np.zeros((1, rows.n_rows), dtype=bool))
    step = max(1, CHUNK_CELLS // max(1, rows.n_pairs))
    hits = dict.fromkeys(QUANTITIES, 0)
    undefined = dict.fromkeys(QUANTITIES, 0)
    for start in range(0, len(flips), step):
        values, ok = _statistics(rows, metric_name, flips[start : start + step])
        for q in QUANTITIES:
            size = abs(observed[q][0])
            extreme = ~ok[q] | (np.abs(values[q]) >= size - RELATIVE_TOLERANCE * size)
            hits[q] += int(extreme.sum())
            undefined[q] += int((~ok[q]).sum())
    out = {}
    for q in QUANTITIES:
        p: float | None = hits[q] / len(flips) if exact else (1 + hits[q]) / (1 + len(flips))
        out[q] = PermutationTest(q, p if observed_ok[q][0] else None, len(flips), exact, undefined[q], k)
    return out


def _informative(rows: SharedRows) -> np.ndarray:
    """Rows where the arms' clean or attacked prediction differs in some seed."""
    differs = np.zeros(rows.n_rows, dtype=bool)
    for run, pos in zip(rows.runs, rows.positions, strict=True):
        differs[pos] |= (run.a_clean != run.b_clean) | (run.a_attacked != run.b_attacked)
    return differs


def _statistics(
    rows: SharedRows, metric_name: str, flips: np.ndarray
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The statistic under each assignment (row of `flips`: True swaps that row's arms) and where it is defined."""
    sums = {q: np.zeros(len(flips)) for q in QUANTITIES}
    ok_pdr = np.ones(len(flips), dtype=bool)
    for run, pos in zip(rows.runs, rows.positions, strict=True):
        f = flips[:, pos]
        ac, bc = np.where(f, run.b_clean, run.a_clean), np.where(f, run.a_clean, run.b_clean)
        aa, ba = np.where(f, run.b_attacked, run.a_attacked), np.where(f, run.a_attacked, run.b_attacked)
        mac, maa, mbc, mba = (batch_metric(metric_name, run.labels, p) for p in (ac, aa, bc, ba))
        sums["clean"] += mac - mbc
        sums["attacked"] += maa - mba
        ok = (mac > 0) & (mbc > 0)
        ok_pdr &= ok
        with np.errstate(divide="ignore", invalid="ignore"):
            sums["pdr"] += np.where(ok, (mac - maa) / mac - (mbc - mba) / mbc, 0.0)
    always = np.ones(len(flips), dtype=bool)
    return {q: v / rows.n_seeds for q, v in sums.items()}, {"clean": always, "attacked": always, "pdr": ok_pdr}

"""Intervals for one model's clean metric, attacked metric and PDR on its attack replicates (no second arm).

The attacked lambda curve puts one point per M3 candidate (and the plain merge as a reference line): each point is
that model's own values, mean over attack seeds, and needs an interval of its own rather than a difference.

Resampling scheme: the paired bootstrap's (`bootstrap`), with one arm. The distinct rows of all replicates, sorted
by index, are the population; `rng.integers(0, N, size=(B, N))` with `rng = numpy.random.default_rng(seed)` draws
B resamples at once; each replicate keeps the drawn rows it contains, as often as they were drawn; its metrics are
recomputed on them and averaged over replicates; the interval is the percentile interval of the B averages. Rows,
not (row, seed) pairs, are resampled, because seeds draw their rows from the same report rows and a row's clean
prediction is the same in every seed (README, "Reading the statistics").

PDR = (clean - attacked) / clean is a ratio of two metrics on the same rows. A drawn row brings its clean and its
attacked prediction together, so each resample's PDR is computed from clean and attacked metrics of the same
resampled rows: the interval keeps the within-row pairing that makes a drop a drop (a row right on the clean
prompt and wrong on the attacked one). Resampling the clean and the attacked rows apart would ignore the strong
positive correlation of the two metrics: on simulated studies (tests/studies.py, one seed of 120 rows) such
intervals were 0.33 wide and covered the true PDR 99% of the time, the paired ones 0.24 wide and 94%. The
percentile interval suits a ratio, whose sampling distribution is skewed. A resample whose clean metric is <= 0
on some seed has no PDR and is left out, and where more than `MAX_UNDEFINED` of them are, the interval is withheld
(the estimate sits near a clean metric of 0). With one replicate, the clean and attacked intervals equal
`metric_interval`'s with the same seed. On 2,000 simulated studies with 3 seeds (tests/test_arm_interval.py) the
intervals covered the population's attacked accuracy 94.6% of the time, on shared rows and with 50 of 200 rows per
seed alike, and its PDR 94.0% and 94.4%.

Like the paired bootstrap, the interval is conditional on the attacked prompts the attack found for each seed: it
covers the sampling of rows, not the chance that another seed finds a stronger or weaker prompt.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from robustness.metrics import pdr
from robustness.stats.bootstrap import (
    CHUNK_CELLS,
    QUANTITIES,
    BootstrapInterval,
    percentile_intervals,
    resample_counts,
    run_metrics,
)
from robustness.stats.pairing import ArmRun, SharedRows, pair_runs, shared_rows
from robustness.stats.resample import batch_metric


def arm_values(runs: Mapping[str, ArmRun], metric_name: str) -> dict[str, float | None]:
    """The full-sample values: clean metric, attacked metric and PDR, each the mean over replicates (PDR None when
    any replicate's clean metric is <= 0: a mean over the seeds that have one would be another quantity)."""
    rows = _rows(runs)
    clean, attacked, drops = [], [], []
    for run in rows.runs:
        c, a, _, _ = run_metrics(run, metric_name)
        clean.append(c)
        attacked.append(a)
        drops.append(pdr(c, a))
    defined = [d for d in drops if d is not None]
    return {
        "clean": float(np.mean(clean)),
        "attacked": float(np.mean(attacked)),
        "pdr": float(np.mean(defined)) if len(defined) == len(drops) else None,
    }


def arm_bootstrap(
    runs: Mapping[str, ArmRun], metric_name: str, resamples: int = 2000, seed: int = 0, level: float = 0.95
) -> dict[str, BootstrapInterval]:
    """Percentile intervals for one arm's clean metric, attacked metric and PDR (keys of `QUANTITIES`), each the
    mean over the replicates `runs` (replicate name -> the arm's run on it)."""
    if not runs:
        raise ValueError("no replicates to bootstrap")
    if resamples < 1 or not 0 < level < 1:
        raise ValueError("resamples must be >= 1 and level in (0, 1)")
    rows = _rows(runs)
    counts = resample_counts(rows, resamples, seed)
    step = max(1, CHUNK_CELLS // max(1, rows.n_pairs))
    parts = [_resampled(rows, metric_name, counts[i : i + step]) for i in range(0, resamples, step)]
    values = {q: np.concatenate([p[0][q] for p in parts]) for q in QUANTITIES}
    drawn = np.concatenate([p[1] for p in parts])
    ok_pdr = np.concatenate([p[2] for p in parts])
    return percentile_intervals(arm_values(runs, metric_name), values, drawn, ok_pdr, level)


def _rows(runs: Mapping[str, ArmRun]) -> SharedRows:
    """The replicates aligned on their distinct rows. The arm is paired with itself only to reuse the checks and
    the alignment of `pairing` (sorted indices, one label per row); the second arm's columns are not read."""
    return shared_rows(pair_runs(runs, runs).runs)


def _resampled(
    rows: SharedRows, metric_name: str, counts: np.ndarray
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Per resample: the values averaged over replicates, which resamples have a value, which have a PDR."""
    out = {q: np.zeros(len(counts)) for q in QUANTITIES}
    drawn = np.ones(len(counts), dtype=bool)
    ok_pdr = np.ones(len(counts), dtype=bool)
    for run, pos in zip(rows.runs, rows.positions, strict=True):
        w = counts[:, pos]
        clean = batch_metric(metric_name, run.labels, run.a_clean, w)
        attacked = batch_metric(metric_name, run.labels, run.a_attacked, w)
        has = w.sum(axis=1) > 0
        drawn &= has
        ok = has & (clean > 0)
        ok_pdr &= ok
        with np.errstate(divide="ignore", invalid="ignore"):  # where the clean metric is <= 0 the value is dropped
            out["pdr"] += np.where(ok, (clean - attacked) / clean, 0.0)
        out["clean"] += np.where(has, clean, 0.0)
        out["attacked"] += np.where(has, attacked, 0.0)
    return {q: v / rows.n_seeds for q, v in out.items()}, drawn, ok_pdr & drawn

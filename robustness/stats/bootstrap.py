"""Paired bootstrap of an arm-A-minus-arm-B difference (M3 minus plain) in clean metric, attacked metric and PDR.

The unit resampled is the sample (a report row), jointly across attack seeds: seeds draw their rows from the same
report rows and a row's clean prediction is the same in every seed, so resampling rows independently within each
seed treats correlated seeds as independent and gives intervals that are too narrow (README, "Reading the
statistics").

Resampling scheme (the contract the tests replay with a plain loop): the distinct samples of all replicates,
sorted by index, are the population (`SharedRows`); with `rng = numpy.random.default_rng(seed)` draw
`rng.integers(0, N, size=(B, N))` once. Row b of that draw is resample b: every replicate keeps the drawn samples
it contains, as often as they were drawn, and both arms use the same resample (that is the pairing). Each
resample's metrics are recomputed per replicate, per-replicate differences are averaged over replicates, and the
interval is the percentile interval of those B averages.

The interval is conditional on the attacked prompts the attack found for each seed: it covers the sampling of
rows, not the chance of finding other prompts with another seed (the seed-level test speaks to that).

A resample has no value when a replicate drew none of its samples, and for PDR when any replicate's clean metric
is <= 0 in either arm (attacks.md). Where the full-sample estimate is undefined there is no interval; where more
than `MAX_UNDEFINED` of the resamples have no value the interval is withheld too (the ones left are not a sample
of the estimator's distribution but a conditional slice of it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from robustness.metrics import METRICS, pdr
from robustness.stats.pairing import PairedRun, SharedRows, shared_rows
from robustness.stats.resample import batch_metric

QUANTITIES = ("clean", "attacked", "pdr")
MAX_UNDEFINED = 0.025  # share of resamples without a value above which no interval is given
CHUNK_CELLS = 4_000_000  # resamples x (sample, seed) pairs computed at once: bounds memory on large studies


@dataclass(frozen=True)
class BootstrapInterval:
    """Observed difference (A - B, mean over replicates) and its percentile interval."""

    quantity: str
    estimate: float | None  # None: undefined on the full samples (PDR with a clean metric <= 0)
    low: float | None  # None with `estimate`, or when too many resamples had no value (`withheld`)
    high: float | None
    resamples: int  # B
    used: int  # resamples that gave a value

    @property
    def skipped(self) -> int:
        return self.resamples - self.used

    @property
    def withheld(self) -> bool:
        """Defined estimate, but more than MAX_UNDEFINED of the resamples had no value: no interval."""
        return self.estimate is not None and self.skipped > MAX_UNDEFINED * self.resamples


def derived_seed(seed: int, *parts: str) -> int:
    """A seed for one comparison, from the report's seed and the comparison's name.

    Each comparison gets its own stream, so adding or removing a comparison never changes another's interval.
    """
    digest = hashlib.sha256("/".join([str(seed), *parts]).encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def observed(runs: Sequence[PairedRun], metric_name: str) -> dict[str, float | None]:
    """The full-sample differences, computed with `robustness.metrics` (no resampling)."""
    clean, attacked, drops = [], [], []
    for run in runs:
        ac, aa, bc, ba = run_metrics(run, metric_name)
        clean.append(ac - bc)
        attacked.append(aa - ba)
        pa, pb = pdr(ac, aa), pdr(bc, ba)
        drops.append(None if pa is None or pb is None else pa - pb)
    defined = [d for d in drops if d is not None]
    return {
        "clean": float(np.mean(clean)),
        "attacked": float(np.mean(attacked)),
        "pdr": float(np.mean(defined)) if len(defined) == len(drops) else None,
    }


def resample_counts(rows: SharedRows, resamples: int, seed: int) -> np.ndarray:
    """(B, N) counts: how often resample b drew distinct sample j (the scheme in the module docstring)."""
    n = rows.n_rows
    draws = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    flat = (draws + n * np.arange(resamples)[:, None]).ravel()
    return np.bincount(flat, minlength=resamples * n).reshape(resamples, n)


def weighted_differences(
    rows: SharedRows, metric_name: str, counts: np.ndarray
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Per resample: the A - B differences averaged over replicates, and which resamples have a value.

    Returns (differences by quantity, defined for clean/attacked, defined for PDR)."""
    out = {q: np.zeros(len(counts)) for q in QUANTITIES}
    drawn = np.ones(len(counts), dtype=bool)
    ok_pdr = np.ones(len(counts), dtype=bool)
    for run, pos in zip(rows.runs, rows.positions, strict=True):
        w = counts[:, pos]
        ac, aa, bc, ba = (
            batch_metric(metric_name, run.labels, p, w)
            for p in (run.a_clean, run.a_attacked, run.b_clean, run.b_attacked)
        )
        has = w.sum(axis=1) > 0
        drawn &= has
        ok = has & (ac > 0) & (bc > 0)
        ok_pdr &= ok
        with np.errstate(divide="ignore", invalid="ignore"):  # where a clean metric is <= 0 the value is dropped
            out["pdr"] += np.where(ok, (ac - aa) / ac - (bc - ba) / bc, 0.0)
        out["clean"] += np.where(has, ac - bc, 0.0)
        out["attacked"] += np.where(has, aa - ba, 0.0)
    return {q: v / rows.n_seeds for q, v in out.items()}, drawn, ok_pdr & drawn


def paired_bootstrap(
    runs: Sequence[PairedRun], metric_name: str, resamples: int = 2000, seed: int = 0, level: float = 0.95
) -> dict[str, BootstrapInterval]:
    """Intervals for the A - B difference in clean metric, attacked metric and PDR (keys of `QUANTITIES`)."""
    if not runs:
        raise ValueError("no paired replicates to bootstrap")
    if resamples < 1 or not 0 < level < 1:
        raise ValueError("resamples must be >= 1 and level in (0, 1)")
    rows = shared_rows(runs)
    counts = resample_counts(rows, resamples, seed)
    step = max(1, CHUNK_CELLS // max(1, rows.n_pairs))
    parts = [weighted_differences(rows, metric_name, counts[i : i + step]) for i in range(0, resamples, step)]
    values = {q: np.concatenate([p[0][q] for p in parts]) for q in QUANTITIES}
    drawn = np.concatenate([p[1] for p in parts])
    ok_pdr = np.concatenate([p[2] for p in parts])
    return percentile_intervals(observed(rows.runs, metric_name), values, drawn, ok_pdr, level)


def percentile_intervals(
    estimates: dict[str, float | None],
    values: dict[str, np.ndarray],
    drawn: np.ndarray,
    ok_pdr: np.ndarray,
    level: float,
) -> dict[str, BootstrapInterval]:
    """Percentile intervals of each quantity's resampled values, over the resamples that have a value (`drawn`;
    `ok_pdr` for PDR); none where the estimate is undefined or more than MAX_UNDEFINED of them have no value."""
    resamples = len(drawn)
    tails = [100 * (1 - level) / 2, 100 * (1 + level) / 2]
    out = {}
    for q in QUANTITIES:
        keep = ok_pdr if q == "pdr" else drawn
        used = int(keep.sum())
        low = high = None
        if estimates[q] is not None and used and resamples - used <= MAX_UNDEFINED * resamples:
            low, high = (float(v) for v in np.percentile(values[q][keep], tails))
        out[q] = BootstrapInterval(q, estimates[q], low, high, resamples, used)
    return out


def run_metrics(run: PairedRun, metric_name: str) -> tuple[float, float, float, float]:
    """Full-sample metrics of one replicate: A clean, A attacked, B clean, B attacked (`robustness.metrics`)."""
    metric = METRICS[metric_name]
    y = run.labels.tolist()
    ac, aa, bc, ba = (metric(y, p.tolist()) for p in (run.a_clean, run.a_attacked, run.b_clean, run.b_attacked))
    return ac, aa, bc, ba

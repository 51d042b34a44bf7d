"""A percentile bootstrap interval for one model's metric on one set of rows (a clean score)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from robustness.stats.resample import batch_metric


def metric_interval(
    metric_name: str,
    labels: Sequence[int],
    predictions: Sequence[int],
    resamples: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """The `level` percentile interval of accuracy or MCC over `resamples` row resamples (rows drawn with
    replacement, as many as there are). It covers row sampling only: the model and the prompt are fixed."""
    if not labels or len(labels) != len(predictions):
        raise ValueError("need as many predictions as labels, at least one")
    rng = np.random.default_rng(seed)
    n = len(labels)
    idx = rng.integers(0, n, size=(resamples, n))
    values = batch_metric(metric_name, np.asarray(labels)[idx], np.asarray(predictions)[idx])
    tails = [100 * (1 - level) / 2, 100 * (1 + level) / 2]
    low, high = np.percentile(values, tails)
    return float(low), float(high)

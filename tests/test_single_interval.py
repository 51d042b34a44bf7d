"""The clean-score interval that `m3r models` prints: its coverage, simulated, and its edge cases."""

from __future__ import annotations

import numpy as np
import pytest

from robustness.stats import metric_interval


def test_a_perfect_model_has_a_point_interval() -> None:
    assert metric_interval("accuracy", [0, 1, 1, 0], [0, 1, 1, 0]) == (1.0, 1.0)
    with pytest.raises(ValueError, match="as many predictions as labels"):
        metric_interval("mcc", [0, 1], [1])


@pytest.mark.parametrize(("metric", "truth"), [("accuracy", 0.8), ("mcc", None)])
def test_the_95_percent_interval_covers_the_truth_95_percent_of_the_time(metric: str, truth: float | None) -> None:
    """300 simulated test sets of 300 rows from one known model: accuracy 0.8; for MCC, a model whose predictions
    agree with a 30%-positive label 80% of the time (its population MCC computed on a million rows)."""
    rng = np.random.default_rng(0)

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = (rng.random(n) < 0.3).astype(int)
        right = rng.random(n) < 0.8
        return y, np.where(right, y, 1 - y)

    if truth is None:
        from robustness.metrics import mcc

        big_y, big_p = draw(1_000_000)
        truth = mcc(big_y.tolist(), big_p.tolist())
    hits = 0
    for k in range(300):
        y, p = draw(300)
        low, high = metric_interval(metric, y.tolist(), p.tolist(), resamples=1000, seed=k)
        hits += low <= truth <= high
    assert 0.91 <= hits / 300 <= 0.985, hits / 300

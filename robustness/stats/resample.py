"""Accuracy and MCC over many resamples or permutations at once.

The definitions are those of `robustness.metrics` (unknown predictions, -1, count as wrong; MCC follows
scikit-learn's formula, 0 when a marginal is constant). Calling those per resample costs milliseconds each, and a
report needs hundreds of thousands, so the resamples are computed here as one array operation; the tests check
every value against `robustness.metrics` on the same resamples.

A bootstrap resample is given as weights: how many times each sample was drawn. A metric on integer weights is the
metric on the sample list with each sample repeated that many times; a row of zero total weight has no value (NaN).
"""

from __future__ import annotations

import numpy as np

from robustness.metrics import UNKNOWN


def batch_metric(
    metric_name: str, labels: np.ndarray, predictions: np.ndarray, weights: np.ndarray | None = None
) -> np.ndarray:
    """The metric of each row: `labels`, `predictions` and `weights` broadcast to (rows, n) arrays."""
    if metric_name == "accuracy":
        if weights is None:
            y, p = np.broadcast_arrays(labels, predictions)
            return np.asarray((y == p).mean(axis=-1), dtype=np.float64)
        y, p, w = np.broadcast_arrays(labels, predictions, weights)
        right = y == p
        total = w.sum(axis=-1, dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total > 0, (w * right).sum(axis=-1) / total, np.nan)
    if metric_name == "mcc":
        return batch_mcc(labels, predictions, weights)
    raise ValueError(f"unknown metric {metric_name!r}; expected accuracy or mcc")


def batch_mcc(labels: np.ndarray, predictions: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Matthews correlation per row, as scikit-learn computes it from the (weighted) confusion matrix."""
    ones = np.ones((), dtype=np.float64)
    y, raw, w = np.broadcast_arrays(np.asarray(labels), np.asarray(predictions), ones if weights is None else weights)
    p = np.where(raw == UNKNOWN, 1 - y, raw)
    if not (np.isin(y, (0, 1)).all() and np.isin(p, (0, 1)).all()):
        raise ValueError("MCC here is binary: labels must be 0/1 and predictions 0/1 or -1")
    n = w.sum(axis=-1, dtype=np.float64)
    true_pos = (w * (y & p)).sum(axis=-1, dtype=np.float64)
    true_ones = (w * y).sum(axis=-1, dtype=np.float64)
    pred_ones = (w * p).sum(axis=-1, dtype=np.float64)
    true_neg = n - true_ones - pred_ones + true_pos
    t_sum = np.stack([n - true_ones, true_ones])  # per class: how many rows carry it, true and predicted
    p_sum = np.stack([n - pred_ones, pred_ones])
    cov_ytyp = (true_pos + true_neg) * n - (t_sum * p_sum).sum(axis=0)
    cov_ypyp = n * n - (p_sum * p_sum).sum(axis=0)
    cov_ytyt = n * n - (t_sum * t_sum).sum(axis=0)
    denominator = cov_ytyt * cov_ypyp
    out = np.zeros(n.shape, dtype=np.float64)
    ok = denominator != 0
    out[ok] = cov_ytyp[ok] / np.sqrt(denominator[ok])
    out[n == 0] = np.nan
    return out

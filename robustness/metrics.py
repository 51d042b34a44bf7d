"""Accuracy, Matthews correlation and the Performance Drop Rate, as attacks.md defines them."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from sklearn.metrics import matthews_corrcoef

from robustness.datasets import DATASETS

UNKNOWN = -1  # a prediction that maps to no label; always counted as wrong


def accuracy(labels: Sequence[int], predictions: Sequence[int]) -> float:
    y, p = _arrays(labels, predictions)
    return float((y == p).mean())


def mcc(labels: Sequence[int], predictions: Sequence[int]) -> float:
    """Matthews correlation; an unknown prediction (-1) becomes the wrong label, so it counts as an error. Rows of a
    single label (and predictions of a single one) give 0, scikit-learn's value, without its warning: such a
    sample is common (a few CoLA rows) and the warning would fill run logs."""
    y, p = _arrays(labels, predictions)
    p = np.where(p == UNKNOWN, 1 - y, p)
    if np.unique(y).size < 2 or np.unique(p).size < 2:
        return 0.0
    return float(matthews_corrcoef(y, p))


METRICS = {"accuracy": accuracy, "mcc": mcc}


def metric_for(dataset: str) -> str:
    """The metric the catalog names for `dataset` (accuracy for SST-2, MCC for CoLA)."""
    return DATASETS[dataset].metric


def pdr(clean: float, attacked: float) -> float | None:
    """Performance Drop Rate (clean - attacked) / clean; None (undefined) when clean <= 0 or either value is NaN."""
    if math.isnan(clean) or math.isnan(attacked) or clean <= 0:
        return None
    return (clean - attacked) / clean


def _arrays(labels: Sequence[int], predictions: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    y, p = np.asarray(labels, dtype=int), np.asarray(predictions, dtype=int)
    if y.shape != p.shape or y.ndim != 1 or len(y) == 0:
        raise ValueError(f"labels and predictions must be equal-length, non-empty (got {y.shape} and {p.shape})")
    return y, p

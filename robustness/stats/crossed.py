"""A test of M3 against the plain merge that stays valid when each arm's attack searches its own prompt.

Design: S attack seeds (searches) per arm; each arm's search on seed s finds its own prompt, which is then measured
on R measurement rows that every seed and both arms share (held out from every search). The estimand is the mean
over searches and rows of the difference between the arms' attacked metric (or PDR): the difference a user would
see on another search and other rows of the same population, not only on the prompts these searches happened to
find.

Per seed s the difference D_s = M(A, s) - M(B, s) is computed on the R rows. Row r's jackknife pseudo-value
P[s, r] = R D_s - (R - 1) D_s(without r) linearises any metric (for accuracy P[s, r] is the row's own difference),
and P follows a crossed model P[s, r] = mu + a_s + b_r + e[s, r]: a_s the search's effect (what only more seeds
shrink), b_r the row's (what more rows shrink), e the rest. The two-way ANOVA mean squares estimate

    Var(mean) = sigma_a^2 / S + sigma_b^2 / R + sigma_e^2 / (S R) = (MS_seed + MS_row - MS_error) / (S R),

and Satterthwaite's approximation gives its degrees of freedom (with a small-sample guard, see `_anova`): near S - 1
when the searches' spread dominates, so two or three seeds give a wide interval, as they should. A row-level test
that holds the found prompts fixed is not valid for this estimand, and a t-test over seeds leaves out the rows'
share of the variance (tests/test_crossed.py checks this test's size by simulation with a model of the search,
robustness/stats/search_model.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from scipy import stats

from robustness.metrics import pdr
from robustness.stats.resample import batch_mcc

# A metric on each row-subset: (predictions [.., R], labels [R]) -> value for all rows, and for each row left out.
Metric = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
SEED_BOUND = 0.8  # the upper confidence bound of the searches' mean square that the degrees of freedom use


@dataclass(frozen=True)
class Components:
    """The crossed model's variance components on the pseudo-value scale: a search's (`seed`), a row's and the
    rest, from the two-way mean squares (a negative estimate taken as 0). Var(mean) = seed / S + row / R +
    error / (S R) for S searches and R rows: what a design of other sizes would get (robustness/stats/power.py)."""

    seed: float
    row: float
    error: float


@dataclass(frozen=True)
class CrossedTest:
    """The mean difference over searches and rows, its interval and two-sided p-value, and where its variance is."""

    estimate: float  # mean over seeds of D_s
    se: float | None  # None: undefined (a PDR with a clean metric <= 0)
    df: float | None
    low: float | None
    high: float | None
    p: float | None
    seeds: int
    rows: int
    seed_share: float | None  # the share of the variance that only more seeds (searches) shrink; None: one seed
    components: Components | None = None  # None with one seed (a search's spread is not estimable) or undefined

    @property
    def defined(self) -> bool:
        return self.se is not None

    @property
    def over_searches(self) -> bool:
        """Whether the test covers the spread of searches (two seeds or more); with one it holds the found prompt
        fixed, as for an attack whose search ignores its seed (StressTest)."""
        return self.seeds >= 2


def accuracy_loo(predictions: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy of each prediction row-vector on all R rows, and with each row left out ([..., R])."""
    right = (predictions == labels).astype(np.float64)
    total = right.sum(axis=-1, keepdims=True)
    n = right.shape[-1]
    return total[..., 0] / n, (total - right) / (n - 1)


def mcc_loo(predictions: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Matthews correlation on all rows and with each row left out, as `batch_mcc` computes it (an unparsed answer,
    -1, is the wrong label; 0 where it is undefined): the left-out row gets weight 0."""
    leave_one_out = 1.0 - np.eye(labels.shape[-1])  # [left out, row]
    return batch_mcc(labels, predictions), batch_mcc(labels, predictions[..., None, :], leave_one_out)


METRICS: dict[str, Metric] = {"accuracy": accuracy_loo, "mcc": mcc_loo}


def crossed_test(
    attacked_a: np.ndarray,
    attacked_b: np.ndarray,
    labels: np.ndarray,
    metric: str = "accuracy",
    clean_a: np.ndarray | None = None,
    clean_b: np.ndarray | None = None,
    level: float = 0.95,
) -> CrossedTest:
    """Arm A minus arm B on the attacked metric (or, given both arms' clean predictions on the same rows, on PDR).

    `attacked_a`, `attacked_b`: [S, R] predictions under each seed's found prompt; `labels`: [R]; `clean_*`: [R]
    predictions under the clean prompt (the same for every seed)."""
    a, b, y = (np.asarray(x) for x in (attacked_a, attacked_b, labels))
    if a.shape != b.shape or a.ndim != 2 or a.shape[1] != y.shape[0]:
        raise ValueError("attacked predictions must be [seeds, rows] for both arms, on the labels' rows")
    seeds, rows = a.shape
    if rows < 3:
        raise ValueError(f"{rows} measurement rows: the test needs at least 3")
    values, loo = _differences(a, b, y, METRICS[metric], clean_a, clean_b)
    estimate = float(values.mean()) if np.isfinite(values).all() else math.nan
    if not (np.isfinite(values).all() and np.isfinite(loo).all()):
        return CrossedTest(estimate, None, None, None, None, None, seeds, rows, None)
    pseudo = rows * values[:, None] - (rows - 1) * loo  # [S, R]
    return _anova(pseudo, estimate, level)


def _differences(a: np.ndarray, b: np.ndarray, y: np.ndarray, metric: Metric, clean_a: np.ndarray | None,
                 clean_b: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """D_s and D_s without each row: attacked metric, or PDR (NaN where a clean metric <= 0)."""
    full_a, loo_a = metric(a, y)
    full_b, loo_b = metric(b, y)
    if clean_a is None or clean_b is None:
        return full_a - full_b, loo_a - loo_b
    (ca, ca_loo), (cb, cb_loo) = metric(np.asarray(clean_a), y), metric(np.asarray(clean_b), y)
    drop = np.vectorize(lambda clean, attacked: math.nan if (p := pdr(clean, attacked)) is None else p)
    full = drop(ca, full_a) - drop(cb, full_b)
    return full, drop(ca_loo[None, :], loo_a) - drop(cb_loo[None, :], loo_b)


def _anova(pseudo: np.ndarray, estimate: float, level: float) -> CrossedTest:
    seeds, rows = pseudo.shape
    grand = pseudo.mean()
    seed_means, row_means = pseudo.mean(axis=1), pseudo.mean(axis=0)
    ms_row = seeds * float(((row_means - grand) ** 2).sum()) / (rows - 1)
    if seeds == 1:  # one search: its spread cannot be estimated, so the test holds the found prompt fixed
        return _result(estimate, ms_row, rows - 1, seeds, rows, level, None)
    ms_seed = rows * float(((seed_means - grand) ** 2).sum()) / (seeds - 1)
    residual = pseudo - seed_means[:, None] - row_means[None, :] + grand
    ms_error = float((residual**2).sum()) / ((seeds - 1) * (rows - 1))
    # Var(mean) = (MS_seed + MS_row - MS_error) / (S R); where a component comes out below 0 (noise), the larger
    # mean square alone, an upper bound.
    total = max(ms_seed + ms_row - ms_error, ms_seed, ms_row)
    # Degrees of freedom by Satterthwaite, with the searches' mean square at its one-sided 80% upper confidence
    # bound: with 1-4 degrees of freedom a small MS_seed is often luck, and taken at face value it lets the rows'
    # many degrees of freedom stand in for the searches' few (size 7-10% at 2 seeds in simulation, 3-6% with the
    # bound; tests/test_crossed.py).
    pessimistic = ms_seed * (seeds - 1) / float(stats.chi2.ppf(1 - SEED_BOUND, seeds - 1))
    df = (pessimistic + ms_row) ** 2 / (pessimistic**2 / (seeds - 1) + ms_row**2 / (rows - 1))
    share = max(ms_seed - ms_error, 0.0) / total if total > 0 else None  # sigma_a^2 / S over the variance
    parts = Components(max(ms_seed - ms_error, 0.0) / rows, max(ms_row - ms_error, 0.0) / seeds, ms_error)
    return replace(_result(estimate, total, df, seeds, rows, level, share), components=parts)


def _result(estimate: float, total: float, df: float, seeds: int, rows: int, level: float,
            seed_share: float | None) -> CrossedTest:  # fmt: skip
    """`total / (S R)` is the variance of the mean."""
    if total <= 0:  # every pseudo-value equal: no spread to test against
        p = 1.0 if estimate == 0 else 0.0
        return CrossedTest(estimate, 0.0, math.inf, estimate, estimate, p, seeds, rows, seed_share)
    se = math.sqrt(total / (seeds * rows))
    half = float(stats.t.ppf(0.5 + level / 2, df)) * se
    p = float(2 * stats.t.sf(abs(estimate) / se, df))
    return CrossedTest(estimate, se, df, estimate - half, estimate + half, p, seeds, rows, seed_share)

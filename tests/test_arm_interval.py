"""One model's own intervals (the attacked lambda curve's points): the resampling contract replayed with a plain
loop, agreement with the clean-score interval, undefined PDR, and coverage on simulated studies."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from robustness.metrics import accuracy, mcc, pdr
from robustness.stats import ArmRun, arm_bootstrap, arm_values, metric_interval
from tests.studies import study

METRIC = {"accuracy": accuracy, "mcc": mcc}


@pytest.fixture(autouse=True)
def _quiet_sklearn() -> None:
    warnings.filterwarnings("ignore", message="A single label was found", category=UserWarning)


def random_arm(rng: np.random.Generator, indices: list[int], skill: float) -> ArmRun:
    labels = [i % 2 for i in indices]  # a row's label is a function of its index: the same in every seed

    def predict(p: float) -> list[int]:
        return [y if rng.random() < p else 1 - y for y in labels]

    return ArmRun(indices, labels, predict(skill), predict(skill - 0.25))


def loop_bootstrap(runs: dict[str, ArmRun], metric_name: str, resamples: int, seed: int) -> dict[str, tuple]:
    """The module docstring's contract written as a loop: distinct rows sorted, one (B, N) draw, each seed keeps
    the drawn rows it holds (repeats kept), metrics recomputed per seed and averaged; PDR only where every seed's
    resampled clean metric is > 0."""
    metric = METRIC[metric_name]
    rows = sorted({i for r in runs.values() for i in r.indices})
    draws = np.random.default_rng(seed).integers(0, len(rows), size=(resamples, len(rows)))
    values: dict[str, list[float]] = {"clean": [], "attacked": [], "pdr": []}
    for b in range(resamples):
        drawn = [rows[j] for j in draws[b]]
        per_seed = []
        for name in sorted(runs):
            run = runs[name]
            where = {i: k for k, i in enumerate(run.indices)}
            kept = [where[i] for i in drawn if i in where]
            if not kept:
                break
            y = [run.labels[k] for k in kept]
            per_seed.append((metric(y, [run.clean[k] for k in kept]), metric(y, [run.attacked[k] for k in kept])))
        else:
            values["clean"].append(float(np.mean([c for c, _ in per_seed])))
            values["attacked"].append(float(np.mean([a for _, a in per_seed])))
            drops = [pdr(c, a) for c, a in per_seed]
            if all(d is not None for d in drops):
                values["pdr"].append(float(np.mean(drops)))
    out = {}
    for q, v in values.items():
        low, high = np.percentile(v, [2.5, 97.5]) if v else (None, None)
        out[q] = (low, high, len(v))
    return out


@pytest.mark.parametrize("metric_name", ["accuracy", "mcc"])
def test_the_bootstrap_matches_a_direct_loop_with_the_same_rng(metric_name: str) -> None:
    rng = np.random.default_rng(7)
    runs = {f"p0/seed={s}": random_arm(rng, list(rows), 0.8)
            for s, rows in enumerate((range(0, 12), range(6, 18), range(0, 18, 3)))}  # fmt: skip
    resamples, seed = 80, 3
    expected = loop_bootstrap(runs, metric_name, resamples, seed)
    got = arm_bootstrap(runs, metric_name, resamples=resamples, seed=seed)
    for q in ("clean", "attacked", "pdr"):
        low, high, used = expected[q]
        assert got[q].used == used, q
        if got[q].withheld:
            assert q == "pdr" and got[q].low is None
            continue
        assert got[q].low == pytest.approx(low, abs=1e-12), q
        assert got[q].high == pytest.approx(high, abs=1e-12), q
    values = arm_values(runs, metric_name)
    metric = METRIC[metric_name]
    assert values["attacked"] == pytest.approx(np.mean([metric(r.labels, r.attacked) for r in runs.values()]))


def test_one_seed_gives_the_clean_score_interval() -> None:
    rng = np.random.default_rng(1)
    run = random_arm(rng, list(range(40)), 0.75)
    got = arm_bootstrap({"p0/seed=0": run}, "accuracy", resamples=500, seed=9)
    for q, predictions in (("clean", run.clean), ("attacked", run.attacked)):
        low, high = metric_interval("accuracy", list(run.labels), list(predictions), resamples=500, seed=9)
        assert (got[q].low, got[q].high) == (pytest.approx(low, abs=1e-12), pytest.approx(high, abs=1e-12))
        assert got[q].estimate == pytest.approx(accuracy(run.labels, predictions))


def test_pdr_keeps_clean_and_attacked_of_a_row_together() -> None:
    """A model that drops exactly 2 of its 8 clean-right rows in every resample of those rows: resampling clean
    and attacked apart would spread the PDR widely; together it stays near 0.25."""
    labels = [i % 2 for i in range(16)]
    clean = list(labels)  # right everywhere
    attacked = [1 - y if i % 8 < 2 else y for i, y in enumerate(labels)]  # wrong on a quarter of the rows
    got = arm_bootstrap({"s": ArmRun(range(16), labels, clean, attacked)}, "accuracy", resamples=2000, seed=0)
    assert got["pdr"].estimate == pytest.approx(0.25)
    assert got["clean"].low == got["clean"].high == 1.0  # clean right on every row, in every resample
    # With clean = 1 in every resample, PDR = 1 - attacked accuracy: the two intervals mirror each other.
    assert got["pdr"].low == pytest.approx(1 - got["attacked"].high)
    assert got["pdr"].high == pytest.approx(1 - got["attacked"].low)


def test_an_undefined_pdr_gets_no_interval() -> None:
    labels = [0, 1] * 6
    always_one = [1] * 12  # clean MCC 0: PDR undefined
    got = arm_bootstrap({"s": ArmRun(range(12), labels, always_one, labels)}, "mcc", resamples=200, seed=0)
    assert got["pdr"].estimate is None and got["pdr"].low is None and got["pdr"].high is None
    assert got["attacked"].estimate == pytest.approx(1.0) and got["attacked"].low is not None
    weak = [1, 1, 1, 0, 0, 1, 1, 0, 0, 0]  # MCC 0.2 on these labels: defined, but near 0 in many resamples
    near = arm_bootstrap({"s": ArmRun(range(10), [1] * 5 + [0] * 5, weak, weak)}, "mcc", resamples=400, seed=1)
    assert near["pdr"].estimate == pytest.approx(0.0) and near["pdr"].withheld and near["pdr"].low is None


def population(draws: int = 2_000_000) -> dict[str, float]:
    """The simulated population's values for one arm of tests/studies.py (by Monte Carlo): clean and attacked
    accuracy, and the PDR 1 - attacked / clean (a per-seed PDR on n rows is that up to a bias of order 1/n)."""
    from tests.studies import ROW_SKILL_SD, SEED_NOISE_SD

    rng = np.random.default_rng(99)
    logit = rng.normal(0.0, 1.0, draws) + rng.normal(0.0, ROW_SKILL_SD, draws)
    clean = float(np.mean(1 / (1 + np.exp(-(1.5 + logit)))))
    attacked = float(np.mean(1 / (1 + np.exp(-(0.2 + logit + rng.normal(0.0, SEED_NOISE_SD, draws))))))
    return {"clean": clean, "attacked": attacked, "pdr": 1 - attacked / clean}


@pytest.mark.parametrize(("report", "per_seed"), [(120, 120), (200, 50)], ids=["identical-rows", "50-of-200-rows"])
def test_intervals_cover_the_population_values(report: int, per_seed: int) -> None:
    """400 simulated studies of one arm (3 seeds, tests/studies.py): the attacked-accuracy and PDR intervals cover
    the population's values about 95% of the time (binomial standard error 1.1 points)."""
    rng = np.random.default_rng(5)
    truth = population()
    hits = dict.fromkeys(truth, 0)
    for i in range(400):
        arm, _ = study(rng, report, per_seed)
        got = arm_bootstrap(arm, "accuracy", resamples=600, seed=i)
        for q in hits:
            assert got[q].low is not None and got[q].high is not None
            hits[q] += got[q].low <= truth[q] <= got[q].high
    rates = {q: h / 400 for q, h in hits.items()}
    assert all(0.92 <= r <= 0.975 for r in rates.values()), rates

"""The crossed seeds x rows test (robustness/stats/crossed.py): its arithmetic on hand-made cases, and its error
rates by simulation with a model of the attack's search (robustness/stats/search_model.py), against the row-level
test that holds the prompts each search found fixed.

The slow tests run the full grid (2, 3 and 5 seeds; 100 and 300 measurement rows; 2,000 studies a cell): size at
most 6.5% and coverage at least 93.5%, at no difference and at a stated one, with the power printed.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from sklearn.metrics import matthews_corrcoef

from robustness.metrics import mcc
from robustness.stats import ArmRun, pair_runs, paired_permutation_test
from robustness.stats.crossed import accuracy_loo, crossed_test, mcc_loo
from robustness.stats.search_model import Design, SearchModel, SimulatedStudy, expected_difference, simulate

MODEL = SearchModel()
HELD_OUT = Design(seeds=3, search_rows=50, search_pool=200, measure_rows=100)
EFFECT = 0.5  # on arm A's logit: about 0.08 attacked accuracy under MODEL


def test_accuracy_pseudo_values_are_the_rows_own_differences() -> None:
    labels = np.array([1, 0, 1, 1, 0, 1])
    a = np.array([[1, 0, 1, 0, 0, 1], [1, 1, 1, 1, 0, 0]])
    b = np.array([[0, 0, 1, 0, 1, 1], [1, 0, 0, 1, 0, 1]])
    result = crossed_test(a, b, labels)
    d = (a == labels).astype(float) - (b == labels).astype(float)  # the per-row differences the ANOVA sees
    assert result.estimate == pytest.approx(d.mean())
    s, r = d.shape
    seed_m, row_m, grand = d.mean(1), d.mean(0), d.mean()
    ms_seed = r * ((seed_m - grand) ** 2).sum() / (s - 1)
    ms_row = s * ((row_m - grand) ** 2).sum() / (r - 1)
    ms_error = ((d - seed_m[:, None] - row_m[None, :] + grand) ** 2).sum() / ((s - 1) * (r - 1))
    total = max(ms_seed + ms_row - ms_error, ms_seed, ms_row)
    assert result.se == pytest.approx(math.sqrt(total / (s * r)))
    assert result.low is not None and result.high is not None and result.low < result.estimate < result.high


def test_left_out_metrics_equal_the_suites_metrics_on_each_subset() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 30)
    predictions = np.where(rng.random((3, 30)) < 0.7, labels, 1 - labels)
    predictions[0, 4] = -1  # an unparsed answer: wrong
    full, loo = mcc_loo(predictions, labels)
    acc_full, acc_loo = accuracy_loo(predictions, labels)
    for s, r in itertools.product(range(3), range(30)):
        keep = np.arange(30) != r
        assert loo[s, r] == pytest.approx(mcc(labels[keep].tolist(), predictions[s, keep].tolist()))
        assert acc_loo[s, r] == pytest.approx((labels[keep] == predictions[s, keep]).mean())
    assert full[0] == pytest.approx(mcc(labels.tolist(), predictions[0].tolist()))
    assert full[1] == pytest.approx(matthews_corrcoef(labels, predictions[1])) and acc_full[2] == pytest.approx(
        (labels == predictions[2]).mean()
    )


def test_one_seed_holds_the_found_prompt_fixed_and_pdr_needs_a_positive_clean_metric() -> None:
    labels = np.array([1, 0, 1, 1, 0, 1, 0, 1])
    a, b = np.array([[1, 0, 0, 1, 0, 1, 1, 1]]), np.array([[0, 0, 1, 1, 1, 1, 0, 0]])
    one = crossed_test(a, b, labels)
    assert not one.over_searches and one.seed_share is None and one.df == pytest.approx(7)
    wrong = 1 - labels  # a clean prompt that gets every row wrong: accuracy 0, PDR undefined
    undefined = crossed_test(a, b, labels, clean_a=wrong, clean_b=labels)
    assert not undefined.defined and undefined.p is None
    with pytest.raises(ValueError, match="at least 3"):
        crossed_test(a[:, :2], b[:, :2], labels[:2])


def _row_level_rejects(study: SimulatedStudy, seeds: int, i: int) -> bool:
    """Today's test: the row-level permutation test on each arm's attack measured on its own search rows."""

    def arm(k: int) -> dict[str, ArmRun]:
        rows = study.search_rows
        return {
            f"seed={s}": ArmRun(
                rows[s].tolist(),
                study.search_labels[rows[s]].tolist(),
                study.search_clean[k][rows[s]].tolist(),
                study.search_attacked[k, s].tolist(),
            )
            for s in range(seeds)
        }

    tests = paired_permutation_test(pair_runs(arm(0), arm(1)).runs, "accuracy", permutations=499, seed=i)
    return tests["attacked"].p < 0.05


def test_the_crossed_test_keeps_its_size_where_the_row_level_test_does_not() -> None:
    """400 simulated studies with no true difference between the arms."""
    rng = np.random.default_rng(2024)
    crossed = row_level = 0
    in_search = Design(seeds=3, search_rows=150, search_pool=150, measure_rows=100)  # seeds search the same rows
    for i in range(400):
        study = simulate(rng, MODEL, in_search)
        result = crossed_test(study.attacked[0], study.attacked[1], study.labels)
        crossed += result.p is not None and result.p < 0.05
        row_level += _row_level_rejects(study, in_search.seeds, i)
    assert crossed / 400 <= 0.08
    assert row_level / 400 > 0.10  # the prompts each arm's search picked on these very rows look like an effect


def _rates(design: Design, studies: int, shift: float, metric: str = "accuracy") -> tuple[float, float]:
    """(rejection rate at the 5% level, coverage of the truth by the 95% interval)."""
    truth = expected_difference(np.random.default_rng(0), MODEL, design, shift, searches=8000) if shift else 0.0
    rng = np.random.default_rng(5)
    rejected = covered = 0
    for _ in range(studies):
        study = simulate(rng, MODEL, design, shift)
        result = crossed_test(study.attacked[0], study.attacked[1], study.labels, metric)
        assert result.low is not None and result.high is not None and result.p is not None
        rejected += result.p < 0.05
        covered += result.low <= truth <= result.high
    return rejected / studies, covered / studies


@pytest.mark.slow
@pytest.mark.parametrize(("seeds", "rows"), [(2, 100), (3, 100), (5, 100), (2, 300), (3, 300), (5, 300)])
def test_size_coverage_and_power_over_2000_studies(seeds: int, rows: int) -> None:
    design = Design(seeds=seeds, search_rows=50, search_pool=200, measure_rows=rows)
    size, null_coverage = _rates(design, 2000, 0.0)
    power, coverage = _rates(design, 2000, EFFECT)
    print(f"{seeds} seeds x {rows} rows: size {size:.3f}, power {power:.3f} at shift {EFFECT}, coverage {coverage:.3f}")
    assert size <= 0.065 and null_coverage >= 0.935 and coverage >= 0.935


@pytest.mark.slow
def test_size_on_mcc_and_pdr() -> None:
    rng = np.random.default_rng(9)
    mcc = pdr = 0
    model = SearchModel(positive_rate=0.69)  # CoLA's share of acceptable sentences
    for _ in range(2000):
        study = simulate(rng, model, HELD_OUT)
        on_mcc = crossed_test(study.attacked[0], study.attacked[1], study.labels, "mcc")
        on_pdr = crossed_test(study.attacked[0], study.attacked[1], study.labels, clean_a=study.clean[0],
                              clean_b=study.clean[1])  # fmt: skip
        mcc += on_mcc.p is not None and on_mcc.p < 0.05
        pdr += on_pdr.p is not None and on_pdr.p < 0.05
    assert mcc / 2000 <= 0.065 and pdr / 2000 <= 0.065


@pytest.mark.slow
@pytest.mark.parametrize("spread", [0.5, 2.0])
def test_size_and_coverage_at_half_and_twice_the_candidate_spread(spread: float) -> None:
    """The searches' spread is what the test must cover: at half and twice the model's candidate SD, 3 seeds x 100
    rows, accuracy and MCC (CoLA's label balance), 2,000 studies each."""
    model = SearchModel(candidate_sd=MODEL.candidate_sd * spread, positive_rate=0.69)
    design = Design(seeds=3, search_rows=50, search_pool=200, measure_rows=100)
    rng = np.random.default_rng(11)
    rejected = {"accuracy": 0, "mcc": 0}
    for _ in range(2000):
        study = simulate(rng, model, design)
        for metric in rejected:
            result = crossed_test(study.attacked[0], study.attacked[1], study.labels, metric)
            rejected[metric] += result.p is not None and result.p < 0.05
    print(f"candidate spread x{spread}: size {rejected['accuracy'] / 2000:.3f} (accuracy), "
          f"{rejected['mcc'] / 2000:.3f} (MCC)")  # fmt: skip
    assert all(r / 2000 <= 0.065 for r in rejected.values())


# The search model fitted to the default family's held-out measurements (bench/fit_search_model.py on a run of the
# default's methods with DeepWordBug's paper search, 8 seeds x 200 held-out SST-2 rows, 2026-12-04): the searches'
# spread is small (candidate SD 0.35) and the arms' per-row disagreement large (arm x row SD 3.0, plain Task
# Arithmetic against a chance-level M3 candidate).
FITTED = SearchModel(base=0.649, clean=0.718, arm_row_sd=3.0, candidate_sd=0.35, positive_rate=0.485)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("seeds", "rows", "spread"),
    [(2, 100, 1.0), (5, 372, 1.0), (3, 100, 0.5), (3, 100, 2.0)],
    ids=["default-size", "paper-13b-size", "half-spread", "twice-spread"],
)
def test_size_and_coverage_with_the_spreads_fitted_on_the_default_family(seeds: int, rows: int, spread: float) -> None:
    model = SearchModel(**{**FITTED.__dict__, "candidate_sd": FITTED.candidate_sd * spread})
    design = Design(seeds=seeds, search_rows=8, search_pool=100, measure_rows=rows)
    size, null_coverage = _rates_for(model, design, 2000)
    print(f"fitted model, {seeds} seeds x {rows} rows, candidate spread x{spread}: size {size:.3f}")
    assert size <= 0.065 and null_coverage >= 0.935


def _rates_for(model: SearchModel, design: Design, studies: int) -> tuple[float, float]:
    rng = np.random.default_rng(21)
    rejected = covered = 0
    for _ in range(studies):
        study = simulate(rng, model, design)
        result = crossed_test(study.attacked[0], study.attacked[1], study.labels)
        rejected += result.p is not None and result.p < 0.05
        covered += result.low is not None and result.high is not None and result.low <= 0.0 <= result.high
    return rejected / studies, covered / studies

"""Statistics on hand-made data with known answers and on simulated studies with a known zero effect: joint paired
bootstrap, row-level permutation test, tests across seeds, Holm."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import stats

from robustness.metrics import accuracy, mcc, pdr
from robustness.stats import (
    ArmRun,
    batch_metric,
    compare,
    derived_seed,
    holm,
    pair_runs,
    paired_bootstrap,
    paired_permutation_test,
    paired_seed_test,
    shared_rows,
)
from tests.studies import study

METRIC = {"accuracy": accuracy, "mcc": mcc}


@pytest.fixture(autouse=True)
def _quiet_sklearn() -> None:
    # Tiny resamples often hold one class only; scikit-learn warns about it and returns 0, as intended here.
    warnings.filterwarnings("ignore", message="A single label was found", category=UserWarning)


def random_arm(rng: np.random.Generator, n: int, skill: float, indices: np.ndarray | None = None) -> ArmRun:
    labels = rng.integers(0, 2, n)
    idx = np.arange(100, 100 + n) if indices is None else indices

    def predict(p: float) -> np.ndarray:
        right = rng.random(n) < p
        out = np.where(right, labels, 1 - labels)
        return np.where(rng.random(n) < 0.05, -1, out)  # a few unparseable answers

    return ArmRun(idx.tolist(), labels.tolist(), predict(skill).tolist(), predict(skill - 0.2).tolist())


def same_samples(base: ArmRun, rng: np.random.Generator, skill: float) -> ArmRun:
    """Another arm on the same samples (same indices and labels), with its own predictions."""
    labels = np.asarray(base.labels)
    n = len(labels)

    def predict(p: float) -> list[int]:
        return np.where(rng.random(n) < p, labels, 1 - labels).tolist()

    return ArmRun(base.indices, base.labels, predict(skill), predict(skill - 0.25))


def subset(arm: ArmRun, keep: np.ndarray) -> ArmRun:
    """The arm on some of its rows (another seed's sample of the same report rows)."""
    return ArmRun(*([np.asarray(v)[keep].tolist() for v in (arm.indices, arm.labels, arm.clean, arm.attacked)]))


def right_on(labels: list[int], rows: set[int]) -> list[int]:
    return [y if i in rows else 1 - y for i, y in enumerate(labels)]


# ---- resampled metrics ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("metric_name", ["accuracy", "mcc"])
def test_batch_metric_equals_the_metrics_module(metric_name: str) -> None:
    rng = np.random.default_rng(3)
    for n in (1, 2, 5, 40):
        y = rng.integers(0, 2, (60, n))
        p = rng.integers(-1, 2, (60, n))
        y[0], p[0] = 1, 1  # constant labels and predictions: MCC's 0/0 case
        y[1], p[1] = 0, -1  # all unknown, all counted wrong
        expected = np.array([METRIC[metric_name](y[i].tolist(), p[i].tolist()) for i in range(60)])
        np.testing.assert_array_equal(batch_metric(metric_name, y, p), expected)


@pytest.mark.parametrize("metric_name", ["accuracy", "mcc"])
def test_weighted_metric_is_the_metric_of_the_repeated_samples(metric_name: str) -> None:
    rng = np.random.default_rng(8)
    y, p = rng.integers(0, 2, 15), rng.integers(-1, 2, 15)
    counts = rng.integers(0, 3, (50, 15))
    counts[0] = 0  # nothing drawn: no value
    got = batch_metric(metric_name, y, p, counts)
    assert math.isnan(got[0])
    for b in range(1, 50):
        rows = np.repeat(np.arange(15), counts[b])
        assert got[b] == pytest.approx(METRIC[metric_name](y[rows].tolist(), p[rows].tolist()), abs=1e-12)


# ---- the joint bootstrap ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("metric_name", ["accuracy", "mcc"])
def test_identical_arms_give_exactly_zero_and_p_one(metric_name: str) -> None:
    rng = np.random.default_rng(0)
    base = random_arm(rng, 30, 0.9)
    arms = {f"p0/seed={s}": subset(base, np.sort(rng.choice(30, 24, replace=False))) for s in range(3)}
    effects = compare(arms, arms, metric_name, resamples=300, seed=1)
    for q in ("clean", "attacked", "pdr"):
        e = effects[q]
        assert (e.estimate, e.low, e.high) == (0.0, 0.0, 0.0), q
        assert e.n_seeds == 3 and e.n_pairs == 72 and e.n_rows == len(set().union(*(a.indices for a in arms.values())))
        # No row differs, so the only assignment is the observed one: p = 1 exactly; across seeds likewise.
        assert e.p_rows == 1.0 and e.permutation.exact and e.permutation.informative_rows == 0
        assert e.p_seeds == 1.0 and e.seed_test is not None and "identical on every seed" in e.seed_test.note


def test_m3_right_on_k_more_samples_gives_k_over_n() -> None:
    n, ks = 20, {"p0/seed=0": 2, "p0/seed=1": 3, "p0/seed=2": 4}
    labels = [i % 2 for i in range(n)]
    plain, m3 = {}, {}
    for name, k in ks.items():
        clean = list(labels)
        attacked_plain = [1 - y if i < 8 else y for i, y in enumerate(labels)]  # plain wrong on the first 8
        attacked_m3 = [y if i < k else p for i, (y, p) in enumerate(zip(labels, attacked_plain, strict=True))]
        plain[name] = ArmRun(list(range(n)), labels, clean, attacked_plain)
        m3[name] = ArmRun(list(range(n)), labels, clean, attacked_m3)
    effects = compare(m3, plain, "accuracy", resamples=500, seed=2)
    attacked = effects["attacked"]
    assert attacked.estimate == pytest.approx((2 + 3 + 4) / 3 / n)
    # M3 is never worse on any sample, so no resample can show it behind; it can show at most all 8 flips gained.
    assert attacked.low is not None and attacked.high is not None
    assert 0 <= attacked.low < attacked.estimate < attacked.high <= 8 / n
    assert effects["clean"].estimate == 0.0 and effects["clean"].low == effects["clean"].high == 0.0
    # Clean accuracy is 1.0 for both, so PDR difference = -(attacked difference) exactly.
    assert effects["pdr"].estimate == pytest.approx(-attacked.estimate)
    # Per-seed differences 0.10, 0.15, 0.20: mean 0.15, sd 0.05, t = 0.15 / (0.05 / sqrt 3).
    test = attacked.seed_test
    assert test is not None and test.n == 3 and test.t == pytest.approx(0.15 / (0.05 / math.sqrt(3)))
    assert test.p_wilcoxon is None and "Wilcoxon needs >= 6" in test.note
    # The 4 rows where M3 gains (in some seed) are the only informative ones, all in M3's favour: of the 2^4
    # swaps only "none" and "all" reach |0.15|, so p = 2/16 exactly.
    assert attacked.permutation.exact and attacked.permutation.informative_rows == 4
    assert attacked.p_rows == pytest.approx(2 / 16)


def _loop_bootstrap(
    runs: dict[str, tuple[ArmRun, ArmRun]], metric_name: str, resamples: int, seed: int
) -> dict[str, tuple[float, float, int]]:
    """The joint scheme written as a direct loop with robustness.metrics (the reference): one draw of the distinct
    rows per resample, each seed keeping the drawn rows it holds, as often as they were drawn."""
    metric = METRIC[metric_name]
    population = sorted(set().union(*(arm_a.indices for arm_a, _ in runs.values())))
    draws = np.random.default_rng(seed).integers(0, len(population), size=(resamples, len(population)))
    clean, attacked, drops = [], [], []
    for b in range(resamples):
        drawn = [population[j] for j in draws[b]]
        c, a, d = [], [], []
        for name in sorted(runs):
            arm_a, arm_b = runs[name]
            where = {index: i for i, index in enumerate(arm_a.indices)}
            rows = [where[index] for index in drawn if index in where]
            if not rows:
                break
            y = [arm_a.labels[i] for i in rows]
            ac, aa = metric(y, [arm_a.clean[i] for i in rows]), metric(y, [arm_a.attacked[i] for i in rows])
            bc, ba = metric(y, [arm_b.clean[i] for i in rows]), metric(y, [arm_b.attacked[i] for i in rows])
            c.append(ac - bc)
            a.append(aa - ba)
            pa, pb = pdr(ac, aa), pdr(bc, ba)
            d.append(None if pa is None or pb is None else pa - pb)
        else:
            clean.append(np.mean(c))
            attacked.append(np.mean(a))
            if all(x is not None for x in d):
                drops.append(np.mean([x for x in d if x is not None]))
    out = {}
    for q, values in (("clean", clean), ("attacked", attacked), ("pdr", drops)):
        low, high = np.percentile(values, [2.5, 97.5])
        out[q] = (float(low), float(high), len(values))
    return out


@pytest.mark.parametrize("metric_name", ["accuracy", "mcc"])
def test_bootstrap_matches_a_direct_loop_with_the_same_rng(metric_name: str) -> None:
    rng = np.random.default_rng(11)
    plain = random_arm(rng, 16, 0.75)
    m3 = same_samples(plain, rng, 0.8)
    runs = {}
    for s, keep in ((0, np.arange(12)), (1, np.arange(4, 16)), (2, np.arange(0, 16, 2))):  # overlapping rows
        runs[f"p0/seed={s}"] = (subset(m3, keep), subset(plain, keep))
    resamples, seed = 60, 5
    expected = _loop_bootstrap(runs, metric_name, resamples, seed)
    pairing = pair_runs({k: v[0] for k, v in runs.items()}, {k: v[1] for k, v in runs.items()})
    got = paired_bootstrap(pairing.runs, metric_name, resamples=resamples, seed=seed)
    for q in ("clean", "attacked", "pdr"):
        low, high, used = expected[q]
        assert got[q].used == used and got[q].resamples == resamples, q
        if got[q].withheld:
            assert metric_name == "mcc" and q == "pdr" and got[q].low is None
            continue
        assert got[q].low == pytest.approx(low, abs=1e-12), q
        assert got[q].high == pytest.approx(high, abs=1e-12), q
    if metric_name == "mcc":
        assert got["pdr"].skipped > 0  # the case exercises the skip rule


def test_seeds_that_repeat_one_seed_give_that_seed_s_interval() -> None:
    """Three seeds that are exact copies of one hold the information of one: the interval must not shrink.

    Resampling within each seed independently averaged three independent draws and narrowed it by about 1/sqrt 3."""
    rng = np.random.default_rng(21)
    plain = random_arm(rng, 80, 0.8)
    m3 = same_samples(plain, rng, 0.8)
    one = compare({"p0/seed=0": m3}, {"p0/seed=0": plain}, "accuracy", resamples=1000, seed=4)["attacked"]
    names = [f"p0/seed={s}" for s in range(3)]
    three = compare(dict.fromkeys(names, m3), dict.fromkeys(names, plain), "accuracy", resamples=1000, seed=4)
    copied = three["attacked"]
    assert (copied.low, copied.high) == (one.low, one.high)
    assert (copied.n_rows, copied.n_seeds, copied.n_pairs) == (80, 3, 240)
    assert copied.p_rows == one.p_rows  # the swaps are per row too, not per (row, seed)


def _coverage(report: int, per_seed: int, studies: int, quantity: str = "attacked") -> tuple[float, float]:
    """Share of simulated studies (true difference 0) whose 95% interval covers 0, and the mean width."""
    rng = np.random.default_rng(2024)
    covered, widths = 0, []
    for i in range(studies):
        a, b = study(rng, report, per_seed)
        iv = paired_bootstrap(pair_runs(a, b).runs, "accuracy", resamples=600, seed=i)[quantity]
        assert iv.low is not None and iv.high is not None
        covered += iv.low <= 0.0 <= iv.high
        widths.append(iv.high - iv.low)
    return covered / studies, float(np.mean(widths))


@pytest.mark.parametrize(
    ("report", "per_seed", "quantity"),
    [(120, 120, "attacked"), (200, 50, "attacked"), (120, 120, "pdr")],
    ids=["seeds-on-identical-rows", "50-of-200-rows-per-seed", "pdr-identical-rows"],
)
def test_interval_covers_a_zero_effect_95_percent_of_the_time(report: int, per_seed: int, quantity: str) -> None:
    # 400 studies: the binomial standard error of a 95% rate is 1.1 points. Here the joint bootstrap covers 0.94
    # (3,000 studies: 0.945 on identical rows, 0.937 on 50 of 200); resampling rows within each seed independently
    # covered 0.83 on identical rows, with intervals 0.140 wide instead of 0.193.
    rate, _ = _coverage(report, per_seed, 400, quantity)
    assert 0.93 <= rate <= 0.97


# ---- undefined cells ----------------------------------------------------------------------------------------------


def test_an_undefined_estimate_gets_no_interval_and_no_p_values() -> None:
    labels = [i % 2 for i in range(12)]
    m3 = {f"p0/seed={s}": ArmRun(range(12), labels, right_on(labels, set(range(10))),
                                 right_on(labels, set(range(7 + s)))) for s in range(3)}  # fmt: skip
    good = ArmRun(range(12), labels, right_on(labels, set(range(9))), right_on(labels, set(range(5))))
    # Seed 1: plain right on 3 of 6 of each class on the clean prompt, MCC exactly 0, so the cell's PDR is
    # undefined. About half the resamples of that seed have a positive clean MCC: they used to make an interval,
    # and a t-test on seeds 0 and 2 used to enter Holm's family.
    weak = ArmRun(range(12), labels, right_on(labels, set(range(6))), right_on(labels, set(range(5))))
    assert mcc(labels, list(weak.clean)) == 0.0
    plain = {"p0/seed=0": good, "p0/seed=1": weak, "p0/seed=2": good}
    effects = compare(m3, plain, "mcc", resamples=400, seed=3)
    e = effects["pdr"]
    assert e.estimate is None and e.low is None and e.high is None
    assert e.p_rows is None and e.p_seeds is None
    assert e.seed_test is not None and "undefined on 1 of 3 seed(s)" in e.seed_test.note
    assert any("undefined" in n for n in e.notes)
    attacked = effects["attacked"]
    assert attacked.estimate is not None and attacked.low is not None and attacked.p_rows is not None
    # Holm leaves it out: the family is the comparisons with a p-value.
    adjusted = holm([attacked.p_rows, e.p_rows])
    assert adjusted[1] is None and adjusted[0] == pytest.approx(attacked.p_rows)


def test_pdr_is_undefined_when_a_clean_metric_is_not_positive() -> None:
    labels = [0, 1, 0, 1, 0, 1]
    always_one = [1] * 6  # MCC 0 on the clean prompt
    plain = {"s": ArmRun(range(6), labels, always_one, always_one)}
    m3 = {"s": ArmRun(range(6), labels, labels, [0, 1, 0, 1, 1, 0])}
    effects = compare(m3, plain, "mcc", resamples=100, seed=0)
    assert effects["pdr"].estimate is None
    assert effects["pdr"].used == 0 and effects["pdr"].low is None and effects["pdr"].high is None
    assert effects["pdr"].p_rows is None
    assert effects["clean"].estimate == pytest.approx(1.0)


def test_a_cell_where_many_resamples_are_undefined_gets_no_interval_and_a_flag() -> None:
    # Clean MCC barely above 0 on 10 rows: the estimate is defined, but many resamples have a clean MCC <= 0.
    labels = [1, 1, 1, 1, 1, 0, 0, 0, 0, 0]
    weak_clean = [1, 1, 1, 0, 0, 1, 1, 0, 0, 0]  # TP 3, FN 2, FP 2, TN 3: MCC 0.2
    plain = {"s": ArmRun(range(10), labels, weak_clean, [1, 0, 1, 0, 0, 1, 1, 0, 1, 0])}
    m3 = {"s": ArmRun(range(10), labels, labels, [1, 1, 1, 0, 0, 0, 1, 0, 0, 0])}
    effects = compare(m3, plain, "mcc", resamples=400, seed=1)
    e = effects["pdr"]
    assert mcc(labels, weak_clean) == pytest.approx(0.2)  # (3*3 - 2*2) / sqrt(5^4)
    assert e.estimate is not None and e.p_rows is not None
    assert e.resamples - e.used > 0.025 * e.resamples and e.low is None and e.high is None
    assert any("no interval" in n for n in e.notes)
    assert effects["attacked"].low is not None  # the attacked MCC has a value in every resample


# ---- the row-level permutation test -------------------------------------------------------------------------------


def _pdr_code(clean: np.ndarray, attacked: np.ndarray) -> np.ndarray:
    """One number per row and arm that carries both predictions (scipy permutes one value per observation)."""
    return 3 * (clean + 1) + (attacked + 1)


@pytest.mark.parametrize(("metric_name", "quantity"), [("accuracy", "attacked"), ("mcc", "attacked"), ("mcc", "pdr")])
def test_permutation_test_equals_scipy_on_one_seed(metric_name: str, quantity: str) -> None:
    rng = np.random.default_rng(31)
    plain = random_arm(rng, 13, 0.6)
    m3 = same_samples(plain, rng, 0.95)  # 10 informative rows; p = 0.125, 0.0625 and 0.0996 below
    y = np.asarray(plain.labels)
    mine = paired_permutation_test(pair_runs({"s": m3}, {"s": plain}).runs, metric_name, permutations=9999)[quantity]
    assert mine.exact and mine.p is not None and mine.undefined == 0 and 0.05 < mine.p < 0.2

    def metric_of(codes: np.ndarray) -> np.ndarray:
        clean, attacked = codes // 3 - 1, codes % 3 - 1
        if quantity == "attacked":
            return batch_metric(metric_name, y, attacked)
        c, a = batch_metric(metric_name, y, clean), batch_metric(metric_name, y, attacked)
        return np.where(c > 0, (c - a) / np.where(c > 0, c, 1.0), np.inf)  # undefined: as extreme as it gets

    def statistic(x: np.ndarray, z: np.ndarray, axis: int) -> np.ndarray:
        return metric_of(np.moveaxis(x, axis, -1)) - metric_of(np.moveaxis(z, axis, -1))

    a = _pdr_code(np.asarray(m3.clean), np.asarray(m3.attacked))
    b = _pdr_code(np.asarray(plain.clean), np.asarray(plain.attacked))
    with np.errstate(invalid="ignore"):
        reference = stats.permutation_test((a, b), statistic, permutation_type="samples", vectorized=True,
                                           n_resamples=np.inf, alternative="two-sided")  # fmt: skip
    assert mine.p == pytest.approx(float(reference.pvalue), abs=1e-12)
    assert mine.assignments == 2**mine.informative_rows


def test_permutation_test_agrees_with_scipy_by_sampling_on_many_rows() -> None:
    rng = np.random.default_rng(32)
    plain = random_arm(rng, 60, 0.8)
    m3 = same_samples(plain, rng, 0.85)
    mine = paired_permutation_test(pair_runs({"s": m3}, {"s": plain}).runs, "accuracy", 20000, seed=1)["attacked"]
    assert not mine.exact and mine.p is not None
    x, z = (np.asarray(arm.attacked) == np.asarray(arm.labels) for arm in (m3, plain))
    reference = stats.permutation_test((x, z), lambda u, v, axis: np.mean(u, axis=axis) - np.mean(v, axis=axis),
                                       permutation_type="samples", vectorized=True, n_resamples=20000,
                                       random_state=np.random.default_rng(2))  # fmt: skip
    assert mine.p == pytest.approx(float(reference.pvalue), abs=0.015)  # two Monte Carlo estimates of one p


def test_row_level_test_finds_what_three_seeds_cannot_after_holm() -> None:
    # 40 rows in every seed; M3 right where plain is wrong on 8, 10 and 12 rows: differences 0.20, 0.25, 0.30.
    labels = [i % 2 for i in range(40)]
    plain_run = ArmRun(range(40), labels, labels, right_on(labels, set(range(12, 40))))
    plain = {f"p0/seed={s}": plain_run for s in range(3)}
    m3 = {f"p0/seed={s}": ArmRun(range(40), labels, labels, right_on(labels, set(range(12 - k, 40))))
          for s, k in enumerate((8, 10, 12))}  # fmt: skip
    e = compare(m3, plain, "accuracy", resamples=200, seed=0)["attacked"]
    t = 0.25 / (0.05 / math.sqrt(3))  # 8.66 on 2 df: two-sided p = 1 - t / sqrt(2 + t^2) = 0.013
    assert e.seed_test is not None and e.seed_test.t == pytest.approx(t)
    assert e.p_seeds == pytest.approx(1 - t / math.sqrt(2 + t * t))
    # 12 informative rows, all for M3: only "no swap" and "swap all" reach |0.25|, so p = 2 / 2^12 exactly.
    assert e.permutation.exact and e.p_rows == pytest.approx(2 / 4096)
    # In a family of 12 (the smallest report), Holm multiplies the smallest p by 12.
    family = [e.p_seeds, *[0.5] * 11]
    assert holm(family)[0] == pytest.approx(12 * e.p_seeds) and 12 * e.p_seeds > 0.05
    family = [e.p_rows, *[0.5] * 11]
    assert holm(family)[0] == pytest.approx(12 * 2 / 4096) and 12 * 2 / 4096 < 0.01


def test_row_level_test_holds_its_size_with_shared_rows() -> None:
    # 400 studies with no effect, 3 seeds on the same 120 rows: a valid test rejects at 5% about 5% of the time
    # (at most: with few informative rows the permutation distribution is discrete, and the test conservative).
    rng = np.random.default_rng(77)
    rejected = 0
    for i in range(400):
        a, b = study(rng, 120, 120)
        p = paired_permutation_test(pair_runs(a, b).runs, "accuracy", permutations=499, seed=i)["attacked"].p
        assert p is not None
        rejected += p <= 0.05
    assert 0.03 <= rejected / 400 <= 0.07


# ---- tests across seeds ------------------------------------------------------------------------------------------


def test_seed_test_against_closed_forms() -> None:
    one = paired_seed_test([0.5], [0.4])
    assert one.n == 1 and one.p is None and "no test across seeds" in one.note
    # df = 2: the t distribution's CDF is 1/2 + t / (2 sqrt(2 + t^2)), so the two-sided p is 1 - t / sqrt(2 + t^2).
    three = paired_seed_test([0.6, 0.7, 0.8], [0.5, 0.5, 0.5])
    t = 0.2 / (0.1 / math.sqrt(3))
    assert three.t == pytest.approx(t) and three.p == pytest.approx(1 - t / math.sqrt(2 + t * t))
    assert three.method == "paired t-test"
    # Six positive, distinct differences: the exact signed-rank p is 2 / 2^6.
    six = paired_seed_test([1.1, 1.2, 1.3, 1.4, 1.5, 1.6], [1.0] * 6)
    assert six.p_wilcoxon == pytest.approx(2 / 64) and six.note == ""


def test_the_same_nonzero_difference_on_every_seed_gets_the_exact_sign_flip_p() -> None:
    # t is infinite (p = 0 would claim certainty from 3 numbers); of the 2^3 sign assignments of (+0.1, +0.1,
    # +0.1), only all-plus and all-minus reach |mean| 0.1: p = 2/8.
    constant = paired_seed_test([0.6, 0.7, 0.8], [0.5, 0.6, 0.7])
    assert constant.t is None and constant.p == pytest.approx(0.25) and constant.method == "exact sign-flip"
    assert "same difference on every seed" in constant.note
    five = paired_seed_test([0.3] * 5, [0.1] * 5)
    assert five.p == pytest.approx(2 / 32)


def test_a_seed_without_a_value_means_no_seed_test() -> None:
    # Testing the seeds that have a value would test another quantity than the reported mean over all seeds.
    with_gap = paired_seed_test([0.6, None, 0.7, 0.9], [0.5, 0.5, 0.5, 0.6])
    assert with_gap.p is None and with_gap.n == 4 and "undefined on 1 of 4 seed(s)" in with_gap.note


def test_seeds_that_are_not_attack_seeds_get_no_seed_test() -> None:
    rng = np.random.default_rng(9)
    plain = random_arm(rng, 30, 0.8)
    m3 = same_samples(plain, rng, 0.85)
    runs = {f"p0/seed={s}": (subset(m3, np.arange(s, 30, 2)), subset(plain, np.arange(s, 30, 2))) for s in (0, 1)}
    effects = compare({k: v[0] for k, v in runs.items()}, {k: v[1] for k, v in runs.items()}, "accuracy",
                      resamples=100, attack_seeds=False)  # fmt: skip
    e = effects["attacked"]
    assert e.seed_test is None and e.p_seeds is None and e.p_rows is not None
    assert any("ignores its seed" in n for n in e.notes)
    assert (e.n_rows, e.n_seeds, e.n_pairs) == (30, 2, 30)


# ---- pairing, Holm, seeds ----------------------------------------------------------------------------------------


def test_samples_are_paired_by_index_not_position() -> None:
    rng = np.random.default_rng(4)
    a = random_arm(rng, 15, 0.8)
    b = same_samples(a, rng, 0.7)
    order = rng.permutation(15)
    shuffled = ArmRun(*([list(np.asarray(v)[order]) for v in (b.indices, b.labels, b.clean, b.attacked)]))
    first = compare({"r": a}, {"r": b}, "mcc", resamples=200, seed=9)
    second = compare({"r": a}, {"r": shuffled}, "mcc", resamples=200, seed=9)
    assert first == second
    other = ArmRun([i + 1 for i in a.indices], a.labels, a.clean, a.attacked)
    with pytest.raises(ValueError, match="different samples"):
        pair_runs({"r": a}, {"r": other})
    pairing = pair_runs({"r": a, "only-a": a}, {"r": b, "only-b": b})
    assert [r.replicate for r in pairing.runs] == ["r"] and pairing.unpaired == ["only-a", "only-b"]


def test_a_row_must_keep_its_label_across_seeds() -> None:
    rng = np.random.default_rng(5)
    a = random_arm(rng, 10, 0.8)
    relabelled = ArmRun(a.indices, [1 - y for y in a.labels], a.clean, a.attacked)
    runs = pair_runs({"s0": a, "s1": relabelled}, {"s0": a, "s1": relabelled}).runs
    with pytest.raises(ValueError, match="label differs"):
        shared_rows(runs)


def test_holm_against_a_hand_computed_example() -> None:
    # Sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> 0.06 (monotone).
    adjusted = holm([0.01, None, 0.04, 0.03, 0.005])
    assert adjusted[1] is None
    assert [adjusted[i] for i in (0, 2, 3, 4)] == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([None, None]) == [None, None]
    nan_as_missing = holm([0.01, float("nan"), 0.04, 0.03, 0.005])  # how a pandas column carries None
    assert nan_as_missing[1] is None and nan_as_missing[0] == pytest.approx(0.03)
    assert holm([0.6, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1


def test_derived_seeds_are_stable_and_distinct() -> None:
    assert derived_seed(0, "ties", "cola") == derived_seed(0, "ties", "cola")
    assert len({derived_seed(0, "ties", "cola"), derived_seed(0, "ties", "sst2"), derived_seed(1, "ties", "cola")}) == 3

"""Lambda selection's criterion: the normalised gain on hand-worked numbers, and the record selection writes."""

from __future__ import annotations

import pytest

from robustness.experiment.kinds import selection
from robustness.experiment.kinds.base import Unit
from robustness.experiment.kinds.criterion import describe, normalised_gain, rank_candidate
from robustness.experiment.kinds.selection import SelectionInputs, choose
from robustness.experiment.planning.models import ModelSpec
from tests.test_experiment_plan import config

BASE = {"sst2": 0.50, "cola": -0.04}
EXPERTS = [{"sst2": 0.90, "cola": 0.00}, {"sst2": 0.50, "cola": 0.26}]  # each task's best expert: 0.90 and 0.26


def test_normalised_gain_by_hand() -> None:
    assert normalised_gain(0.70, 0.50, 0.90) == pytest.approx(0.5)
    assert normalised_gain(0.10, -0.04, 0.26) == pytest.approx(0.14 / 0.30)
    assert normalised_gain(0.40, 0.50, 0.90) == pytest.approx(-0.25)  # worse than the base
    assert normalised_gain(0.95, 0.50, 0.90) == pytest.approx(1.125)  # better than the expert
    assert normalised_gain(0.60, 0.50, 0.50) is None and normalised_gain(0.6, 0.5, 0.4) is None


def test_the_normalised_criterion_and_the_raw_mean_disagree_where_the_scales_differ() -> None:
    a = {"sst2": 0.86, "cola": 0.00}  # raw mean 0.43; normalised (0.9 + 0.1333) / 2 = 0.5167
    b = {"sst2": 0.62, "cola": 0.20}  # raw mean 0.41; normalised (0.3 + 0.8) / 2 = 0.55
    ra, rb = rank_candidate(a, BASE, EXPERTS), rank_candidate(b, BASE, EXPERTS)
    assert ra.normalised == pytest.approx({"sst2": 0.9, "cola": 0.04 / 0.30})
    assert ra.score == pytest.approx((0.9 + 0.04 / 0.30) / 2) and rb.score == pytest.approx(0.55)
    assert rb.score > ra.score  # the normalised gain prefers b ...
    raw_a, raw_b = rank_candidate(a, None, []).score, rank_candidate(b, None, []).score
    assert raw_a == pytest.approx(0.43) and raw_b == pytest.approx(0.41)  # ... the raw mean prefers a


def test_a_task_no_expert_improves_is_left_out() -> None:
    flat = [{"sst2": 0.90, "cola": -0.05}]  # no expert beats the base's -0.04 on CoLA
    r = rank_candidate({"sst2": 0.70, "cola": 0.30}, BASE, flat)
    assert r.normalised == {"sst2": pytest.approx(0.5), "cola": None} and r.score == pytest.approx(0.5)
    assert "cola left out" in describe("normalised_gain", ["sst2", "cola"], 100, ["cola"])


def _clean(model_id: str, dataset: str, metric: float) -> object:
    from robustness.records import CleanRecord

    return CleanRecord.model_construct(model_id=model_id, dataset=dataset, metric=metric, lambdas=[0.5, 0.5])


def test_run_selection_records_the_criterion_scores_and_references() -> None:
    cfg = config()
    specs = [ModelSpec(f"sst2+cola/ta+m3/a{k}", "task_arithmetic", "ta", "sst2+cola", True, 1.0, k) for k in (0, 1)]
    candidates = [
        (specs[0], [_clean(specs[0].model_id, "sst2", 0.86), _clean(specs[0].model_id, "cola", 0.00)]),
        (specs[1], [_clean(specs[1].model_id, "sst2", 0.62), _clean(specs[1].model_id, "cola", 0.20)]),
    ]
    refs = {"base": BASE, "expert/sst2": EXPERTS[0], "expert/cola": EXPERTS[1]}
    unit = Unit(
        "k",
        selection.KIND,
        None,
        SelectionInputs(pair="sst2+cola", method="ta", candidates=[], criterion="normalised_gain"),
    )
    record = choose(unit, candidates, cfg, refs)  # type: ignore[arg-type]
    assert record.chosen_model_id == specs[1].model_id and record.criterion_name == "normalised_gain"
    assert record.criterion.startswith("normalised gain over the base") and record.references == refs
    assert [c.score for c in record.candidates] == pytest.approx([(0.9 + 0.04 / 0.30) / 2, 0.55])
    plain = choose(
        Unit("k", selection.KIND, None, SelectionInputs(pair="sst2+cola", method="ta", candidates=[])), candidates, cfg
    )  # type: ignore[arg-type]
    assert plain.chosen_model_id == specs[0].model_id and plain.criterion.startswith("mean clean metric")


def test_worst_task_ranks_a_candidate_that_gave_up_a_task_last() -> None:
    """The default study's case: a candidate back at chance on SST-2 with a noisy CoLA gain beats a balanced one
    on the mean normalised gain, and loses on the worst task."""
    lost_sst2 = {"sst2": 0.51, "cola": 0.30}  # gains 0.025 and 1.133: mean 0.579, worst 0.025
    balanced = {"sst2": 0.84, "cola": 0.10}  # gains 0.85 and 0.467: mean 0.658 ... worst 0.467
    close = {"sst2": 0.51, "cola": 0.40}  # gains 0.025 and 1.467: mean 0.746, worst 0.025
    mean = {k: rank_candidate(v, BASE, EXPERTS, "normalised_gain").score for k, v in
            {"lost": lost_sst2, "balanced": balanced, "close": close}.items()}  # fmt: skip
    worst = {k: rank_candidate(v, BASE, EXPERTS, "worst_task").score for k, v in
             {"lost": lost_sst2, "balanced": balanced, "close": close}.items()}  # fmt: skip
    assert mean["close"] == pytest.approx((0.01 / 0.4 + 0.44 / 0.30) / 2) and max(mean, key=mean.__getitem__) == "close"
    assert worst["close"] == pytest.approx(0.025) and worst["balanced"] == pytest.approx(0.14 / 0.30)
    assert max(worst, key=worst.__getitem__) == "balanced"
    flat = [{"sst2": 0.90, "cola": -0.05}]  # CoLA undefined: the worst task is the only defined one
    assert rank_candidate({"sst2": 0.70, "cola": 0.30}, BASE, flat, "worst_task").score == pytest.approx(0.5)


@pytest.mark.parametrize("criterion", ["normalised_gain", "worst_task", "mean_metric"])
def test_the_report_resamples_rank_candidates_as_selection_does(criterion: str) -> None:
    """The report's vectorised criterion (over resamples) equals selection's own ranking on every column."""
    import numpy as np

    from reports.selection_check import _gain, criterion_scores

    rng = np.random.default_rng(0)
    metrics = rng.uniform(-0.1, 0.95, size=(4, 2, 50))  # candidates x (sst2, cola) x resamples
    base = np.array([0.5, -0.04])[:, None] + rng.normal(0, 0.02, size=(2, 50))
    best = np.array([0.9, 0.26])[:, None] + rng.normal(0, 0.02, size=(2, 50))
    best[1, :5] = base[1, :5] - 0.01  # no expert beats the base on CoLA in these resamples
    gains = _gain(metrics, base[None], best[None])
    scores = criterion_scores(criterion, metrics, None if criterion == "mean_metric" else gains)
    for b in range(50):
        for c in range(4):
            ms = {"sst2": metrics[c, 0, b], "cola": metrics[c, 1, b]}
            refs = None if criterion == "mean_metric" else {"sst2": base[0, b], "cola": base[1, b]}
            experts = [{"sst2": best[0, b], "cola": best[1, b]}]
            assert scores[c, b] == pytest.approx(rank_candidate(ms, refs, experts, criterion).score)

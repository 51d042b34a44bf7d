"""The report's check of lambda selection on hand-made predictions: a candidate that lost SST-2 is marked below
plain, the criteria pick on all rows what selection picks, win shares are resample shares, and a chosen merge
below its plain merge on the report rows is warned about."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reports.selection_check import check_selection, chosen_below_plain
from reports.variants import Choice

N = 200
PAIR, SETTING = "sst2+cola", "ta"
PLAIN = f"{PAIR}/{SETTING}"
LOST, KEPT = f"{PLAIN}+m3/a0.5-d0", f"{PLAIN}+m3/a0.5-d1"


def _predictions(labels: np.ndarray, right: float, rng: np.random.Generator) -> list[int]:
    """Predictions right on about `right` of the rows (the wrong ones flipped). CoLA: the expert beats the base by
    little (MCC about 0.24 against 0.10), so its normalised gains are noisy, as in the default family."""
    hit = rng.random(len(labels)) < right
    return [int(y) if h else int(1 - y) for y, h in zip(labels, hit, strict=True)]


def _frames(split: str = "selection") -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(1)
    rows = []
    skill = {  # accuracy-like share of right answers per model and task
        "base": (0.55, 0.55), "expert/sst2": (0.90, 0.55), "expert/cola": (0.55, 0.62), PLAIN: (0.85, 0.65),
        LOST: (0.52, 0.80), KEPT: (0.84, 0.66),
    }  # fmt: skip
    for dataset, metric, column in (("sst2", "accuracy", 0), ("cola", "mcc", 1)):
        labels = rng.integers(0, 2, N)
        for model_id, right in skill.items():
            rows.append({"model_id": model_id, "split": split, "dataset": dataset, "metric_name": metric,
                         "indices": list(range(N)), "labels": labels.tolist(),
                         "predictions": _predictions(labels, right[column], rng)})  # fmt: skip
    clean = pd.DataFrame(rows)
    selection = pd.DataFrame([{
        "key": "selection/x", "pair": PAIR, "method": "task_arithmetic", "inputs": {"method": SETTING},
        "chosen_model_id": LOST, "criterion_name": "normalised_gain",
        "candidates": [{"model_id": LOST, "alpha": 0.5, "draw": 0, "lambdas": [0.2, 0.8]},
                       {"model_id": KEPT, "alpha": 0.5, "draw": 1, "lambdas": [0.6, 0.4]}],
    }])  # fmt: skip
    return clean, selection


def test_a_candidate_that_lost_a_task_is_below_plain_and_the_worst_task_criterion_avoids_it() -> None:
    clean, selection = _frames()
    check = check_selection(clean, selection, [Choice(PAIR, "task_arithmetic", SETTING, LOST)], 400, 0)
    cands = check.candidates.set_index(["model_id", "dataset"])
    assert bool(cands.loc[(LOST, "sst2"), "below_plain"]) and not cands.loc[KEPT, "below_plain"].any()
    assert cands.loc[(LOST, "sst2"), "vs_plain_high"] < 0 < cands.loc[(KEPT, "sst2"), "vs_plain_high"]
    for model_id in (LOST, KEPT):  # the same share of resamples on every dataset row of a candidate
        assert cands.loc[model_id, "wins_worst_task"].nunique() == 1
    crit = check.criteria.set_index("criterion")
    assert crit.loc["normalised_gain", "study_criterion"] and crit.loc["normalised_gain", "pick"] == LOST
    assert crit.loc["worst_task", "pick"] == KEPT and crit.loc["worst_task", "below_plain_share"] < 0.1
    shares = check.candidates.drop_duplicates("model_id")
    for criterion in ("normalised_gain", "worst_task", "mean_metric"):
        assert shares[f"wins_{criterion}"].sum() == pytest.approx(1.0)
        lost_share = float(shares.set_index("model_id").loc[LOST, f"wins_{criterion}"])
        assert crit.loc[criterion, "below_plain_share"] == pytest.approx(lost_share)  # LOST is the one below plain
    assert 0 <= cands.loc[(KEPT, "cola"), "metric_low"] <= cands.loc[(KEPT, "cola"), "metric"]


def test_a_store_without_the_plain_merges_selection_scores_is_not_checked() -> None:
    clean, selection = _frames()
    clean = clean[clean.model_id != PLAIN]
    check = check_selection(clean, selection, [Choice(PAIR, "task_arithmetic", SETTING, LOST)], 100, 0)
    assert check.candidates.empty and check.criteria.empty


def test_a_chosen_merge_below_its_plain_merge_on_the_report_rows_is_warned_about() -> None:
    clean, _ = _frames("report")
    warned = chosen_below_plain(clean, [Choice(PAIR, "task_arithmetic", SETTING, LOST)], 400, 0)
    assert len(warned) == 1 and f"{LOST} is below its plain merge on sst2 accuracy" in warned[0]
    assert chosen_below_plain(clean, [Choice(PAIR, "task_arithmetic", SETTING, KEPT)], 400, 0) == []

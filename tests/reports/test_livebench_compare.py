"""LiveBench, M3 against plain: paired over the questions both merges answered, per category, on hand-made scores."""

from __future__ import annotations

import pandas as pd
import pytest
from scipy import stats

from reports.livebench_compare import compare_livebench


def _row(m3: bool, category: str, task: str, scores: dict[str, float]) -> dict[str, object]:
    model = "sst2+cola/ta+m3/a5-d1" if m3 else "sst2+cola/ta"
    return {"pair": "sst2+cola", "setting": "ta", "m3": m3, "model_id": model, "category": category, "task": task,
            "key": f"livebench/{model}/{task}", "per_question": [{"question_id": q, "score": s}
                                                                for q, s in scores.items()]}  # fmt: skip


def test_paired_over_questions_per_category_with_holm_over_categories() -> None:
    m3 = {"a": 1.0, "b": 0.5, "c": 0.75, "d": 0.0}
    plain = {"a": 0.5, "b": 0.5, "c": 0.25, "d": 0.0, "e": 1.0}  # e: only plain answered it, left out
    frame = pd.DataFrame([
        _row(True, "instruction_following", "paraphrase", {k: m3[k] for k in "ab"}),
        _row(True, "instruction_following", "summarize", {k: m3[k] for k in "cd"}),
        _row(False, "instruction_following", "paraphrase", {k: plain[k] for k in "abe"}),
        _row(False, "instruction_following", "summarize", {k: plain[k] for k in "cd"}),
        _row(True, "coding", "lcb", {"x": 1.0, "y": 0.0}),
        _row(False, "coding", "lcb", {"x": 0.0, "y": 0.0}),
        _row(True, "math", "one", {"z": 1.0}),  # one shared question: no comparison
        _row(False, "math", "one", {"z": 0.0}),
        _row(None, "math", "one", {"z": 0.0}) | {"setting": None, "m3": False},  # a reference model: left out
    ])  # fmt: skip
    out = compare_livebench(frame).set_index("category")
    assert sorted(out.index) == ["coding", "instruction_following"]
    row = out.loc["instruction_following"]
    diffs = [0.5, 0.0, 0.5, 0.0]
    t = stats.ttest_1samp(diffs, 0.0)
    assert row.questions == 4 and row["diff"] == pytest.approx(0.25) and row.p == pytest.approx(t.pvalue)
    low, high = t.confidence_interval(0.95)
    assert (row.low, row.high) == (pytest.approx(low), pytest.approx(high))
    assert row.m3 == pytest.approx(0.5625) and row.plain == pytest.approx(0.3125)
    from statsmodels.stats.multitest import multipletests

    adjusted = multipletests([out.loc["coding"].p, row.p], method="holm")[1]
    assert row.p_holm == pytest.approx(adjusted[1]) and out.loc["coding"].p_holm == pytest.approx(adjusted[0])
    se = stats.sem(diffs)
    expected = (stats.t.ppf(1 - 0.05 / 4, 3) + stats.t.ppf(0.8, 3)) * se
    assert row.detectable == pytest.approx(expected)

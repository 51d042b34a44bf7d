"""Table cells from hand-made attack rows: a mean over seeds never quietly drops a seed; sizes count distinct rows."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from reports.effects import quantity_cell, sample_size
from reports.formatting import mean_of_all
from reports.table3 import attack_cells, size_text


def _rows(attacked: list[float], indices: list[list[int]], attack: str = "deepwordbug") -> pd.DataFrame:
    n = len(attacked)
    return pd.DataFrame(
        {
            "pair": ["a+b"] * n, "order": [2] * n, "variant": ["Task Arithmetic"] * n, "dataset": ["sst2"] * n,
            "attack": [attack] * n, "search": ["paper"] * n, "method": ["task_arithmetic"] * n, "m3": [False] * n,
            "model_id": ["ta"] * n, "m3_convention": [None] * n, "metric_name": ["accuracy"] * n,
            "clean_metric": [0.8] * n, "attacked_metric": attacked,
            "pdr": [None if math.isnan(a) else (0.8 - a) / 0.8 for a in attacked],
            "indices": indices, "prompt": ["p0"] * n, "generator": [None] * n, "similarity_encoder": [None] * n,
            "key": [f"k{i}" for i in range(n)],
        }
    )  # fmt: skip


def test_a_missing_seed_value_makes_the_cell_mean_missing() -> None:
    assert mean_of_all([0.5, 0.7]) == pytest.approx(0.6)
    assert mean_of_all([0.5, float("nan")]) is None and mean_of_all([0.5, None]) is None and mean_of_all([]) is None
    cell = attack_cells(_rows([0.6, float("nan"), 0.4], [[1, 2], [2, 3], [3, 4]])).iloc[0]
    # pandas' mean would have said 0.5 over two seeds while the cell says three.
    assert cell["attacked_metric"] is None and cell["pdr"] is None and cell["absolute_drop"] is None
    assert cell["clean_metric"] == pytest.approx(0.8)


def test_cells_count_distinct_rows_and_say_when_seeds_only_drew_rows() -> None:
    # Three seeds of 2 rows each from the same report rows: 6 (row, seed) pairs, 4 distinct rows.
    cells = attack_cells(_rows([0.5, 0.5, 0.5], [[1, 2], [2, 3], [3, 4]]))
    cell = cells.iloc[0]
    assert (cell["n_seeds"], cell["n_samples"], cell["n_rows"], bool(cell["attack_seeds"])) == (3, 6, 4, True)
    assert size_text(cell) == "3×2 (4 rows)"
    stress = attack_cells(_rows([0.5, 0.5], [[1, 2], [1, 2]], attack="stresstest")).iloc[0]
    assert not stress["attack_seeds"] and size_text(stress) == "2×2† (2 rows)"
    assert sample_size(4, 3, True) == "4 rows × 3 seeds" and sample_size(2, 2, False) == "2 rows × 2 row draws"


def test_effect_quantities_say_which_sign_favours_m3() -> None:
    assert quantity_cell("attacked", "mcc") == "attacked MCC (↑ better)"
    assert quantity_cell("pdr", "accuracy") == "PDR (↓ better)"

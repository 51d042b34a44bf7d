"""The power arithmetic: a design's detectable difference, and variance components measured on one design
projected onto another, checked against studies simulated with the search model."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from robustness.stats.crossed import Components, crossed_test
from robustness.stats.power import detectable, planned_power, projected, seeds_for
from robustness.stats.search_model import Design, SearchModel, simulate


def test_projection_onto_the_same_design_is_the_tests_own_standard_error() -> None:
    rng = np.random.default_rng(3)
    study = simulate(rng, SearchModel(), Design(4, 8, 100, 150))
    test = crossed_test(study.attacked[0], study.attacked[1], study.labels)
    assert test.components is not None and test.se is not None
    se, _, _ = projected(test.components, 4, 150, 1)
    parts = test.components
    clipped = parts.seed == 0 or parts.row == 0
    assert clipped or se == pytest.approx(test.se, rel=1e-9)


def test_components_from_one_design_predict_the_standard_error_of_another() -> None:
    """Components averaged over studies of 3 seeds x 300 rows predict the median SE of 6 seeds x 100 rows within
    15%, where keeping the first design's SE would be off by far more."""
    rng = np.random.default_rng(0)
    model = SearchModel()
    fitted = []
    for _ in range(150):
        s = simulate(rng, model, Design(3, 8, 100, 300))
        t = crossed_test(s.attacked[0], s.attacked[1], s.labels)
        assert t.components is not None
        fitted.append((t.components.seed, t.components.row, t.components.error))
    parts = Components(*np.mean(fitted, axis=0))
    target = planned_power(Design(6, 8, 100, 100), "accuracy", 1, model, studies=150, seed=1)
    se, df, _ = projected(parts, 6, 100, 1)
    assert se == pytest.approx(target.se, rel=0.15)
    assert df == pytest.approx(target.df, rel=0.5)


def test_detectable_differences_shrink_with_seeds_and_family_size_raises_them() -> None:
    parts = Components(seed=0.02, row=0.1, error=0.1)
    found = [projected(parts, s, 400, 4)[2] or 0.0 for s in (2, 4, 8, 16)]
    assert all(a > b > 0 for a, b in itertools.pairwise(found))
    assert (projected(parts, 8, 400, 10)[2] or 0.0) > (projected(parts, 8, 400, 1)[2] or 0.0)
    need = seeds_for(0.10, parts, 400, 4)
    assert need is not None
    assert (projected(parts, need, 400, 4)[2] or 1.0) <= 0.10 < (projected(parts, need - 1, 400, 4)[2] or 1.0)
    assert seeds_for(0.001, parts, 400, 4, most=50) is None  # the rows' part alone is larger
    assert detectable(None, 3.0, 2) is None and detectable(0.1, 3.0, 0) is None


def test_holm_runs_over_the_whole_primary_family() -> None:
    from robustness.stats.power import family_holm

    adjusted, size = family_holm([0.01, 0.04], [True, True], others=[0.03])  # held-out rows, LiveBench's one
    assert size == 3 and adjusted == [pytest.approx(0.03), pytest.approx(0.06)]  # Holm over 0.01, 0.03, 0.04
    adjusted, size = family_holm([0.01, 0.2], [True, False], others=[None, 0.5])
    assert size == 2 and adjusted[0] == pytest.approx(0.02) and adjusted[1] is None  # exploratory: no adjustment

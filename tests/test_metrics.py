"""Metrics on hand-worked examples."""

import math

import pytest

from robustness.metrics import accuracy, mcc, pdr


def test_accuracy() -> None:
    assert accuracy([1, 0, 1, 1], [1, 1, 1, -1]) == 0.5


def test_mcc_hand_worked() -> None:
    # TP=2, TN=1, FP=1, FN=1: (2*1 - 1*1) / sqrt(3*3*2*2) = 1/6
    assert mcc([1, 1, 1, 0, 0], [1, 1, 0, 1, 0]) == pytest.approx(1 / 6)
    assert mcc([1, 0, 1, 0], [1, 0, 1, 0]) == pytest.approx(1.0)
    assert mcc([1, 0, 1, 0], [0, 1, 0, 1]) == pytest.approx(-1.0)
    assert mcc([1, 0, 1, 0], [1, 1, 1, 1]) == 0.0  # constant predictions


def test_mcc_counts_unknown_as_wrong() -> None:
    # -1 on a positive row becomes 0 (a false negative): TP=1, TN=2, FP=0, FN=1 -> 2/sqrt(1*3*2*2) = 1/sqrt(3)
    assert mcc([1, 1, 0, 0], [1, -1, 0, 0]) == pytest.approx(1 / math.sqrt(3))


def test_pdr() -> None:
    assert pdr(0.8, 0.6) == pytest.approx(0.25)
    assert pdr(0.5, 0.6) == pytest.approx(-0.2)  # the attack helped: negative drop
    assert pdr(0.0, -0.1) is None
    assert pdr(-0.2, -0.3) is None  # MCC below zero: undefined, never a sign-flipped number
    assert pdr(0.5, math.nan) is None and pdr(math.nan, 0.5) is None  # a missing value is undefined, not NaN


def test_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="equal-length"):
        accuracy([1, 0], [1])


def test_mcc_on_rows_of_one_label_is_0_without_a_warning() -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # scikit-learn's "A single label was found" would fail here
        assert mcc([1, 1, 1, 1], [1, 0, 1, -1]) == 0.0
        assert mcc([0, 0, 0], [0, 0, 0]) == 0.0
        assert mcc([0, 1, 0, 1], [1, 1, 1, 1]) == 0.0  # one predicted label
        assert mcc([0, 1, 0, 1], [0, 1, 0, 1]) == 1.0

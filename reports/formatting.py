"""Fixed number formats: the same value always prints the same way, so two renders are byte-identical."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import pandas as pd

MISSING = "—"


def is_missing(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def mean_of_all(values: Iterable[float | None]) -> float | None:
    """The mean when every value is present; None when any is missing (None or NaN) or there is none.

    A table cell that averages over seeds must not quietly average over fewer seeds than it says (pandas' mean
    skips NaN)."""
    listed = list(values)
    if not listed or any(is_missing(v) for v in listed):
        return None
    return float(sum(float(v) for v in listed if v is not None) / len(listed))


def num(x: float | None, digits: int = 3) -> str:
    return MISSING if is_missing(x) else f"{x:.{digits}f}"


PDR_WIDEST = 1.0  # a PDR-difference interval this wide says nothing about the difference (PDR on a small MCC)


def too_wide(low: float | None, high: float | None) -> float | None:
    """The width of a PDR-difference interval that says nothing (at least `PDR_WIDEST`), else None."""
    if is_missing(low) or is_missing(high):
        return None
    assert low is not None and high is not None
    return high - low if high - low >= PDR_WIDEST else None


def detectable_cell(x: float | None) -> str:
    """A detectable difference; above 1 no difference in accuracy or MCC that can happen is detectable."""
    return "> 1 (none)" if not is_missing(x) and x is not None and x > 1 else num(x)


def signed(x: float | None, digits: int = 3) -> str:
    return MISSING if is_missing(x) else f"{x:+.{digits}f}"


def interval(low: float | None, high: float | None, digits: int = 3) -> str:
    if is_missing(low) or is_missing(high):
        return MISSING
    return f"[{low:+.{digits}f}, {high:+.{digits}f}]"


def value_interval(x: float | None, low: float | None, high: float | None, digits: int = 3) -> str:
    """'0.750 [0.600, 0.880]': a value and its interval (the value alone where the interval is missing)."""
    if is_missing(x):
        return MISSING
    if is_missing(low) or is_missing(high):
        return num(x, digits)
    return f"{x:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def pvalue(p: float | None) -> str:
    if is_missing(p):
        return MISSING
    assert p is not None
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def per_seed(sizes: Iterable[int]) -> str:
    """Samples per seed: '40', or '38-40' when seeds drew different numbers of samples."""
    ordered = sorted(set(sizes))
    if not ordered:
        return MISSING
    return str(ordered[0]) if len(ordered) == 1 else f"{ordered[0]}-{ordered[-1]}"


def keys_cell(keys: Iterable[str]) -> str:
    """Unit keys behind a table row, sorted, ';'-separated (the csv's traceability column)."""
    return ";".join(sorted(set(keys)))


def csv_text(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False, float_format="%.6f", lineterminator="\n")


def sorted_columns(frame: pd.DataFrame, by: list[str], columns: list[str]) -> pd.DataFrame:
    """`frame[columns]` sorted by `by` (a table's data file); an empty frame still has the columns."""
    return frame.sort_values(by)[columns] if len(frame) else pd.DataFrame(columns=columns)

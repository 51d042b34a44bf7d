"""Which rows of a validation split a study uses: disjoint selection, report and (optionally) measurement rows, and
each attack seed's sample of the report rows. Pure: seeded draws only."""

from __future__ import annotations

import numpy as np


def row_parts(n_rows: int, selection_n: int, report_n: int, seed: int) -> tuple[list[int], list[int]]:
    """Disjoint selection and report rows of a validation split, drawn with one seed."""
    if selection_n + report_n > n_rows:
        raise ValueError(f"selection_n + report_n = {selection_n + report_n} exceeds the split's {n_rows} rows")
    perm = np.random.default_rng(seed).permutation(n_rows)
    return sorted(int(i) for i in perm[:selection_n]), sorted(
        int(i) for i in perm[selection_n : selection_n + report_n]
    )


def split_rows(n_rows: int, selection_n: int, report_n: int, measure_n: int,
               seed: int) -> tuple[list[int], list[int], list[int]]:  # fmt: skip
    """Selection, report and measurement rows: the first two as `row_parts` draws them, the measurement rows the
    next `measure_n` of the same seeded permutation, so they are held out from every selection and attack search
    (the rows each seed's search uses are report rows)."""
    if selection_n + report_n + measure_n > n_rows:
        raise ValueError(f"selection_n + report_n + measure_n = {selection_n + report_n + measure_n} exceeds the "
                         f"split's {n_rows} rows")  # fmt: skip
    start = selection_n + report_n
    measure = np.random.default_rng(seed).permutation(n_rows)[start : start + measure_n]
    return (*row_parts(n_rows, selection_n, report_n, seed), sorted(int(i) for i in measure))


def stand_in_rows(selection_n: int, report_n: int, measure_n: int) -> tuple[list[int], list[int], list[int]]:
    """Row indices that stand in for a split's (0, 1, 2, ...): they change keys, not how many units a plan has."""
    cut = selection_n + report_n
    return list(range(selection_n)), list(range(selection_n, cut)), list(range(cut, cut + measure_n))


def attack_rows(report: list[int], n: int, seed: int) -> list[int]:
    """The rows one attack seed uses: a seeded sample of the report rows (the same for every model)."""
    if n >= len(report):
        return list(report)
    picked = np.random.default_rng(seed).choice(len(report), size=n, replace=False)
    return sorted(report[int(i)] for i in picked)

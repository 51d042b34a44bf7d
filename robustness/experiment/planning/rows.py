"""Which rows of a validation split a study uses: disjoint selection and report rows, and each attack seed's sample
of the report rows. Pure: seeded draws only."""

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


def attack_rows(report: list[int], n: int, seed: int) -> list[int]:
    """The rows one attack seed uses: a seeded sample of the report rows (the same for every model)."""
    if n >= len(report):
        return list(report)
    picked = np.random.default_rng(seed).choice(len(report), size=n, replace=False)
    return sorted(report[int(i)] for i in picked)

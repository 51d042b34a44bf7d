"""One comparison of two arms on one (dataset, attack) cell: interval, row-level test, seed-level test.

- Interval: the joint paired bootstrap over rows (`bootstrap`), conditional on the attacked prompts found.
- `p_rows`: the paired permutation test on per-row outcomes, pooled over seeds and stratified by seed
  (`permutation`); it uses every row, so it has power, and it is the p-value that enters Holm's correction.
- `seed_test`: the paired test across seeds (`seed_tests`); it reflects between-seed variation but has little
  power with 3 seeds. There is none when the seeds are not attack seeds (the attack ignores its seed, so the
  seeds only drew different rows: their values are row resamples, not independent replicates of the attack).

An undefined estimate (PDR with a clean metric <= 0 on some seed) gets no interval and no p-value of either kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from robustness.metrics import pdr
from robustness.stats.bootstrap import MAX_UNDEFINED, QUANTITIES, derived_seed, paired_bootstrap, run_metrics
from robustness.stats.pairing import ArmRun, PairedRun, pair_runs, shared_rows
from robustness.stats.permutation import PermutationTest, paired_permutation_test
from robustness.stats.seed_tests import SeedTest, paired_seed_test


@dataclass(frozen=True)
class Effect:
    """A - B for one quantity ('clean', 'attacked' or 'pdr'), with everything a reader needs to judge it."""

    quantity: str
    estimate: float | None
    low: float | None
    high: float | None
    resamples: int
    used: int  # resamples with a value (PDR has none where a clean metric <= 0)
    n_rows: int  # distinct samples behind the comparison
    n_seeds: int  # paired replicates (prompt, seed)
    n_pairs: int  # (sample, seed) pairs per arm: seeds x samples per seed, repeated samples counted again
    permutation: PermutationTest
    seed_test: SeedTest | None  # None when the seeds are not attack seeds
    unpaired: tuple[str, ...]  # replicates only one arm has, left out
    notes: tuple[str, ...]  # why a number is missing or weak, in words

    @property
    def p_rows(self) -> float | None:
        """The p-value for the multiple-comparison correction: the row-level permutation test's."""
        return None if self.estimate is None else self.permutation.p

    @property
    def p_seeds(self) -> float | None:
        return None if self.estimate is None or self.seed_test is None else self.seed_test.p


def compare(
    a: Mapping[str, ArmRun],
    b: Mapping[str, ArmRun],
    metric_name: str,
    resamples: int = 2000,
    seed: int = 0,
    level: float = 0.95,
    permutations: int = 9999,
    permutation_seed: int | None = None,
    attack_seeds: bool = True,
) -> dict[str, Effect]:
    """Effects of arm A over arm B in clean metric, attacked metric and PDR, keyed by quantity.

    `attack_seeds`: whether the replicates' seeds changed the attack itself (False: they only drew rows).
    `permutation_seed`: the permutation test's stream (default: derived from `seed`)."""
    pairing = pair_runs(a, b)
    if not pairing.runs:
        raise ValueError("the two arms share no replicate (prompt, seed); nothing to compare")
    rows = shared_rows(pairing.runs)
    intervals = paired_bootstrap(pairing.runs, metric_name, resamples, seed, level)
    stream = derived_seed(seed, "permutation") if permutation_seed is None else permutation_seed
    tests = paired_permutation_test(pairing.runs, metric_name, permutations, stream)
    values = [_run_values(run, metric_name) for run in rows.runs]
    out = {}
    for q in QUANTITIES:
        iv, perm = intervals[q], tests[q]
        seed_test = paired_seed_test([v[q][0] for v in values], [v[q][1] for v in values]) if attack_seeds else None
        notes = []
        if iv.estimate is None:
            notes.append("undefined: a clean metric <= 0 on some seed, so no interval and no p-value")
        elif iv.withheld:
            notes.append(
                f"no interval: undefined in {iv.skipped}/{iv.resamples} resamples "
                f"(more than {MAX_UNDEFINED:.1%}; the estimate is near a clean metric of 0)"
            )
        elif iv.skipped:
            notes.append(f"undefined in {iv.skipped}/{iv.resamples} resamples (left out of the interval)")
        if iv.estimate is not None and perm.undefined:
            notes.append(f"undefined under {perm.undefined}/{perm.assignments} permutations (counted as extreme)")
        if not attack_seeds and rows.n_seeds > 1:
            notes.append("the attack ignores its seed: seeds only drew rows, so no seed-level test")
        out[q] = Effect(
            q, iv.estimate, iv.low, iv.high, iv.resamples, iv.used, rows.n_rows, rows.n_seeds, rows.n_pairs,
            perm, seed_test, tuple(pairing.unpaired), tuple(notes),
        )  # fmt: skip
    return out


def _run_values(run: PairedRun, metric_name: str) -> dict[str, tuple[float | None, float | None]]:
    """Each arm's clean metric, attacked metric and PDR on one replicate (full samples)."""
    ac, aa, bc, ba = run_metrics(run, metric_name)
    return {"clean": (ac, bc), "attacked": (aa, ba), "pdr": (pdr(ac, aa), pdr(bc, ba))}

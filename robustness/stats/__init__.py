"""Statistics over stored predictions: joint paired bootstrap intervals (and one model's own, for the points of
the attacked lambda curve), row-level permutation tests, paired tests across seeds, Holm correction, and the crossed
seeds x rows test that stays valid over prompt searches (`crossed_test`; `search_model` simulates such studies).

Pure functions over arrays; nothing here reads the store or runs a model. README, "Reading the statistics", says
what each number can and cannot show.
"""

from robustness.stats.arm import arm_bootstrap, arm_values
from robustness.stats.bootstrap import (
    MAX_UNDEFINED,
    QUANTITIES,
    BootstrapInterval,
    derived_seed,
    observed,
    paired_bootstrap,
)
from robustness.stats.comparison import Effect, compare
from robustness.stats.crossed import CrossedTest, crossed_test
from robustness.stats.holm import holm
from robustness.stats.pairing import ArmRun, PairedRun, Pairing, SharedRows, pair_runs, shared_rows
from robustness.stats.permutation import PermutationTest, paired_permutation_test
from robustness.stats.resample import batch_mcc, batch_metric
from robustness.stats.seed_tests import WILCOXON_MIN, SeedTest, paired_seed_test, sign_flip_p
from robustness.stats.single import metric_interval

__all__ = [
    "MAX_UNDEFINED",
    "QUANTITIES",
    "WILCOXON_MIN",
    "ArmRun",
    "BootstrapInterval",
    "CrossedTest",
    "Effect",
    "PairedRun",
    "Pairing",
    "PermutationTest",
    "SeedTest",
    "SharedRows",
    "arm_bootstrap",
    "arm_values",
    "batch_mcc",
    "batch_metric",
    "compare",
    "crossed_test",
    "derived_seed",
    "holm",
    "metric_interval",
    "observed",
    "pair_runs",
    "paired_bootstrap",
    "paired_permutation_test",
    "paired_seed_test",
    "shared_rows",
    "sign_flip_p",
]

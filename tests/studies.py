"""Simulated attack studies with a known effect, for checking the coverage of intervals and the size of tests.

A study draws report rows from a population, then, per attack seed, the rows that seed attacks (all of them, or a
seeded subset, as `experiment.plan.attack_rows` does). Each row has a difficulty shared by both arms and, per arm,
a persistent skill on that row (a model that gets a row wrong under one attacked prompt tends to get it wrong
under another); a row's clean prediction is drawn once per arm and is the same in every seed, and its attacked
prediction adds a little noise per seed. The two arms are exchangeable, so the true difference in any metric or
PDR is zero; `shift` adds a true effect to arm A's attacked logit.
"""

from __future__ import annotations

import numpy as np

from robustness.stats import ArmRun

ROW_SKILL_SD = 2.5  # per arm and row: what makes seeds on shared rows correlated
SEED_NOISE_SD = 0.5  # per arm, row and seed


def study(
    rng: np.random.Generator, report: int, per_seed: int, seeds: int = 3, shift: float = 0.0
) -> tuple[dict[str, ArmRun], dict[str, ArmRun]]:
    """Arms A and B of one simulated study: replicate name -> ArmRun, the same rows per seed for both arms."""
    labels = rng.integers(0, 2, report)
    difficulty = rng.normal(0.0, 1.0, report)
    skill = rng.normal(0.0, ROW_SKILL_SD, (2, report))

    def predict(logit: np.ndarray) -> np.ndarray:
        right = rng.random(logit.shape) < 1.0 / (1.0 + np.exp(-logit))
        return np.where(right, labels, 1 - labels)

    clean = [predict(1.5 + difficulty + skill[k]) for k in range(2)]
    arms: tuple[dict[str, ArmRun], dict[str, ArmRun]] = ({}, {})
    for s in range(seeds):
        rows = np.arange(report) if per_seed >= report else np.sort(rng.choice(report, per_seed, replace=False))
        for k in range(2):
            noise = rng.normal(0.0, SEED_NOISE_SD, report)
            attacked = predict(0.2 + difficulty + skill[k] + noise + (shift if k == 0 else 0.0))
            arms[k][f"p0/seed={s}"] = ArmRun(rows.tolist(), labels[rows].tolist(), clean[k][rows].tolist(),
                                             attacked[rows].tolist())  # fmt: skip
    return arms

"""A model of an attack study with a prompt search, for checking tests by simulation (and, later, sizing studies).

Each row has a difficulty shared by both arms and a persistent per-arm skill on it. An attack seed gives each arm
its own set of candidate prompts (the prompts its search can reach); a candidate has an effect on the arm and an
effect per row. On a row, an arm answers right with probability logit^-1(base + arm shift + row + arm x row -
candidate - candidate x row). Each arm's search keeps the candidate that hurts it most on the seed's search rows
(its realised outcomes there, as a real search sees them). The found prompt is then measured on measurement rows
that every seed and both arms share, held out from the searches; the clean prompt is measured once on them.

The arms are exchangeable unless `shift` is set, so with `shift = 0` every test of A against B should reject at its
nominal rate. Standard deviations are on the logit scale; the defaults are assumptions until fitted on a store.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SearchModel:
    base: float = 0.3  # logit of a right answer under a typical attacked prompt
    clean: float = 1.2  # logit of a right answer under the clean prompt
    row_sd: float = 1.2  # row difficulty, shared by the arms
    arm_row_sd: float = 0.8  # an arm's persistent skill on a row
    candidate_sd: float = 0.6  # a candidate prompt's effect on one arm
    candidate_row_sd: float = 0.5  # a candidate's effect on one row
    candidates: int = 20  # prompts each arm's search compares per seed
    positive_rate: float = 0.5  # the share of rows labelled 1 (CoLA's validation split: about 0.69)


@dataclass(frozen=True)
class Design:
    seeds: int
    search_rows: int  # rows each seed's search uses (drawn from the search pool)
    search_pool: int  # rows searches draw from
    measure_rows: int  # rows the found prompts are measured on (shared by seeds and arms); 0: in-search only


@dataclass(frozen=True)
class SimulatedStudy:
    """One simulated study's predictions (a row's label when the arm answers right, the other label when not) for
    arms A (index 0) and B (index 1)."""

    labels: np.ndarray  # [R] the measurement rows' labels
    attacked: np.ndarray  # [2, S, R] on the measurement rows under each seed's found prompt
    clean: np.ndarray  # [2, R] on the measurement rows under the clean prompt
    search_labels: np.ndarray  # [P] the search pool's labels
    search_rows: np.ndarray  # [S, n] indices into the search pool
    search_attacked: np.ndarray  # [2, S, n] on each seed's search rows under the prompt found there
    search_clean: np.ndarray  # [2, P] on the search pool under the clean prompt


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def simulate(rng: np.random.Generator, model: SearchModel, design: Design, shift: float = 0.0) -> SimulatedStudy:
    """One study: `shift` is added to arm A's logit on every attacked and clean answer (0: no true difference)."""
    pool, measure = design.search_pool, design.measure_rows
    row = rng.normal(0.0, model.row_sd, pool + measure)
    skill = rng.normal(0.0, model.arm_row_sd, (2, pool + measure))
    shifts = np.array([shift, 0.0])[:, None]
    ability = shifts + row[None, :] + skill  # [2, rows]: arm A's first
    clean = rng.random((2, pool + measure)) < _sigmoid(model.clean + ability)
    search_rows = np.stack([np.sort(rng.choice(pool, design.search_rows, replace=False)) for _ in range(design.seeds)])
    attacked = np.zeros((2, design.seeds, measure), dtype=np.int8)
    found = np.zeros((2, design.seeds, design.search_rows), dtype=np.int8)
    for arm in range(2):
        for s in range(design.seeds):
            effect = rng.normal(0.0, model.candidate_sd, model.candidates)
            per_row = rng.normal(0.0, model.candidate_row_sd, (model.candidates, pool + measure))
            logits = model.base + ability[arm][None, :] - effect[:, None] - per_row  # [C, rows]
            rows = search_rows[s]
            outcomes = rng.random((model.candidates, rows.size)) < _sigmoid(logits[:, rows])
            worst = int(np.argmin(outcomes.sum(axis=1)))  # ties: the first, as a greedy search keeps the first
            found[arm, s] = outcomes[worst]
            attacked[arm, s] = rng.random(measure) < _sigmoid(logits[worst, pool:])
    labels = (rng.random(pool + measure) < model.positive_rate).astype(np.int8)

    def said(right: np.ndarray, truth: np.ndarray) -> np.ndarray:
        return np.where(right.astype(bool), truth, 1 - truth).astype(np.int8)

    held, searched = labels[pool:], labels[:pool]
    return SimulatedStudy(held, said(attacked, held), said(clean[:, pool:], held), searched, search_rows,
                          said(found, searched[search_rows][None, :, :]), said(clean[:, :pool], searched))  # fmt: skip


def expected_difference(rng: np.random.Generator, model: SearchModel, design: Design, shift: float,
                        searches: int = 2000) -> float:  # fmt: skip
    """The estimand under the model: arm A's expected attacked accuracy on new rows minus arm B's, over searches
    (each on `design.search_rows` fresh rows) and rows. A found prompt's per-row effects on new rows are fresh
    draws, so only its general effect carries over; rows are integrated by Gauss-Hermite quadrature."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(80)
    spread = float(np.sqrt(model.row_sd**2 + model.arm_row_sd**2 + model.candidate_row_sd**2))
    accuracy = []
    for arm_shift in (shift, 0.0):
        n, c = design.search_rows, model.candidates
        ability = arm_shift + rng.normal(0.0, model.row_sd, (searches, 1, n)) + rng.normal(0.0, model.arm_row_sd,
                                                                                         (searches, 1, n))  # fmt: skip
        effect = rng.normal(0.0, model.candidate_sd, (searches, c))
        per_row = rng.normal(0.0, model.candidate_row_sd, (searches, c, n))
        right = rng.random((searches, c, n)) < _sigmoid(model.base + ability - effect[:, :, None] - per_row)
        found = effect[np.arange(searches), np.argmin(right.sum(axis=2), axis=1)]
        on_new_rows = _sigmoid(model.base + arm_shift - found[:, None] + spread * nodes[None, :]) @ weights
        accuracy.append(float(on_new_rows.mean() / np.sqrt(2 * np.pi)))
    return accuracy[0] - accuracy[1]

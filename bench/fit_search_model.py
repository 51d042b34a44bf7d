"""Fit the search model's spreads (robustness/stats/search_model.py) to a finished run's held-out measurements.

    .venv/bin/python bench/fit_search_model.py RUN_DIR [--studies 40]

For each held-out comparison with two seeds or more (method/dataset/attack, score mode) the crossed test's variance
components (a search's, a row's, the rest) are read off the stored predictions. The model's attacked and clean
logits are set from the run's mean attacked and clean accuracy on the measurement rows; its candidate spread (the
searches' part) and arm x row spread (the rows' part) are chosen on a grid by simulating studies of the run's own
design and matching the mean components (least squares on their logarithms). It prints the fitted model, which
tests/test_crossed.py then uses for its size and coverage checks, and the simulated size there.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import replace

import numpy as np

from robustness.experiment.sizing.power import held_out_cells
from robustness.stats.crossed import crossed_test
from robustness.stats.search_model import Design, SearchModel, simulate

CANDIDATE_SD = (0.1, 0.2, 0.35, 0.5, 0.7, 0.9, 1.2, 1.6, 2.0)
ARM_ROW_SD = (0.2, 0.4, 0.6, 0.8, 1.1, 1.5, 2.0, 2.5, 3.0, 4.0)


def _logit(p: float) -> float:
    p = min(max(p, 0.02), 0.98)
    return math.log(p / (1 - p))


def observed(run_dir: str) -> list[dict[str, float]]:
    """The run's held-out accuracy comparisons: their variance components and accuracy levels."""
    out = []
    for c in held_out_cells(run_dir):
        if c.metric != "accuracy":
            continue
        test = crossed_test(c.m3, c.plain, c.labels)
        assert test.components is not None
        clean = np.array([c.clean_m3 == c.labels, c.clean_plain == c.labels]).mean()
        out.append({"seeds": c.m3.shape[0], "rows": c.m3.shape[1], "seed": test.components.seed,
                    "row": test.components.row, "error": test.components.error,
                    "attacked": float(((c.m3 == c.labels).mean() + (c.plain == c.labels).mean()) / 2),
                    "clean": float(clean), "positive": float(c.labels.mean())})  # fmt: skip
    return out


def simulated(model: SearchModel, design: Design, studies: int, seed: int = 0) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    parts = []
    for _ in range(studies):
        s = simulate(rng, model, design)
        t = crossed_test(s.attacked[0], s.attacked[1], s.labels)
        if t.components is not None:
            parts.append((t.components.seed, t.components.row))
    seed_part, row_part = np.mean(parts, axis=0)
    return float(seed_part), float(row_part)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--studies", type=int, default=40)
    parser.add_argument("--search-rows", type=int, default=8, help="rows each seed's search used (the attack's n)")
    args = parser.parse_args()
    cells = observed(args.run_dir)
    if not cells:
        raise SystemExit(f"{args.run_dir}: no held-out accuracy comparison with two seeds or more")
    for c in cells:
        print(f"measured: {c['seeds']} seeds x {c['rows']} rows, components seed {c['seed']:.4f} row {c['row']:.4f} "
              f"rest {c['error']:.4f}; accuracy clean {c['clean']:.3f} attacked {c['attacked']:.3f}")  # fmt: skip
    target = {k: float(np.mean([c[k] for c in cells])) for k in ("seed", "row", "attacked", "clean", "positive")}
    first = cells[0]
    design = Design(seeds=int(first["seeds"]), search_rows=args.search_rows, search_pool=100,
                    measure_rows=int(first["rows"]))  # fmt: skip
    base = SearchModel(base=_logit(target["attacked"]) * 1.5, clean=_logit(target["clean"]) * 1.5,
                       positive_rate=target["positive"])  # fmt: skip
    best, loss = base, math.inf
    for cand in CANDIDATE_SD:
        for arm_row in ARM_ROW_SD:
            model = replace(base, candidate_sd=cand, arm_row_sd=arm_row)
            seed_part, row_part = simulated(model, design, args.studies)
            err = sum((math.log(max(x, 1e-6)) - math.log(max(y, 1e-6))) ** 2
                      for x, y in ((seed_part, target["seed"]), (row_part, target["row"])))  # fmt: skip
            if err < loss:
                best, loss = model, err
    seed_part, row_part = simulated(best, design, 4 * args.studies, seed=1)
    print(f"fitted: {best}")
    print(f"simulated components at the fit: seed {seed_part:.4f} row {row_part:.4f} (measured mean seed "
          f"{target['seed']:.4f} row {target['row']:.4f})")  # fmt: skip


if __name__ == "__main__":
    main()

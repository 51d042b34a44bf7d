"""The shipped study configs keep their unit keys: a stored run is found again after a code change.

Keys hash each unit's inputs (robustness/experiment/kinds/). A change that alters them makes every stored
result of every user's run unreachable, so it must be deliberate: update the digests below and say why in the
README. Row parts and checkpoint identities are fixed here, so the digests depend on the planning code only.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from robustness.experiment.planning.models import candidate_models, plain_models
from robustness.experiment.planning.plan import phase_one, phase_two
from robustness.experiment.planning.rows import row_parts, split_rows
from robustness.experiment.spec.config import load_experiment

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
SPLIT_ROWS = {"sst2": 872, "cola": 1043}  # GLUE's validation splits

# config -> (units planned, sha256 of the keys in plan order, first 16 hex digits)
EXPECTED = {
    # The default study with every report part on; 2026-12-04: alpha 5 added and the worst_task criterion (README,
    # "Lambda selection"), the plain merges' selection-row scores, and 100 held-out measurement rows (measure units).
    "default": (306, "e7c5a0f5cbd4e8cd"),
    "smoke": (50, "5d3d3fdc48d131d4"),
    "paper-13b": (2092, "65673b1e712b1b3d"),  # 2026-12-04: report_n 300 and 372 held-out measurement rows
}


def planned_keys(name: str) -> list[str]:
    cfg = load_experiment(CONFIGS / f"{name}.yaml")
    e = cfg.eval
    rows = {
        d: split_rows(SPLIT_ROWS[d], e.selection_n, e.report_n, e.measure_n, e.split_seed)
        if e.measure_n
        else row_parts(SPLIT_ROWS[d], e.selection_n, e.report_n, e.split_seed)
        for d in e.datasets
    }
    experts = sorted({name for pair in cfg.pairs for name in pair})
    identities = {"base": "base-digest", **{x: f"{x}-digest" for x in experts}}
    candidates = candidate_models(cfg)
    chosen = {  # phase two for the first candidate of every (pair, method)
        p.model_id: next(c for c in candidates if c.pair == p.pair and c.label == p.label) for p in plain_models(cfg)
    }
    units = phase_one(cfg, rows, identities) + phase_two(cfg, rows, chosen, identities)
    return [u.key for u in units]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shipped_configs_keep_their_unit_keys(name: str) -> None:
    keys = planned_keys(name)
    digest = hashlib.sha256("\n".join(keys).encode()).hexdigest()[:16]
    assert (len(keys), digest) == EXPECTED[name], f"unit keys of configs/{name}.yaml changed"
    assert len(set(keys)) == len(keys)

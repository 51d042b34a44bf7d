"""The attacked lambda curve end to end on configs/curve-smoke.yaml: every candidate and the plain merge attacked on
the curve rows, the curve's table and figure and the spread over draws in the report; a rerun does no work.

Slow (minutes): run with `make test-slow`."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).parent.parent
M3R = str(Path(sys.executable).parent / "m3r")
COUNTS = {"merge": 5, "clean": 24, "attack": 12 + 30, "selection": 1}  # 30: the curve's attack units


def run(out: Path, *extra: str) -> str:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    proc = subprocess.run(
        [M3R, "run", str(ROOT / "configs" / "curve-smoke.yaml"), "--output-dir", str(out), *extra],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def curve_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    assert "72 units run, 0 already in the store" in run(out)
    return out / "curve-smoke"


def test_the_curve_attacks_every_candidate_and_the_plain_merge(curve_run: Path) -> None:
    with sqlite3.connect(curve_run / "results.sqlite") as conn:
        rows = conn.execute("SELECT kind, inputs, result FROM units WHERE status = 'done'").fetchall()
    kinds = [kind for kind, _, _ in rows]
    assert {k: kinds.count(k) for k in COUNTS} == COUNTS
    curve = [json.loads(r) for kind, i, r in rows if kind == "attack" and json.loads(i).get("purpose") == "curve"]
    assert len(curve) == 30
    models = {c["model_id"] for c in curve}
    assert len(models) == 5 and sum(not c["m3"] for c in curve) == 6  # 4 candidates and the plain merge
    by_seed: dict[tuple[str, str, int], set[tuple[int, ...]]] = {}
    for c in curve:
        by_seed.setdefault((c["dataset"], c["attack"], c["seed"]), set()).add(tuple(c["indices"]))
    assert all(len(v) == 1 and len(next(iter(v))) == 4 for v in by_seed.values())  # curve_n rows, same per model


def test_the_report_shows_the_curve_and_the_spread_over_draws(curve_run: Path) -> None:
    report = curve_run / "report"
    points = pd.read_csv(report / "tables" / "attack_curve.csv")
    assert len(points) == 5 * 4  # 5 models x (2 datasets x 2 attacks)
    m3 = points[points["m3"]]
    assert m3["lambda"].between(0, 1).all() and m3["chosen"].sum() == 4  # the chosen candidate, in each cell
    assert (points["attacked_low"] <= points["attacked_high"]).all()
    draws = pd.read_csv(report / "tables" / "m3_draws.csv")
    assert set(draws["alpha"]) == {0.5, 2.0} and (draws["n_draws"] == 2).all()
    assert set(draws["rows"]) == {"selection", "curve"}
    assert (report / "figures" / "attack_curve_sst2_cola_task_arithmetic.png").is_file()
    table3 = pd.read_csv(report / "tables" / "table3.csv")
    assert table3["n_samples"].max() <= 2 * 6  # the tables' own attacks (n 6), never the curve's units


def test_a_rerun_does_no_work(curve_run: Path) -> None:
    assert "0 units run, 72 already in the store" in run(curve_run.parent, "--no-report")

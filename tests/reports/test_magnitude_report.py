"""The magnitude section on a hand-made store: Task Arithmetic at its own scale 1 and on its axis at 0.5, each with
its plain merge and two M3 candidates (lambda 0.3 and 0.7, the same draws at both scales) attacked on the curve rows
(SST-2 StressTest, seed 0, 10 rows). Right answers are counts, so every number of the table and the figure is known."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from reports import figures
from reports.build import Report, build_report
from reports.load import load_run
from reports.write import write_report
from robustness.store import Store, unit_key
from tests.reports.curve_store import attack, put_attack, sst2_labels
from tests.reports.synthetic import right_on

PAIR = "sst2+cola"
ROWS = list(range(100, 110))
CONFIG = {"name": "mag", "methods": [{"method": "task_arithmetic", "parameters": {"scaling": 1.0}, "scales": [0.5]}]}
# setting -> (clean, attacked) right answers out of 10 for the plain merge, then the candidates at lambda 0.3, 0.7
COUNTS = {
    "task_arithmetic": ((8, 5), (7, 3), (9, 6)),
    "task_arithmetic@0.5": ((6, 5), (6, 4), (7, 6)),
}
LAMBDAS = (0.3, 0.7)


def ids(setting: str) -> list[str]:
    plain = f"{PAIR}/{setting}"
    return [plain, f"{plain}+m3/a1-d0", f"{plain}+m3/a1-d1"]


def identity(setting: str, k: int) -> dict[str, Any]:
    model_id = ids(setting)[k]
    if k == 0:
        return {"model_id": model_id, "method": "task_arithmetic", "m3": False, "pair": PAIR}
    lam = LAMBDAS[k - 1]
    return {"model_id": model_id, "method": "task_arithmetic", "m3": True, "alpha": 1.0, "draw": k - 1,
            "lambdas": [lam, round(1 - lam, 10)], "m3_convention": "official", "pair": PAIR}  # fmt: skip


def build(run_dir: Path) -> None:
    labels = sst2_labels(ROWS)
    with Store.create_or_resume(run_dir, CONFIG) as store:
        for setting, counts in COUNTS.items():
            for k, (ck, ak) in enumerate(counts):
                record = attack(ids(setting)[k], "sst2", "stresstest", 0, ROWS, right_on(labels, ck),
                                right_on(labels, ak), labels, identity(setting, k))  # fmt: skip
                put_attack(store, record, curve=True)
            candidates = [
                {k2: identity(setting, k)[k2] for k2 in ("model_id", "alpha", "lambdas", "draw")}
                | {"metrics": {"sst2": 0.5 + 0.1 * k, "cola": 0.2}, "score": 0.1 * k}
                for k in (1, 2)
            ]
            inputs = {"pair": PAIR, "method": setting, "candidates": [c["model_id"] for c in candidates]}
            record = {"pair": PAIR, "method": "task_arithmetic", "m3_convention": "official", "criterion": "mean",
                      "criterion_name": "mean_metric", "chosen_model_id": ids(setting)[2],
                      "candidates": candidates}  # fmt: skip
            store.put(unit_key("selection", inputs, f"{PAIR}/{setting}"), "selection", inputs, record)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("runs") / "mag"
    build(folder)
    return folder


@pytest.fixture(scope="module")
def report(run: Path) -> Report:
    return build_report(load_run(run), resamples=200, seed=0, permutations=99)


def test_the_table_has_each_scale_with_its_plain_merge_and_candidates(report: Report) -> None:
    data = next(t for t in report.tables if t.name == "magnitude").data.set_index("scale")
    assert list(data.index) == [0.5, 1.0]
    own, half = data.loc[1.0], data.loc[0.5]
    assert own.configured == half.configured == "task_arithmetic"
    assert (own.plain_clean, own.plain_attacked) == pytest.approx((0.8, 0.5))
    assert (half.plain_clean, half.plain_attacked) == pytest.approx((0.6, 0.5))
    assert own.m3_candidates == half.m3_candidates == 2
    assert (own.m3_clean_mean, own.m3_clean_min, own.m3_clean_max) == pytest.approx((0.8, 0.7, 0.9))
    assert (own.m3_attacked_mean, own.m3_attacked_min, own.m3_attacked_max) == pytest.approx((0.45, 0.3, 0.6))
    assert (half.m3_attacked_mean, half.best_attacked_lambda) == pytest.approx((0.5, 0.7))
    assert own.plain_clean_low <= 0.8 <= own.plain_clean_high  # the curve point's interval, carried over
    assert own.plain_clean_high - own.plain_clean_low > 0.1


def test_without_an_axis_there_is_no_magnitude_section(tmp_path: Path) -> None:
    from tests.reports import curve_store as cs

    cs.build(tmp_path / "curve")
    plain = build_report(load_run(tmp_path / "curve"), resamples=50, seed=0, permutations=9)
    assert "magnitude" not in [t.name for t in plain.tables]
    assert not [f for f in plain.figures if f.name.startswith("magnitude_")]


def test_the_figure_draws_one_line_per_scale_and_the_plain_merges(
    report: Report, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reports import magnitude

    opened: list[plt.Figure] = []

    def keep(fig: plt.Figure) -> bytes:
        opened.append(fig)
        return b""

    monkeypatch.setattr(figures, "_png", keep)
    points = next(t for t in report.tables if t.name == "attack_curve").data
    axis = magnitude.axis_points(points, {"task_arithmetic": 1.0})
    figures.magnitude(axis, "test")
    clean, attacked = opened[0].axes
    line = {ln.get_gid(): ln for ax in (clean, attacked) for ln in ax.get_lines() if ln.get_gid()}
    for scale, (plain, low, high) in (("1", COUNTS["task_arithmetic"]), ("0.5", COUNTS["task_arithmetic@0.5"])):
        assert list(line[f"clean-scale-{scale}"].get_ydata()) == pytest.approx([low[0] / 10, high[0] / 10])
        assert list(line[f"attacked-scale-{scale}"].get_ydata()) == pytest.approx([low[1] / 10, high[1] / 10])
        xs = list(line[f"attacked-scale-{scale}"].get_xdata())
        assert xs == pytest.approx(list(LAMBDAS), abs=0.01)
        assert line[f"plain-attacked-scale-{scale}"].get_ydata()[0] == pytest.approx(plain[1] / 10)
    assert line["clean-scale-1"].get_xdata()[0] != line["clean-scale-0.5"].get_xdata()[0]  # dodged apart
    plt.close(opened[0])


def test_the_written_report_has_the_magnitude_figure(run: Path, tmp_path: Path) -> None:
    out = write_report(run, tmp_path / "report", resamples=50).out_dir
    png = out / "figures" / "magnitude_sst2_cola_task_arithmetic.png"
    assert png.read_bytes().startswith(b"\x89PNG")
    md = (out / "report.md").read_text()
    assert "## Magnitude beside lambda" in md and "](figures/magnitude_sst2_cola_task_arithmetic.png)" in md
    table = pd.read_csv(out / "tables" / "magnitude.csv")
    assert list(table["scale"]) == [0.5, 1.0] and list(table["plain_attacked"]) == pytest.approx([0.5, 0.5])


def test_each_setting_has_its_own_selection_curve(report: Report, monkeypatch: pytest.MonkeyPatch) -> None:
    curves = next(t for t in report.tables if t.name == "lambda_curves")
    data = curves.data
    assert sorted(set(data["setting"])) == ["task_arithmetic", "task_arithmetic@0.5"]
    mine = data[(data.setting == "task_arithmetic@0.5") & (data.dataset == "sst2")]
    assert list(mine["lambda"]) == pytest.approx(list(LAMBDAS)) and list(mine["chosen"]) == [False, True]
    assert "Task Arithmetic (task_arithmetic@0.5)" in {row[1] for row in curves.rows}
    opened: list[plt.Figure] = []
    monkeypatch.setattr(figures, "_png", lambda fig: opened.append(fig) or b"")
    figures.lambda_curves(data)
    titles = [ax.get_title() for ax in opened[0].axes]
    assert "sst2+cola: Task Arithmetic (task_arithmetic@0.5) + M3, SST-2" in titles
    assert "sst2+cola: Task Arithmetic + M3, SST-2" in titles  # two panels, not one curve through both scales
    one = next(ax for ax in opened[0].axes if ax.get_title() == "sst2+cola: Task Arithmetic + M3, SST-2")
    assert list(one.get_lines()[0].get_xdata()) == pytest.approx(list(LAMBDAS))
    plt.close(opened[0])

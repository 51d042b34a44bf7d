"""The attacked lambda curve and the spread over draws, on a hand-made store (tests/reports/curve_store.py): the
points, their intervals, what stays out of the other tables, the draw table's numbers and the figure's data."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from reports import figures
from reports.build import Report, build_report
from reports.load import load_run
from reports.write import write_report
from robustness.stats import derived_seed, metric_interval
from tests.reports import curve_store as cs
from tests.reports.synthetic import right_on
from tests.test_arm_interval import loop_bootstrap

RESAMPLES = 500


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    folder = tmp_path_factory.mktemp("runs") / "curve"
    return folder, cs.build(folder)


@pytest.fixture(scope="module")
def report(run: tuple[Path, dict[str, str]]) -> Report:
    return build_report(load_run(run[0]), resamples=RESAMPLES, seed=0, permutations=99)


def table(report: Report, name: str) -> pd.DataFrame:
    return next(t for t in report.tables if t.name == name).data


def points(report: Report, dataset: str, attack: str) -> pd.DataFrame:
    data = table(report, "attack_curve")
    return data[(data.dataset == dataset) & (data.attack == attack)].set_index("model_id")


def stream(model_id: str, dataset: str, attack: str) -> int:
    return derived_seed(0, "curve", cs.PAIR, model_id, dataset, attack, "paper")


def test_points_are_the_known_metrics_against_lambda(report: Report) -> None:
    stress = points(report, "sst2", "stresstest")
    m3 = stress[stress.m3.astype(bool)].sort_values("lambda")
    assert list(m3["lambda"]) == pytest.approx([0.2, 0.5, 0.6, 0.8])
    assert list(m3["attacked"]) == pytest.approx([0.4, 0.7, 0.5, 0.6])
    assert list(m3["clean"]) == pytest.approx([0.7, 0.9, 0.8, 0.8])
    assert list(m3["chosen"]) == [False, True, False, False]
    plain = stress.loc[cs.PLAIN]
    assert not plain.m3 and pd.isna(plain["lambda"]) and plain.attacked == pytest.approx(0.5)
    assert plain.pdr == pytest.approx((0.8 - 0.5) / 0.8)
    # DeepWordBug, two seeds: the mean over seeds of the metric and of the per-seed PDR.
    dwb = points(report, "sst2", "deepwordbug")
    assert dwb.loc[cs.CHOSEN].attacked == pytest.approx((0.7 + 0.5) / 2)
    assert dwb.loc[cs.CHOSEN].pdr == pytest.approx(((0.9 - 0.7) / 0.9 + (0.9 - 0.5) / 0.9) / 2)
    assert (dwb.loc[cs.CHOSEN].n_seeds, dwb.loc[cs.CHOSEN].n_rows, dwb.loc[cs.CHOSEN].samples_per_seed) == (2, 15, "10")


def test_one_seed_intervals_are_the_clean_score_interval_of_those_rows(report: Report) -> None:
    stress = points(report, "sst2", "stresstest")
    rows = cs.ROWS[("sst2", "stresstest", 0)]
    labels = cs.sst2_labels(rows)
    for model_id, (clean_k, attacked_k, _) in cs.SST2.items():
        p = stress.loc[model_id]
        for quantity, k in (("clean", clean_k), ("attacked", attacked_k)):
            low, high = metric_interval("accuracy", labels, right_on(labels, k), RESAMPLES,
                                        stream(model_id, "sst2", "stresstest"))  # fmt: skip
            assert (p[f"{quantity}_low"], p[f"{quantity}_high"]) == (pytest.approx(low), pytest.approx(high))
            assert p[f"{quantity}_low"] <= p[quantity] <= p[f"{quantity}_high"]


def test_two_seed_intervals_follow_the_joint_row_bootstrap(report: Report) -> None:
    from robustness.stats import ArmRun

    dwb = points(report, "sst2", "deepwordbug")
    for model_id, (clean_k, _, (a0, a1)) in cs.SST2.items():
        runs = {}
        for seed, k in ((0, a0), (1, a1)):
            rows = cs.ROWS[("sst2", "deepwordbug", seed)]
            labels = cs.sst2_labels(rows)
            runs[f"p0/seed={seed}"] = ArmRun(rows, labels, right_on(labels, clean_k), right_on(labels, k))
        expected = loop_bootstrap(runs, "accuracy", RESAMPLES, stream(model_id, "sst2", "deepwordbug"))
        for q in ("attacked", "pdr"):
            low, high, _ = expected[q]
            assert dwb.loc[model_id, f"{q}_low"] == pytest.approx(low, abs=1e-12), (model_id, q)
            assert dwb.loc[model_id, f"{q}_high"] == pytest.approx(high, abs=1e-12), (model_id, q)


def test_an_undefined_plain_pdr_says_so(report: Report) -> None:
    cola = points(report, "cola", "stresstest")
    plain = cola.loc[cs.PLAIN]
    assert plain.clean == 0.0 and pd.isna(plain.pdr) and pd.isna(plain.pdr_low)
    assert plain.note == "PDR undefined: a clean metric <= 0 on some seed"
    assert cola.loc[cs.CHOSEN].pdr is not None and cola.loc[cs.CHOSEN].pdr > 0


def test_curve_units_stay_out_of_table3_and_the_effects(report: Report, run: tuple[Path, dict[str, str]]) -> None:
    _, keys = run
    t3 = table(report, "table3")
    assert sorted(t3["model_id"]) == sorted([cs.PLAIN, cs.CHOSEN]) and set(t3["attack"]) == {"stresstest"}
    by_model = t3.set_index("model_id")
    assert by_model.loc[cs.PLAIN].attacked_metric == pytest.approx(0.5)
    assert by_model.loc[cs.CHOSEN].attacked_metric == pytest.approx(0.9)  # the tables' rows, not the curve's 0.7
    assert set(";".join(t3["unit_keys"]).split(";")) == {keys[f"table/{cs.PLAIN}"], keys[f"table/{cs.CHOSEN}"]}
    effects = table(report, "m3_effects")
    assert set(effects["attack"]) == {"stresstest"} and set(effects["dataset"]) == {"sst2"}
    curve_keys = set(";".join(table(report, "attack_curve")["unit_keys"]).split(";"))
    assert curve_keys == {k for name, k in keys.items() if not name.startswith("table/")}
    assert "Attacked lambda curve: 20 results, 5 models" in " ".join(
        item for b in report.blocks if hasattr(b, "items") for item in b.items
    )


def test_the_draw_table_summarises_the_draws_at_each_alpha(report: Report) -> None:
    draws = table(report, "m3_draws")
    assert set(draws["alpha"]) == {1.0}  # alpha 2 has one draw: no spread to show
    sel = draws[draws.rows == "selection"].set_index("dataset")
    sst2 = sel.loc["sst2"]
    assert sst2.n_draws == 3 and sst2["mean"] == pytest.approx(0.8) and sst2.sd == pytest.approx(0.1)
    assert (sst2.worst, sst2.best) == (pytest.approx(0.7), pytest.approx(0.9))
    assert sst2.selected_value == pytest.approx(0.9) and sst2.selected_draw == 1 and sst2.selected_is_chosen
    assert pd.isna(sst2.plain_value)  # the plain merge is not scored on the selection rows
    assert sel.loc["cola"]["mean"] == pytest.approx(0.3) and sel.loc["cola"].sd == pytest.approx(0.1)
    curve = draws[draws.rows == "curve"].set_index(["dataset", "attack", "quantity"])
    attacked = curve.loc[("sst2", "stresstest", "attacked")]
    assert attacked.n_draws == 3 and attacked["mean"] == pytest.approx(1.7 / 3)
    assert attacked.sd == pytest.approx(math.sqrt(0.07 / 3))  # deviations -1/6, 2/15, 1/30 from 17/30
    assert (attacked.worst, attacked.best, attacked.selected_value) == (0.4, 0.7, 0.7)
    assert attacked.plain_value == pytest.approx(0.5)
    dwb = curve.loc[("sst2", "deepwordbug", "attacked")]
    assert dwb["mean"] == pytest.approx((0.3 + 0.6 + 0.6) / 3) and dwb.worst == pytest.approx(0.3)
    clean = curve.loc[("sst2", "stresstest", "clean")]
    assert clean["mean"] == pytest.approx(0.8) and clean.plain_value == pytest.approx(0.8)
    rows = next(t for t in report.tables if t.name == "m3_draws").rows
    assert ["sst2+cola", "Task Arithmetic", "1", "selection", "SST-2", "clean Acc", "3", "0.800", "0.100", "0.700",
            "0.900", "0.900 (draw 1, carried forward)", "—"] in rows  # fmt: skip


def test_without_several_draws_there_is_no_draw_table(tmp_path: Path) -> None:
    from tests.reports import synthetic

    synthetic.build(tmp_path / "one")  # one draw per alpha, no curve units
    names = {t.name for t in build_report(load_run(tmp_path / "one"), resamples=100, permutations=99).tables}
    assert "m3_draws" not in names and "attack_curve" not in names


def test_the_figure_plots_the_points_the_plain_line_and_the_chosen_star(
    report: Report, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    drawn: list[Any] = []

    def keep(fig: plt.Figure) -> bytes:  # as figures._png, but the figure stays open to be read
        drawn.append({ax.get_title(): ax for ax in fig.axes})
        return _png_kept_open(fig)

    monkeypatch.setattr(figures, "_png", keep)
    data = table(report, "attack_curve")
    png = figures.attack_curve(data, "test")
    (tmp_path / "curve.png").write_bytes(png)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    axes = drawn[0]
    left = axes["SST-2 StressTest: Acc (curve rows)"]
    series = {line.get_label(): line for line in left.get_lines()}
    shift = figures.DODGE / 2  # clean left of lambda, attacked right, so their bars do not overlap
    assert list(series["M3 attacked"].get_xdata()) == pytest.approx(
        [0.2 + shift, 0.5 + shift, 0.6 + shift, 0.8 + shift]
    )
    assert list(series["M3 clean"].get_xdata()) == pytest.approx([0.2 - shift, 0.5 - shift, 0.6 - shift, 0.8 - shift])
    assert list(series["M3 attacked"].get_ydata()) == pytest.approx([0.4, 0.7, 0.5, 0.6])
    assert list(series["M3 clean"].get_ydata()) == pytest.approx([0.7, 0.9, 0.8, 0.8])
    assert list(series["plain attacked"].get_ydata()) == pytest.approx([0.5, 0.5])
    assert list(series["plain clean"].get_ydata()) == pytest.approx([0.8, 0.8])
    # The error bars span each point's interval.
    stress = points(report, "sst2", "stresstest").sort_values("lambda")
    bars = next(c for c in left.collections if c.get_gid() == "attacked-interval")
    spans = [(seg[0][1], seg[1][1]) for seg in bars.get_segments()]
    assert [seg[0][0] for seg in bars.get_segments()] == pytest.approx(
        [0.2 + shift, 0.5 + shift, 0.6 + shift, 0.8 + shift]
    )
    expected = list(zip(stress[stress.m3.astype(bool)]["attacked_low"], stress[stress.m3.astype(bool)]["attacked_high"],
                        strict=True))  # fmt: skip
    assert spans == [(pytest.approx(lo), pytest.approx(hi)) for lo, hi in expected]
    pdr = axes["SST-2 StressTest: PDR (↓ more robust)"]
    pdr_lines = {line.get_label(): line for line in pdr.get_lines()}
    assert list(pdr_lines["plain PDR"].get_ydata()) == pytest.approx([0.375, 0.375])
    star = pdr_lines["chosen"]
    assert list(star.get_xdata()) == [0.5]  # one series in the PDR panel: no shift
    # CoLA: the plain merge's PDR is undefined, so no plain line in its PDR panel.
    cola = axes["CoLA StressTest: PDR (↓ more robust)"]
    assert "plain PDR" not in {line.get_label() for line in cola.get_lines()}
    plt.close("all")


def _png_kept_open(fig: plt.Figure) -> bytes:
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=figures.DPI, metadata={"Software": None})
    return buffer.getvalue()


def test_the_written_report_has_the_curve_files(run: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    out = write_report(run[0], tmp_path / "report", resamples=200).out_dir
    assert (out / "figures" / "attack_curve_sst2_cola_task_arithmetic.png").read_bytes().startswith(b"\x89PNG")
    curve = pd.read_csv(out / "tables" / "attack_curve.csv")
    assert len(curve) == 5 * 3  # 5 models x 3 cells
    md = (out / "report.md").read_text()
    assert "## Attacked lambda curve" in md and "## M3 as a random procedure: spread over draws" in md
    assert "](figures/attack_curve_sst2_cola_task_arithmetic.png)" in md
    assert "selection ranks highest by its criterion, computed on the selection rows only" in md

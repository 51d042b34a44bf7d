"""`m3r report` on a small synthetic store: the numbers in the files, the documents, determinism, failures."""

from __future__ import annotations

import base64
import errno
import hashlib
import math
import re
from pathlib import Path

import pandas as pd
import pytest

from reports.write import write_report
from robustness.cli import main
from robustness.errors import UserError
from robustness.metrics import mcc
from robustness.store import Store
from tests.reports import synthetic

RESAMPLES = 400
TABLES = ("table3", "m3_effects", "m3_vs_dare", "clean", "agreement", "lambda_curves", "livebench")
FIGURES = ("forest_m3", "lambda_curves", "ood_livebench")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], Path]:
    run = tmp_path_factory.mktemp("runs") / "synthetic"
    keys = synthetic.build(run)
    written = write_report(run, resamples=RESAMPLES, seed=0)
    return run, keys, written.out_dir


def csv(out: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(out / "tables" / f"{name}.csv", keep_default_na=False, na_values=[""])


def test_writes_every_file(rendered: tuple[Path, dict[str, str], Path]) -> None:
    run, _, out = rendered
    assert out == run / "report"
    expected = {"report.md", "report.html"}
    expected |= {f"tables/{t}.{ext}" for t in TABLES for ext in ("csv", "tex")}
    expected |= {f"figures/{f}.png" for f in FIGURES}
    assert {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()} == expected


def test_table3_cells_hold_the_hand_worked_numbers_and_their_keys(
    rendered: tuple[Path, dict[str, str], Path],
) -> None:
    _, keys, out = rendered
    t3 = csv(out, "table3")
    cell = t3.set_index(["method", "m3", "dataset", "attack"])
    plain = cell.loc[("task_arithmetic", False, "sst2", "deepwordbug")]
    m3 = cell.loc[("task_arithmetic", True, "sst2", "deepwordbug")]
    assert plain.attacked_metric == pytest.approx(synthetic.EXPECTED["sst2_plain_attacked"], abs=1e-6)
    assert plain.pdr == pytest.approx(synthetic.EXPECTED["sst2_plain_pdr"], abs=1e-6)
    assert m3.attacked_metric == pytest.approx(synthetic.EXPECTED["sst2_m3_attacked"], abs=1e-6)
    assert m3.pdr == pytest.approx(synthetic.EXPECTED["sst2_m3_pdr"], abs=1e-6)
    assert (plain.n_seeds, plain.n_samples, m3.n_seeds, m3.n_samples) == (3, 30, 3, 30)
    assert (plain.n_rows, bool(plain.attack_seeds)) == (30, True)  # the synthetic seeds attack disjoint rows
    assert not bool(cell.loc[("task_arithmetic", False, "sst2", "stresstest")].attack_seeds)
    assert m3.model_id == "task_arithmetic-m3-d1" and m3.m3_convention == "preserve_scale"
    # Traceable: the cell's keys are exactly the three seeds' attack units of that model.
    assert plain.unit_keys.split(";") == sorted(keys[f"task_arithmetic/False/sst2/deepwordbug/{s}"] for s in range(3))
    # The candidate that was not chosen (attacked metric 0.1) never enters Table 3.
    assert "task_arithmetic-m3-d0" not in ";".join(t3["model_id"]) and "m3-d0" not in ";".join(t3["unit_keys"])
    bert = cell.loc[("dare", True, "cola", "bertattack")]
    assert bert.generator == "causal-lm-fallback:smollm2-135m" and bert.similarity_encoder == "all-MiniLM-L6-v2"
    # Plain DARE answers one label on CoLA's clean StressTest prompt: MCC 0, so PDR is undefined, drop reported.
    undefined = cell.loc[("dare", False, "cola", "stresstest")]
    labels = [1 if i % 3 else 0 for i in range(synthetic.N_COLA)]
    attacked = [mcc(labels, synthetic.right_on(labels, 6 + s)) for s in range(3)]
    assert math.isnan(undefined.pdr)
    assert undefined.absolute_drop == pytest.approx(-sum(attacked) / 3, abs=1e-6)


def _holm_by_hand(pvalues: list[float]) -> list[float]:
    order = sorted(range(len(pvalues)), key=lambda i: pvalues[i])
    adjusted, running = [0.0] * len(pvalues), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(pvalues) - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def test_effects_intervals_tests_and_holm_over_all_comparisons(rendered: tuple[Path, dict[str, str], Path]) -> None:
    _, _, out = rendered
    effects, dare = csv(out, "m3_effects"), csv(out, "m3_vs_dare")
    row = effects.set_index(["method", "dataset", "attack", "quantity"]).loc[
        ("task_arithmetic", "sst2", "deepwordbug", "attacked")
    ]
    assert row.estimate == pytest.approx(synthetic.EXPECTED["sst2_effect"], abs=1e-6)
    assert row.ci_low < row.estimate < row.ci_high
    assert row.m3_better_if == "positive"
    t = 0.2 / (0.1 / math.sqrt(3))  # per-seed differences 0.2, 0.3, 0.1; df = 2 closed form below
    assert row.t == pytest.approx(t, abs=1e-5)
    assert row.p_seeds == pytest.approx(1 - t / math.sqrt(2 + t * t), abs=1e-6) and row.seed_test == "paired t-test"
    # Rows where the attacked predictions differ: 2, 3 and 1 per seed, all for M3 (6 rows); the clean predictions
    # differ on one more row per seed (3 rows, 2 of them new), which cannot move the attacked metric. Of the 2^8
    # swaps of the 8 informative rows, |Δ| reaches 0.2 only with none or all of the 6 swapped: p = 2 * 4 / 256.
    assert bool(row.p_rows_exact) and row.permutations == 256 and row.p_rows == pytest.approx(1 / 32)
    assert (row.n_rows, row.n_seeds, row.n_pairs, row.resamples) == (30, 3, 30, RESAMPLES)
    stress = effects.set_index(["method", "dataset", "attack", "quantity"]).loc[
        ("task_arithmetic", "sst2", "stresstest", "attacked")
    ]
    assert not bool(stress.attack_seeds) and pd.isna(stress.p_seeds) and stress.p_rows == pytest.approx(1 / 32)
    assert "ignores its seed" in stress.note
    assert effects["family"].eq("m3_vs_plain").all() and dare["family"].eq("m3_vs_dare").all()
    assert set(dare["method"]) == {"task_arithmetic"} and set(dare["b_variant"]) == {"DARE"}
    # Task Arithmetic + M3 minus plain DARE, SST-2 DeepWordBug: attacked (0.7, 0.9, 0.8) vs (0.5, 0.6, 0.7) per seed.
    vs_dare = dare.set_index(["dataset", "attack", "quantity"])
    attacked = vs_dare.loc[("sst2", "deepwordbug", "attacked")]
    assert attacked.a_variant == "Task Arithmetic + M3"
    assert (attacked.a_value, attacked.b_value, attacked.estimate) == pytest.approx((0.8, 0.6, 0.2), abs=1e-6)
    assert attacked.ci_low < 0.2 < attacked.ci_high
    drop = vs_dare.loc[("sst2", "deepwordbug", "pdr")]
    expected = synthetic.EXPECTED["sst2_m3_pdr"] - synthetic.EXPECTED["sst2_plain_pdr"]
    assert (drop.estimate, drop.m3_better_if) == (pytest.approx(expected, abs=1e-6), "negative")
    # Holm runs over every comparison of the report at once: both tables together.
    # Holm's family is the row-level p-values: the seed-level ones (missing for StressTest) do not shrink it.
    both = pd.concat([effects, dare], ignore_index=True)
    tested = both[both["p_rows"].notna()]
    assert len(tested) == 34  # 2 x 12 M3-vs-plain + 12 vs DARE, minus the 2 undefined PDR comparisons
    expected = _holm_by_hand(list(tested["p_rows"]))
    assert list(tested["p_holm"]) == pytest.approx(expected, abs=2e-5)
    undefined = both[both["p_rows"].isna()]
    assert set(undefined["quantity"]) == {"pdr"} and set(undefined["dataset"]) == {"cola"}
    assert undefined["note"].str.contains("undefined: a clean metric <= 0").all()
    assert undefined[["ci_low", "ci_high", "p_seeds", "p_holm", "estimate"]].isna().all().all()


def test_clean_lambda_and_livebench_tables(rendered: tuple[Path, dict[str, str], Path]) -> None:
    _, keys, out = rendered
    clean = csv(out, "clean").set_index(["variant", "mode", "dataset", "split"])
    assert clean.loc[("Task Arithmetic + M3", "score", "sst2", "report")].metric == pytest.approx(0.85)
    assert clean.loc[("Task Arithmetic + M3", "score", "sst2", "selection")].metric == pytest.approx(0.8)
    assert clean.loc[("Task Arithmetic + M3", "score", "cola", "selection")].n == 20

    curves = csv(out, "lambda_curves")
    ta = curves[(curves.method == "task_arithmetic") & (curves.dataset == "sst2")].set_index("model_id")
    assert list(ta["lambda"]) == pytest.approx([0.3, 0.55, 0.8])
    assert list(ta["chosen"]) == [False, True, False]
    assert ta.loc["task_arithmetic-m3-d0"].report_attacked == pytest.approx(0.1)
    assert ta.loc["task_arithmetic-m3-d1"].report_clean == pytest.approx(0.85)
    assert keys["selection/task_arithmetic"] in ta.loc["task_arithmetic-m3-d2"].unit_keys

    ood = csv(out, "livebench").set_index("variant")
    assert ood.loc["Task Arithmetic", "mean"] == pytest.approx(0.5)
    assert ood.loc["Task Arithmetic + M3", "mean"] == pytest.approx(0.75)
    assert ood.loc["DARE", "mean"] == pytest.approx(0.25)
    assert ood.loc["DARE", "unit_keys"] == keys["livebench/dare/False"]

    agreement = csv(out, "agreement").set_index(["model_id", "dataset", "split"])
    computed = agreement.loc[("task_arithmetic", "sst2", "selection")]
    assert computed.agreement == pytest.approx(0.9) and computed.source == "computed"  # 18 of 20 rows agree
    assert bool(agreement.loc[("dare", "cola", "report")].below_threshold)
    assert not bool(agreement.loc[("dare-m3-d1", "cola", "report")].below_threshold)


def test_report_md_states_tables_sizes_provenance_and_warnings(rendered: tuple[Path, dict[str, str], Path]) -> None:
    _, _, out = rendered
    md = (out / "report.md").read_text()
    assert "| Pair | Method | M3 | SST-2 DeepWordBug Acc | SST-2 DeepWordBug PDR | SST-2 DeepWordBug n |" in md
    plain_ta = "| sst2+cola | Task Arithmetic | no | 0.600 | 0.250 | 3×10 (30 rows) | 0.600 | 0.250 | 3×10 (30 rows) |"
    assert plain_ta in md
    assert "| sst2+cola | Task Arithmetic | yes (preserve_scale) | 0.800 | 0.111 | 3×10 (30 rows) |" in md
    assert "| 0.600 | 0.250 | 3×10† (30 rows) |" in md  # StressTest ignores its seed
    assert re.search(r"\| DARE \| no \|.*\| undef\. \(drop -0\.\d{3}\) \| 3×12† \(36 rows\) \|", md)
    assert (
        "Attacks in the tables: 72 results, 3 seeds per cell, 10-12 samples per seed, 30-36 distinct rows per cell, "
        "seeds [0, 1, 2]" in md
    )
    # Every M3-vs-plain cell: estimate, interval, both p-values, Holm, distinct rows x seeds; and which sign is good.
    header = "| Plain | M3 | Δ (M3 − plain) | 95% CI | p (rows) | p (seeds) | p (Holm) | n |"
    assert "| Pair | Method | Cell | Quantity " + header in md
    assert re.search(
        r"\| sst2\+cola \| Task Arithmetic \| SST-2 DeepWordBug \| attacked Acc \(↑ better\) \| 0\.600 \| 0\.800 \| "
        r"\+0\.200 \| \[\+0\.\d{3}, \+0\.\d{3}\] \| 0\.031 \| 0\.074 \| 1\.000 \| 30 rows × 3 seeds \|",
        md,
    )
    assert "| PDR (↓ better) |" in md and "30 rows × 3 row draws" in md
    assert "favours M3 when positive for the attacked metric (↑ better) and negative for PDR" in md
    assert "conditional on the attacked prompts" in md and "little power" in md
    assert "StressTest (paper search): seed(s) 0, 1, 2 only draw rows" in md
    assert "DeepWordBug (paper search): seed(s) 0, 1, 2 are attack seeds" in md
    assert "score/generate agreement of dare on CoLA (report) is 90.0%, below 95%" in md
    assert "Task Arithmetic + M3: convention preserve_scale" in md and "DARE + M3: convention official" in md
    assert "BERTAttack (paper search): generator causal-lm-fallback:smollm2-135m, similarity encoder " in md
    assert "all-MiniLM-L6-v2: 24 results" in md
    assert "carried forward: task_arithmetic-m3-d1" in md and "cola: 0 shared samples" in md
    assert "Holm correction over 34 comparisons with a row-level permutation p-value" in md
    for figure in FIGURES:
        assert f"](figures/{figure}.png)" in md


def test_html_is_self_contained(rendered: tuple[Path, dict[str, str], Path]) -> None:
    _, _, out = rendered
    html = (out / "report.html").read_text()
    for table in TABLES:
        assert f'<table id="{table}">' in html
    images = re.findall(r'<figure id="([a-z_0-9]+)"><img [^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert sorted(name for name, _ in images) == sorted(FIGURES)
    for name, data in images:
        png = base64.b64decode(data)
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        assert png == (out / "figures" / f"{name}.png").read_bytes()
    assert 'src="figures/' not in html and "http://" not in html and "https://" not in html
    assert "<td>yes (preserve_scale)</td><td>0.800</td><td>0.111</td><td>3×10 (30 rows)</td>" in html


def test_tex_tables_are_well_formed(rendered: tuple[Path, dict[str, str], Path]) -> None:
    _, _, out = rendered
    tex = (out / "tables" / "lambda_curves.tex").read_text()
    lines = tex.splitlines()
    assert lines[1] == r"\begin{tabular}{lrrrrrrrrrrr}" and lines[-1] == r"\end{tabular}"
    body = [line for line in lines if line.endswith(r"\\")]
    assert len(body) == 1 + 12 and all(line.count(" & ") == 11 for line in body)
    assert r"task\_arithmetic-m3-d0" in tex and r"$\alpha$" not in tex


def test_two_renders_of_the_same_store_are_byte_identical(
    rendered: tuple[Path, dict[str, str], Path], tmp_path: Path
) -> None:
    run, _, out = rendered
    before = hashlib.sha256((run / "results.sqlite").read_bytes()).hexdigest()
    second = write_report(run, tmp_path / "again", resamples=RESAMPLES, seed=0).out_dir
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert files == sorted(str(p.relative_to(second)) for p in second.rglob("*") if p.is_file())
    for name in files:
        assert (out / name).read_bytes() == (second / name).read_bytes(), name
    assert hashlib.sha256((run / "results.sqlite").read_bytes()).hexdigest() == before  # the store is only read


def test_cli_renders_and_reports_bad_directories(
    rendered: tuple[Path, dict[str, str], Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run, _, _ = rendered
    out = tmp_path / "cli"
    assert main(["report", str(run), "--out", str(out), "--bootstrap", "200"]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [str(out / "report.md"), str(out / "report.html")]
    assert "warning: score/generate agreement of dare" in captured.err
    assert (out / "tables" / "table3.csv").is_file()

    assert main(["report", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing" in err[0] and "does not exist" in err[0]
    (tmp_path / "not-a-run").mkdir()
    assert main(["report", str(tmp_path / "not-a-run")]) == 2
    assert "not a run directory: it holds no results.sqlite" in capsys.readouterr().err


def test_a_full_disk_leaves_the_previous_report_intact(
    rendered: tuple[Path, dict[str, str], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run, _, _ = rendered
    out = tmp_path / "report"
    write_report(run, out, resamples=200)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    real_write = Path.write_bytes
    calls = {"n": 0}

    def write_bytes(self: Path, data: bytes) -> int:
        calls["n"] += 1
        if calls["n"] > 5:  # a few files fit, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(self, data)

    monkeypatch.setattr(Path, "write_bytes", write_bytes)
    with pytest.raises(UserError, match=r"cannot write the report to .*report: No space left on device"):
        write_report(run, out, resamples=200, seed=1)
    monkeypatch.undo()
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".report-")]  # no staging left behind


def test_an_empty_store_renders_without_results(tmp_path: Path) -> None:
    Store.create_or_resume(tmp_path / "empty", {"name": "empty"}).close()
    out = write_report(tmp_path / "empty", resamples=200).out_dir
    md = (out / "report.md").read_text()
    assert md.count("_No results of this kind in the store._") == len(TABLES)
    assert not (out / "figures").exists() or not list((out / "figures").iterdir())
    assert csv(out, "table3").empty

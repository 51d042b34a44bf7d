"""`m3r plan`: unit counts as the runner plans them, the wall-time simulation on hand-worked graphs, the cost model's
calibration on a store with known times, and the command's output and errors. No model is loaded here."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from robustness import catalog
from robustness.cli import main
from robustness.experiment.kinds.attack import AttackSettings, attack_evaluations
from robustness.experiment.planning.models import candidate_models, plain_model_id, plain_models
from robustness.experiment.planning.plan import phase_one, phase_two
from robustness.experiment.planning.rows import split_rows
from robustness.experiment.sizing.costs import (
    DEFAULT_GPU_TFLOPS,
    GPU_BYTES_PER_PARAMETER,
    GPU_DISK_BYTES_PER_S,
    KNOWN_PARAMETERS,
    builtin_rates,
    calibrate,
    model_parameters,
    parameters_from_config,
)
from robustness.experiment.sizing.estimate import HERE, gpu, load_seconds, plan_units, study_jobs, unit_cost
from robustness.experiment.sizing.schedule import Job, total_seconds, wall_time
from robustness.experiment.sizing.work import PROMPT_WORDS, ROW_TOKENS, Work
from robustness.experiment.spec.config import ExperimentConfig, load_experiment
from robustness.store import CleanRecord, MergeRecord, Store
from robustness.store import sqlite as store_sqlite
from tests.test_store import clean_record

CONFIGS = Path(__file__).parent.parent / "configs"
SPLITS = {"sst2": 872, "cola": 1043}  # validation rows


# ---- unit counts ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["default", "smoke", "paper-13b"])
def test_unit_counts_are_the_planners(name: str) -> None:
    cfg = load_experiment(CONFIGS / f"{name}.yaml")
    e = cfg.eval
    rows = {d: split_rows(SPLITS[d], e.selection_n, e.report_n, e.measure_n or 0, e.split_seed) for d in e.datasets}
    ids = {"base": "b", **{n: f"{n}-x" for p in cfg.pairs for n in p}}
    first = phase_one(cfg, rows, ids)
    # The runner's total (run_experiment): phase two's size with the plain merges standing in for the chosen.
    total = len(first) + len(phase_two(cfg, rows, {m.model_id: m for m in plain_models(cfg)}, ids))
    # Phase two by kind for a selection that chose the last candidate of each (pair, method): any one costs the same.
    last = {plain_model_id(c.pair, c.label): c for c in candidate_models(cfg)}
    counts = plan_units(cfg).counts()
    assert counts["phase_1"] == {k: Counter(u.stored_as for u in first)[k] for k in counts["phase_1"]}
    assert counts["phase_2"] == {k: Counter(u.stored_as for u in phase_two(cfg, rows, last, ids))[k]
                                 for k in counts["phase_2"]}  # fmt: skip
    assert sum(counts["all"].values()) == total
    # The units the README's runs report. The default, by hand: phase 1 = 6 reference selection scores + 14 merges
    # + 4 plain and 24 candidate selection scores + 56 curve attacks (TA's 7 models x (StressTest 2 + DeepWordBug
    # 4), DARE's 7 x StressTest 2) + 2 selections = 106; phase 2 = 14 report scores + 44 attacks (TA's 2 models x 8,
    # DARE's 2 x 6, the 2 experts x 8) + 28 measurements (one per merged model's attack) + 8 LiveBench + 106 replays
    # (experts' 8 units onto 28 targets each way = 56; the plain merges': StressTest 2 x 2 x 5, DeepWordBug 4 x 2 x 3,
    # BERTAttack 2 x 3 = 50) = 200.
    assert {"default": 106 + 200, "smoke": 50}.get(name, total) == total


# ---- the wall-time simulation -----------------------------------------------------------------------------------


def test_one_worker_takes_the_sum_of_the_costs() -> None:
    jobs = [Job("a", 3), Job("b", 2, ("a",)), Job("c", 5)]
    assert wall_time(jobs, 1) == total_seconds(jobs) == 10


def test_unlimited_workers_take_the_critical_path() -> None:
    # a(3) -> b(2) -> d(1); c(5) -> d: the longest chain is c, d = 6 (a, b, d is 6 too: 3 + 2 + 1).
    jobs = [Job("a", 3), Job("b", 2, ("a",)), Job("c", 5), Job("d", 1, ("b", "c")), Job("e", 4)]
    assert wall_time(jobs, None) == 6
    assert wall_time(jobs, 100) == 6


def test_a_dependency_forces_the_order() -> None:
    # Two workers: without the dependency b(4) and a(1) start together (4); with it b waits for a (1 + 4 = 5).
    assert wall_time([Job("a", 1), Job("b", 4), Job("c", 1)], 2) == 4
    assert wall_time([Job("a", 1), Job("b", 4, ("a",)), Job("c", 1)], 2) == 5


def test_free_workers_take_the_first_listed_ready_job() -> None:
    # Two workers: x and y start first and z waits (2 + 4 = 6); listed first, z starts at once (4).
    assert wall_time([Job("x", 2), Job("y", 2), Job("z", 4)], 2) == 6
    assert wall_time([Job("z", 4), Job("x", 2), Job("y", 2)], 2) == 4


def test_driver_jobs_take_no_worker() -> None:
    # One worker: a (0-2), then the selection s on the driver (2-3) while b runs (2-5); c after s waits for the
    # worker (5-7). The sum is 8, the wall time 7.
    jobs = [Job("a", 2), Job("s", 1, ("a",), driver=True), Job("b", 3), Job("c", 2, ("s",))]
    assert wall_time(jobs, 1) == 7


def test_bad_graphs_are_refused() -> None:
    with pytest.raises(ValueError, match="'z', which is not a job"):
        wall_time([Job("a", 1, ("z",))], 1)
    with pytest.raises(ValueError, match="cycle"):
        wall_time([Job("a", 1, ("b",)), Job("b", 1, ("a",))], 2)
    with pytest.raises(ValueError, match="at least 1"):
        wall_time([Job("a", 1)], 0)


def test_study_jobs_follow_the_ray_executor() -> None:
    """Each model's units form one job with one load; the chosen candidate's phase two waits for its selection,
    which waits for its candidates and the references' selection rows."""
    cfg = load_experiment(CONFIGS / "smoke.yaml")
    planned = plan_units(cfg)
    found = study_jobs(planned, lambda unit: 1.0, load=10.0)
    jobs = {j.name: j for j in found.jobs}
    units = len(planned.first) + len(planned.second)
    assert total_seconds(found.jobs) == units + 10 * found.loads
    assert found.loads == 3 + 2 + 4 + 2  # references, plain merges, candidates, the chosen ones' phase two
    ta = "sst2+cola/task_arithmetic"
    assert jobs[f"select {ta}"].driver
    references = {f"{m} (selection rows)" for m in ("base", "expert/sst2", "expert/cola")}
    assert set(jobs[f"select {ta}"].after) == {f"{ta}+m3/a0.5-d0", f"{ta}+m3/a2-d0", *references}
    assert jobs[f"{ta}+m3/a0.5-d0 (phase 2)"].after == (f"select {ta}",)
    assert jobs["base (report rows)"].after == ("base (selection rows)",)
    # merge, clean x2, stresstest x2, deepwordbug x4, livebench x1, one load
    assert jobs[ta].seconds == 1 + 2 + 2 + 4 + 1 + 10


# ---- the cost model ---------------------------------------------------------------------------------------------


def test_every_dataset_has_token_counts_and_prompt_words() -> None:
    assert set(ROW_TOKENS) == set(catalog.DATASETS) == set(PROMPT_WORDS)
    assert all(t.own > 0 and t.shared >= 0 for t in ROW_TOKENS.values())


def test_attack_evaluations_follow_the_search() -> None:
    def settings(attack: str, search: str, candidates: int = 48) -> AttackSettings:
        return AttackSettings(attack=attack, search=search, masked_lm="m", similarity_encoder=None, levenshtein=30,
                              candidates=candidates)  # type: ignore[arg-type]  # fmt: skip

    assert attack_evaluations(settings("stresstest", "greedy"), 5) == 1 + 3
    assert attack_evaluations(settings("deepwordbug", "paper"), 5) == 1 + 3 * 4  # the default run's queries: 14
    assert attack_evaluations(settings("deepwordbug", "greedy"), 5) == 1 + 5 + 5 * 4
    assert attack_evaluations(settings("bertattack", "paper", 16), 7) == 1 + 3 * 16
    assert attack_evaluations(settings("bertattack", "greedy"), 7) == 1 + 7 + 7 * 48
    assert attack_evaluations(settings("bertattack", "paper", 16), 2) == 1 + 2 * 16  # fewer words than positions


def test_parameters_from_a_config_json_or_a_name(tmp_path: Path) -> None:
    smollm2 = {"hidden_size": 576, "num_hidden_layers": 30, "intermediate_size": 1536, "vocab_size": 49152,
               "num_attention_heads": 9, "num_key_value_heads": 3, "tie_word_embeddings": True}  # fmt: skip
    (tmp_path / "config.json").write_text(json.dumps(smollm2))
    assert parameters_from_config(tmp_path / "config.json") == KNOWN_PARAMETERS["smollm2-135m-instruct"]
    cfg = load_experiment(CONFIGS / "paper-13b.yaml")
    assert model_parameters(cfg).parameters == 13e9  # meta-llama/Llama-2-13b-hf
    assert model_parameters(cfg, 7e9).parameters == 7e9
    explicit = cfg.model_copy(update={"models": cfg.models.model_copy(update={"base": str(tmp_path)})})
    assert model_parameters(explicit).parameters == KNOWN_PARAMETERS["smollm2-135m-instruct"]


def tiny_config() -> ExperimentConfig:
    methods = [{"method": "task_arithmetic", "parameters": {"scaling": 1.0}}]
    data = {"name": "tiny", "methods": methods, "m3": {"alphas": [1.0]}, "eval": {"selection_n": 10, "report_n": 20}}
    return ExperimentConfig.model_validate(data)


def test_calibration_gives_the_hand_computed_rates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A merge that took 6 s and two selection-row scores that took 10 s and 20 s: the merge rate is 6 s over
    parameters x 4 checkpoints (base, two experts, the output), the clean rate 30 s over the tokens of both."""
    cfg = tiny_config()
    planned = plan_units(cfg)
    merge = next(u for u in planned.first if u.stored_as == "merge" and u.model is not None and u.model.m3)
    cleans = [u for u in planned.first if u.stored_as == "clean" and u.model == merge.model]  # sst2, cola: 10 rows each
    assert [u.label.split("/")[-2] for u in cleans] == ["sst2", "cola"]
    store = Store.create_or_resume(tmp_path / "run", cfg.study_config())
    identity: dict[str, Any] = {"model_id": "m", "method": "task_arithmetic", "m3": False, "pair": "sst2+cola"}
    scores = CleanRecord(**clean_record(split="selection"))
    timed = [
        (merge, MergeRecord(**identity), "00:00:00Z", "00:00:06.000+00:00"),
        (cleans[0], scores, "00:00:06Z", "00:00:16.000+00:00"),
        (cleans[1], scores, "00:00:16Z", "00:00:36.000+00:00"),
    ]
    for unit, record, started, finished in timed:
        monkeypatch.setattr(store_sqlite, "now_utc", lambda f=finished: f"2026-01-01T{f}")
        store.put(unit.key, unit.stored_as, unit.inputs.payload(), record, started_at=f"2026-01-01T{started}")
    store.close()

    rates = calibrate(tmp_path / "run")
    p = KNOWN_PARAMETERS["smollm2-135m-instruct"]  # the default family's base
    sst2, cola = ROW_TOKENS["sst2"], ROW_TOKENS["cola"]
    assert rates.seconds["merge"] == pytest.approx(6 / (p * 4))
    tokens = 10 * sst2.own + sst2.shared + 10 * cola.own + cola.shared
    assert rates.seconds["clean"] == pytest.approx(30 / (p * tokens))
    for kind in ("selection", "attack", "livebench"):  # none timed: the built-in rates, and a note says so
        assert rates.seconds[kind] == builtin_rates().seconds[kind]
        assert any(note.startswith(f"{kind}: no timed unit") for note in rates.notes)


def test_work_scales_with_parameters_rows_and_agreement() -> None:
    planned = plan_units(tiny_config())
    report = next(u for u in planned.second if u.stored_as == "clean" and u.label.endswith("sst2/report"))
    t = ROW_TOKENS["sst2"]
    # 20 report rows scored, and 20 of them (agreement_n 32, capped at the rows) generated with 10 new tokens.
    expected = 20 * t.own + t.shared + 20 * (t.shared + t.own + 10)
    assert report.kind.work(report.inputs, Work(2.0)) == pytest.approx(2 * expected)


# ---- the command ------------------------------------------------------------------------------------------------


def test_plan_json_parses_and_adds_up(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", str(CONFIGS / "paper-13b.yaml"), "--workers", "1,8,64", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert sum(data["units"]["all"].values()) == sum(sum(data["units"][p].values()) for p in ("phase_1", "phase_2"))
    assert data["parameters"] == 13e9
    for machine in ("calibration_machine", "gpu"):
        wall = data["wall_hours"][machine]
        assert wall["1"] >= wall["8"] >= wall["64"] >= data["critical_path_hours"][machine] > 0
        assert wall["1"] == pytest.approx(data["device_hours"][machine], rel=1e-3)  # selections aside
    assert data["device_speedup"] > 1 and any("GPU" in a for a in data["assumptions"])


def test_plan_needs_no_data_root(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """paper-13b's LiveBench coding and language questions are not on this machine, nor need any data be: the
    prompt's words fall back to task_oriented:0's, and the assumptions say so."""
    monkeypatch.delenv("M3R_DATA_DIR", raising=False)
    assert main(["plan", str(CONFIGS / "paper-13b.yaml"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert sum(data["units"]["all"].values()) == 2092
    assert any("task_oriented:0's, assumed" in a for a in data["assumptions"])


def test_plan_prints_units_and_the_estimate(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", str(CONFIGS / "default.yaml")]) == 0
    out = capsys.readouterr().out
    assert "306 units" in out and "one selected M3 candidate per (pair, method)" in out
    assert "wall time, 1 worker" in out and "An estimate, not a measurement" in out


def test_the_gpu_divides_model_units_and_moves_weights_at_disk_speed() -> None:
    planned = plan_units(tiny_config())
    work = Work(13e9)
    here, fast = unit_cost(builtin_rates(), work, HERE), unit_cost(builtin_rates(), work, gpu(1000.0))
    clean = next(u for u in planned.first if u.stored_as == "clean")
    merge = next(u for u in planned.first if u.stored_as == "merge")
    assert fast(clean) == pytest.approx(here(clean) / 1000)
    assert here(merge) == pytest.approx(builtin_rates().seconds["merge"] * 13e9 * 4)
    assert fast(merge) == pytest.approx(13e9 * 4 * GPU_BYTES_PER_PARAMETER / GPU_DISK_BYTES_PER_S)  # 52 s
    assert load_seconds(work, gpu(1000.0)) == pytest.approx(13e9 * GPU_BYTES_PER_PARAMETER / GPU_DISK_BYTES_PER_S)


def test_without_a_gpu_check_the_speedup_is_the_assumed_gpu_over_the_measured_cpu(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from robustness.experiment.sizing import gpu_results

    monkeypatch.setattr(gpu_results, "GPU_RESULTS", tmp_path / "none.json")
    assert main(["plan", str(CONFIGS / "smoke.yaml"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["device_speedup"] == pytest.approx(DEFAULT_GPU_TFLOPS / builtin_rates().tflops)
    assert data["device_speedup_origin"] == "assumed"
    assert any("run bench/gpu_check.py" in a for a in data["assumptions"])
    assert main(["plan", str(CONFIGS / "smoke.yaml"), "--json", "--device-speedup", "7"]) == 0
    given = json.loads(capsys.readouterr().out)
    assert (given["device_speedup"], given["device_speedup_origin"]) == (7, "given")
    with pytest.raises(SystemExit):
        main(["plan", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert f"assumed {DEFAULT_GPU_TFLOPS:g} TFLOP/s" in help_text  # the help names the fallback


def _gpu_check(small: float, large: float) -> dict[str, object]:
    """A GPU check's JSON as bench/gpu_check.py writes it, with two sizes measured (two datasets at the small one)."""

    def score(parameters: int, tflops: float, batch: int) -> dict[str, object]:
        other = {"plan_tflops": tflops / 10}  # another batch size, slower: must not be taken
        return {"ok": True, "result": {"parameters": parameters, f"batch_{batch}": {"plan_tflops": tflops},
                                       "batch_999": other}}  # fmt: skip

    return {"device": "cuda:0", "started": "2026-12-04T17:00:00+00:00", "models": "stand-in",
            "machine": {"gpu": "NVIDIA H200"},
            "steps": {"score_sst2": score(134_515_008, small - 2, 256),
                      "score_cola": score(134_515_008, small + 2, 256),
                      "score_13b_sst2": score(13_000_000_000, large, 64), "attacks_sst2": {"ok": True, "result": {}},
                      "score_failed": {"ok": False, "error": "x"}}}  # fmt: skip


def test_a_gpu_checks_result_sets_the_speedup_at_the_studys_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from robustness.experiment.sizing import gpu_results
    from robustness.experiment.sizing.gpu_results import measurement

    path = tmp_path / "gpu.json"
    path.write_text(json.dumps(_gpu_check(20.0, 400.0)))
    monkeypatch.setattr(gpu_results, "GPU_RESULTS", path)
    found = measurement(json.loads(path.read_text()), str(path))
    assert found is not None
    assert [(p.parameters, p.tflops) for p in found.points] == [(134_515_008, 20.0), (13e9, 400.0)]
    assert found.tflops(1e6) == 20.0 and found.tflops(70e9) == 400.0  # clamped at the measured sizes
    middle = (134_515_008 * 13e9) ** 0.5  # halfway on a log scale: the geometric mean of the rates
    assert found.tflops(middle) == pytest.approx((20.0 * 400.0) ** 0.5)
    for params, tflops in (("13e9", 400.0), ("134515008", 20.0)):
        assert main(["plan", str(CONFIGS / "smoke.yaml"), "--json", "--params", params]) == 0
        data = json.loads(capsys.readouterr().out)
        assert data["device_speedup"] == pytest.approx(tflops / builtin_rates().tflops)
        assert data["device_speedup_origin"] == "measured"
        assert any("measured on an NVIDIA H200 by bench/gpu_check.py on 2026-12-04" in a for a in data["assumptions"])
    assert main(["plan", str(CONFIGS / "smoke.yaml")]) == 0
    assert ", measured)" in capsys.readouterr().out  # the table's GPU column says where its factor comes from


def test_a_damaged_gpu_check_result_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    from robustness.experiment.sizing import gpu_results

    path = tmp_path / "gpu.json"
    path.write_text('{"device": "cuda:0", "steps": {"score_sst2": {"ok": true, "result": {}}}}')
    monkeypatch.setattr(gpu_results, "GPU_RESULTS", path)
    assert main(["plan", str(CONFIGS / "smoke.yaml")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(path) in err[0] and "bench/gpu_check.py" in err[0]


def test_the_committed_gpu_check_is_read() -> None:
    from robustness.experiment.sizing.gpu_results import GPU_RESULTS, read_gpu_results

    found = read_gpu_results(GPU_RESULTS)
    assert found is not None and found.gpu.startswith("NVIDIA")
    assert [round(p.parameters / 1e9, 2) for p in found.points] == [0.13, 13.19]


def test_bad_config_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nmethods: [{method: ties, parameters: {keep: 2.0}}]\n")
    assert main(["plan", str(bad)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert captured.out == "" and len(lines) == 1
    assert lines[0].startswith("m3r plan: error:") and "methods[0].parameters.keep" in lines[0]

    bad.write_text("name: x\nmethods: [{method: nope}]\n")
    assert main(["plan", str(bad)]) == 2
    assert "methods[0].method" in capsys.readouterr().err


def test_bad_workers_and_calibration_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["plan", str(CONFIGS / "smoke.yaml"), "--workers", "1,0"])
    assert exit_.value.code == 2 and "--workers" in capsys.readouterr().err
    assert main(["plan", str(CONFIGS / "smoke.yaml"), "--calibrate", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "results.sqlite" in err[0]


def test_plan_prints_the_detectable_difference_of_each_held_out_comparison(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With eval.measure_n the plan prints each comparison's detectable difference after Holm over the declared
    family; more seeds detect smaller differences; without measurement it says there is no valid test."""
    import yaml

    raw = yaml.safe_load((CONFIGS / "default.yaml").read_text(encoding="utf-8"))
    raw["eval"]["measure_n"] = 200
    raw["eval"]["primary"] = ["task_arithmetic/sst2/deepwordbug", "task_arithmetic/cola/deepwordbug"]
    (tmp_path / "held.yaml").write_text(yaml.safe_dump(raw))
    assert main(["plan", str(tmp_path / "held.yaml"), "--json"]) == 0
    power = json.loads(capsys.readouterr().out)["power"]
    rows = {c["name"]: c for c in power["comparisons"]}
    assert power["primary"] == raw["eval"]["primary"] and rows["task_arithmetic/sst2/deepwordbug"]["primary"]
    assert not rows["dare_ta/sst2/deepwordbug"]["primary"] and rows["task_arithmetic/cola/stresstest"]["seeds"] == 1
    assert rows["task_arithmetic/cola/stresstest"]["seeds_for_0.10"] is None  # one seed: nothing to project
    assert isinstance(rows["task_arithmetic/sst2/deepwordbug"]["seeds_for_0.10"], int)  # more searches would do
    assert rows["task_arithmetic/cola/deepwordbug"]["metric"] == "mcc" and all(
        c["measure_rows"] == 200 and c["detectable"] > 0 for c in rows.values()
    )
    assert main(["plan", str(CONFIGS / "smoke.yaml")]) == 0
    assert "no held-out measurement (eval.measure_n is off)" in capsys.readouterr().out


def test_more_searches_detect_smaller_differences() -> None:
    from robustness.stats.power import planned_power
    from robustness.stats.search_model import Design

    found = [planned_power(Design(s, 8, 100, 200), "accuracy", 4, studies=60).detectable for s in (3, 5, 8)]
    assert found[0] > found[1] > found[2] > 0

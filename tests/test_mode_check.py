"""Score mode against generated answers, run for real on the tiny study: each report-row clean unit keeps both
modes' labels and the raw answers on its agreement rows; the stored agreement and labels follow from the answers by
the study's reading rule; the report re-reads the answers under every rule; and choosing the second rule keys the
units that read answers apart while PromptBench's default leaves every key as it was."""

from __future__ import annotations

from pathlib import Path

import pytest

from robustness.cli import main
from robustness.experiment.planning.plan import plan_study
from robustness.experiment.spec.config import ExperimentConfig
from robustness.parsing import parse_label
from tests.tiny import tiny_tokenizer
from tests.tiny_study import save_family, stored_in_order, study, write


@pytest.fixture(scope="module")
def family(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("modes")
    return root, save_family(root / "family", tiny_tokenizer())


@pytest.fixture(scope="module")
def run_dir(family: tuple[Path, dict[str, str]], data_dir: Path) -> Path:
    root, folders = family
    config = study(root / "runs", folders, data_dir, attacks=[])
    config["eval"] = {**config["eval"], "agreement_n": 3, "max_new_tokens": 3}
    assert main(["run", write(root, config, "modes"), "--no-report"]) == 0
    return root / "runs" / "rerun"


def test_report_clean_units_keep_both_modes_and_the_raw_answers(run_dir: Path) -> None:
    cleans = [(inputs, result) for _, inputs, result in stored_in_order(run_dir, "clean")]
    report = [(i, r) for i, r in cleans if r["split"] == "report"]
    assert report and all(r["mode_check"] is None for i, r in cleans if r["split"] == "selection")
    for _inputs, result in report:
        check = result["mode_check"]
        assert check["indices"] == result["indices"][:3] and check["labels"] == result["labels"][:3]
        assert check["scored"] == result["predictions"][:3]  # score mode is the study's mode
        assert len(check["answers"]) == 3 and all(isinstance(a, str) for a in check["answers"])
        assert check["reading"] == "last_word"
        assert check["generated"] == [parse_label(a, "sst2", "last_word") for a in check["answers"]]
        agree = sum(g == s for g, s in zip(check["generated"], check["scored"], strict=True)) / 3
        assert result["agreement"] == pytest.approx(agree)


def test_the_report_reads_the_answers_again_under_every_rule(run_dir: Path) -> None:
    from reports.build import build_report
    from reports.load import load_run

    report = build_report(load_run(run_dir), resamples=50, seed=0, permutations=9)
    table = next(t for t in report.tables if t.name == "score_vs_generate")
    cleans = {r["model_id"]: r for _, _, r in stored_in_order(run_dir, "clean") if r["split"] == "report"}
    assert sorted(table.data["model_id"]) == sorted(cleans)
    for row in table.data.itertuples(index=False):
        check = cleans[row.model_id]["mode_check"]
        for rule in ("last_word", "sole_label"):
            read = [parse_label(a, "sst2", rule) for a in check["answers"]]
            assert getattr(row, f"{rule}_parsed") == pytest.approx(sum(p != -1 for p in read) / 3)
            assert getattr(row, f"{rule}_accuracy") == pytest.approx(
                sum(p == y for p, y in zip(read, check["labels"], strict=True)) / 3
            )
        assert row.n == 3 and row.study_reading == "last_word"
        assert 0 <= row.last_word_parsed_low <= row.last_word_parsed <= row.last_word_parsed_high <= 1


def test_a_second_reading_rule_keys_apart_only_the_units_that_read_answers(
    family: tuple[Path, dict[str, str]], data_dir: Path
) -> None:
    root, folders = family
    base = study(root / "keys", folders, data_dir)

    def keys(**eval_changes: object) -> dict[str, set[str]]:
        cfg = ExperimentConfig.model_validate({**base, "eval": {**base["eval"], **eval_changes}})
        rows = {"sst2": ([0, 1, 2, 3], [4, 5, 6, 7, 8, 9], [])}
        units = plan_study(cfg, rows, {name: name for name in ("base", "sst2", "cola")}, {})
        out: dict[str, set[str]] = {}
        for u in units:
            split = getattr(u.inputs, "split", "")
            out.setdefault(f"{u.kind.name}/{split}", set()).add(u.key)
        return out

    default, explicit, other = keys(), keys(reading="last_word"), keys(reading="sole_label")
    assert default == explicit  # PromptBench's rule is the behaviour from before the setting existed
    assert default["clean/report"] and not default["clean/report"] & other["clean/report"]  # agreement rows read
    for kind in ("clean/selection", "merge/", "attack/"):  # score mode and no agreement rows: nothing reads answers
        assert default[kind] == other[kind]
    generate, generate_other = keys(mode="generate"), keys(mode="generate", reading="sole_label")
    assert not generate["attack/"] & generate_other["attack/"]
    assert not generate["clean/selection"] & generate_other["clean/selection"]
    cfg = ExperimentConfig.model_validate({**base, "eval": {**base["eval"], "reading": "sole_label"}})
    assert cfg.study_config()["eval"]["reading"] == "sole_label"
    assert "reading" not in ExperimentConfig.model_validate(base).study_config()["eval"]


def test_found_prompts_are_measured_in_generate_mode_beside_score_mode(
    family: tuple[Path, dict[str, str]], data_dir: Path
) -> None:
    from reports.build import build_report
    from reports.load import load_run

    root, folders = family
    attacks = [{"attack": "stresstest", "datasets": ["sst2"], "seeds": [0], "n": 3}]
    config = study(root / "found", folders, data_dir, attacks=attacks)
    config["eval"] = {**config["eval"], "measure_n": 4, "measure_generate": True, "reading": "sole_label"}
    assert main(["run", write(root, config, "found"), "--no-report"]) == 0
    run_dir = root / "found" / "rerun"
    measures = stored_in_order(run_dir, "measure")
    score = {i["source"]: r for _, i, r in measures if r.get("mode") is None}
    generate = [(k, i, r) for k, i, r in measures if r.get("mode") == "generate"]
    assert len(score) == len(generate) == 2  # the plain merge and the chosen candidate
    for key, inputs, result in generate:
        assert "/held-out/generate/" in key
        twin = score[inputs["source"]]
        assert result["indices"] == twin["indices"] and result["attacked_prompt"] == twin["attacked_prompt"]
        assert result["reading"] == "sole_label" and len(result["attacked_answers"]) == 4
        for which in ("clean", "attacked"):
            read = [parse_label(a, "sst2", "sole_label") for a in result[f"{which}_answers"]]
            assert result[f"{which}_predictions"] == read
    report = build_report(load_run(run_dir), resamples=50, seed=0, permutations=9)
    tables = {t.name: t.data for t in report.tables}
    assert len(tables["found_prompts_by_mode"]) == 2
    assert len(tables["heldout"]) == 1 and int(tables["heldout"].iloc[0].seeds) == 1  # score-mode measures only


def test_measure_generate_needs_held_out_rows_and_score_mode(family: tuple[Path, dict[str, str]],
                                                             data_dir: Path) -> None:  # fmt: skip
    from pydantic import ValidationError

    root, folders = family
    base = study(root / "bad", folders, data_dir)
    for changes in ({"measure_generate": True}, {"measure_generate": True, "measure_n": 4, "mode": "generate"}):
        with pytest.raises(ValidationError, match=r"measure_generate: .* needs eval\.measure_n and eval\.mode: score"):
            ExperimentConfig.model_validate({**base, "eval": {**base["eval"], **changes}})

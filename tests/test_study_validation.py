"""`m3r run` checks the whole study when it loads it (robustness/experiment/spec/config.py and validate.py).

Each broken config below starts from configs/smoke.yaml and must exit with code 2 and one line on stderr that
names the config file, the key as YAML spells it and what to do, with no output folder created and the runner
never reached (tests/study_cli.py). The shipped configs pass.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from robustness.errors import UserError
from robustness.experiment.spec.config import ExperimentConfig, load_experiment
from robustness.experiment.spec.validate import validate_study
from tests.study_cli import CONFIGS, ROOT, Config, Study, StudyStartedError, make_study, smoke

FIXTURES = Path(__file__).parent / "fixtures" / "livebench"


@pytest.fixture
def study(tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Study:
    return make_study(tmp_path, capsys, monkeypatch)


def edit(cfg: Config, path: str, value: Any) -> Config:
    """Set the key at `path` (`methods.0.parameters.keep`: numbers index lists); `...` as the value deletes it."""
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
    node: Any = cfg
    for part in parents:
        node = node[part]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return cfg


def broken(*changes: tuple[str, Any]) -> Config:
    cfg = smoke()
    for path, value in changes:
        edit(cfg, path, value)
    return cfg


def test_the_smoke_config_passes_and_reaches_the_runner(study: Study) -> None:
    with pytest.raises(StudyStartedError):
        study.run(smoke())
    assert not study.out.exists()


# ---- 1. method parameters, through the merge library's own checks ----------------------------------------------

METHOD_CASES: dict[str, tuple[list[tuple[str, Any]], list[str]]] = {
    "keep on task_arithmetic": (
        [("methods.0.parameters.keep", 0.5)],
        ["methods[0].parameters.keep: does not apply to method 'task_arithmetic' (it is used by ties); remove it"],
    ),
    "TIES without keep": (
        [("methods.1.parameters.keep", ...)],
        [
            "methods[1].parameters.keep: is required for method 'ties' "
            "(the fraction of entries kept, e.g. 0.5, 0.7, 0.9)"
        ],
    ),
    "DARE without drop_rate": (
        [("methods.2", {"method": "dare", "parameters": {"scaling": 1.0}})],
        [
            "methods[2].parameters.drop_rate: is required for method 'dare' "
            "(the probability of dropping an entry; the paper uses 0.2)"
        ],
    ),
    "DARE drop_rate 1": (
        [("methods.2", {"method": "dare", "parameters": {"drop_rate": 1.0}})],
        ["methods[2].parameters.drop_rate: Input should be less than 1"],
    ),
    "keep above 1": ([("methods.1.parameters.keep", 1.5)], ["methods[1].parameters.keep: Input should be less than"]),
    "negative scaling": (
        [("methods.0.parameters.scaling", -1.0)],
        ["methods[0].parameters.scaling: Input should be greater than 0"],
    ),
    "unknown parameter": (
        [("methods.0.parameters.density", 0.5)],
        ["methods[0].parameters.density: unknown key (allowed: scaling, keep, trim_scope, drop_rate, dare_method)"],
    ),
    "M3 seed too large": ([("m3.seed", 2**64)], ["m3.seed: Input should be less than or equal to"]),
}


@pytest.mark.parametrize("case", list(METHOD_CASES))
def test_method_parameters_are_checked_by_the_merge_library(study: Study, case: str) -> None:
    changes, fragments = METHOD_CASES[case]
    cfg = smoke()
    for path, value in changes:
        if path == "methods.2":
            cfg["methods"].append(value)
        else:
            edit(cfg, path, value)
    study.refused(cfg, *fragments)


# ---- 2. M3 alphas ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alphas", "fragment"),
    [
        ([-1], "m3.alphas: each alpha must be a finite number > 0 (lambda ~ Beta(alpha, alpha)), got -1"),
        ([0.5, 0], "m3.alphas: each alpha must be a finite number > 0"),
        ([float("inf")], "m3.alphas[0]: Input should be a finite number"),
        ([float("nan")], "m3.alphas[0]: Input should be a finite number"),
        ([0.5, 2, 0.5], "m3.alphas: alpha 0.5 is listed twice"),
        ([0.1234567, 0.1234568], "m3.alphas: alpha 0.123457 is listed twice (to 6 significant digits)"),
        ([], "m3.alphas: List should have at least 1 item"),
    ],
)
def test_alphas_must_be_finite_positive_and_distinct(study: Study, alphas: list[float], fragment: str) -> None:
    study.refused(broken(("m3.alphas", alphas)), fragment)


# ---- 3. experts and datasets the suite knows ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "fragments"),
    [
        ([("pairs", [["sst2", "mnli"]])], ["pairs[0]: unknown expert 'mnli'", "are sst2, cola: name two or more"]),
        ([("pairs", [["sst2", "cola"], ["cola", "sst2"], ["sst2", "cola"]])], ["pairs: a pair is listed twice"]),
        ([("eval.datasets", ["sst2", "mnli"])], ["eval.datasets[1]: unknown dataset 'mnli'; use one of sst2, cola"]),
        ([("eval.datasets", ["sst2", "sst2"])], ["eval.datasets: 'sst2' is listed twice"]),
        ([("attacks.0.datasets", ["mnli"])], ["attacks[0].datasets[0]: unknown dataset 'mnli'; use one of sst2, cola"]),
        (
            [("eval.datasets", ["sst2"])],
            ["attacks[0].datasets: 'cola' is not in eval.datasets ['sst2']", "add it there or remove it here"],
        ),
        (
            [("models.family_config", "configs/no-such-family.yaml")],
            ["models.family_config: config file 'configs/no-such-family.yaml' does not exist"],
        ),
    ],
)
def test_pairs_and_datasets_name_what_exists(
    study: Study, changes: list[tuple[str, Any]], fragments: list[str]
) -> None:
    study.refused(broken(*changes), *fragments)


def test_the_default_family_without_a_family_config_has_sst2_and_cola(study: Study) -> None:
    cfg = broken(("pairs", [["sst2", "qnli"]]))
    del cfg["models"]["family_config"]
    study.refused(cfg, "pairs[0]: unknown expert 'qnli'; the experts of the default family are sst2, cola")


# ---- 4. device and dtype ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "flags", "fragment"),
    [
        ([("device", "tpu")], (), "device: unknown device 'tpu'; use auto, cpu, cuda or cuda:N"),
        ([], ("--device", "tpu"), "device: unknown device 'tpu'; use auto, cpu, cuda or cuda:N"),
        ([("device", "CPU")], (), "device: unknown device 'CPU'; use auto, cpu, cuda or cuda:N (in lower case)"),
        ([("device", "cuda:-1")], (), "device: unknown device 'cuda:-1'"),
        ([("dtype", "float8")], (), "dtype: unknown dtype 'float8'; use auto, bf16, bfloat16, float16, float32"),
    ],
)
def test_device_and_dtype_are_known_names(
    study: Study, changes: list[tuple[str, Any]], flags: tuple[str, ...], fragment: str
) -> None:
    study.refused(broken(*changes), fragment, flags=flags)


@pytest.mark.parametrize("device", ["cuda", "cuda:0", "cuda:3"])
def test_cuda_without_cuda_is_refused_at_load(study: Study, device: str) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    study.refused(broken(("device", device)), f"device: device {device!r} was asked for but CUDA is not available")


# ---- 5. the output folder -----------------------------------------------------------------------------------------


def test_an_output_dir_below_a_file_is_refused(study: Study) -> None:
    blocker = study.tmp / "a-file"
    blocker.write_text("not a folder\n")
    line = study.refused(broken(("output_dir", str(blocker / "runs"))), "output_dir: the run folder", "which is a file")
    assert str(blocker) in line and blocker.read_text() == "not a folder\n"


def test_a_run_folder_that_is_a_file_is_refused(study: Study) -> None:
    study.out.mkdir()
    (study.out / "smoke").write_text("")
    # The output folder exists here (made above); the check is that nothing was added to it.
    code, _, err = study.run(smoke())
    assert code == 2 and "output_dir: the run folder" in err and "is a file" in err
    assert [p.name for p in study.out.iterdir()] == ["smoke"] and (study.out / "smoke").read_text() == ""


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_an_output_dir_that_is_not_writable_is_refused(study: Study) -> None:
    locked = study.tmp / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        study.refused(broken(("output_dir", str(locked / "runs"))), f"output_dir: {str(locked)!r} is not writable")
    finally:
        locked.chmod(0o755)


def test_a_run_folder_holding_another_studys_store_is_refused(study: Study) -> None:
    from robustness.store import Store

    with Store.create_or_resume(study.out / "smoke", {"name": "other-study"}):
        pass
    store = study.out / "smoke" / "results.sqlite"
    before = store.read_bytes()
    code, _, err = study.run(smoke())
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "name: the run folder" in err and "holds study 'other-study'" in err and "set name: other-study" in err
    assert store.read_bytes() == before


# ---- 6. explicit checkpoints: files only --------------------------------------------------------------------------

COMPLETE = ("config.json", "tokenizer.json", "model.safetensors")


def checkpoint(folder: Path, files: tuple[str, ...] = COMPLETE) -> str:
    """A model folder holding these file names (their contents are never read by the check)."""
    folder.mkdir(parents=True)
    for name in files:
        (folder / name).write_text("{}\n")
    return str(folder)


def explicit(study: Study, experts: dict[str, str] | None = None, base: str | None = None) -> Config:
    cfg = smoke()
    models = study.tmp / "models"
    cfg["models"] = {
        "family": "explicit",
        "base": base or checkpoint(models / "base"),
        "experts": experts or {"sst2": checkpoint(models / "sst2"), "cola": checkpoint(models / "cola")},
    }
    return cfg


def test_complete_folders_and_hub_ids_pass(study: Study) -> None:
    models = study.tmp / "models"
    experts = {
        "sst2": checkpoint(models / "sst2", ("config.json", "tokenizer.model", "tokenizer_config.json", "a.bin")),
        "cola": "some-org/cola-expert",  # a Hub id: left to loading
    }
    with pytest.raises(StudyStartedError):
        study.run(explicit(study, experts))


@pytest.mark.parametrize(
    ("files", "missing"),
    [
        (("config.json", "model.safetensors"), "has no tokenizer files (tokenizer.json, tokenizer.model, "),
        (("tokenizer.json", "model-00001-of-00002.safetensors"), "has no config.json;"),
        (("config.json", "tokenizer.json", "model.gguf"), "has no weight files (*.safetensors, *.bin)"),
        ((), "has no config.json and no tokenizer files"),
    ],
)
def test_an_expert_folder_missing_files_is_named(study: Study, files: tuple[str, ...], missing: str) -> None:
    models = study.tmp / "models"
    experts = {"sst2": checkpoint(models / "sst2"), "cola": checkpoint(models / "cola", files)}
    line = study.refused(explicit(study, experts), "models.experts.cola: model folder", missing)
    assert str(models / "cola") in line and "give a Hugging Face model folder" in line


def test_a_base_folder_without_weights_is_named(study: Study) -> None:
    base = checkpoint(study.tmp / "base", ("config.json", "tokenizer.json"))
    study.refused(explicit(study, base=base), "models.base: model folder", "has no weight files")


@pytest.mark.parametrize(
    ("reference", "fragments"),
    [
        ("./no-such-folder", ["model path './no-such-folder' does not exist; check the path, or give a Hugging"]),
        ("smollm2-135m-instruct", ["'smollm2-135m-instruct' is a GGUF model (", "merge cannot read; convert it"]),
    ],
)
def test_an_expert_that_is_no_folder_is_named(study: Study, reference: str, fragments: list[str]) -> None:
    experts = {"sst2": checkpoint(study.tmp / "models" / "sst2"), "cola": reference}
    study.refused(explicit(study, experts), "models.experts.cola: ", *fragments)


def test_an_expert_file_is_named(study: Study) -> None:
    file = study.tmp / "weights.safetensors"
    file.write_text("{}")
    experts = {"sst2": checkpoint(study.tmp / "models" / "sst2"), "cola": str(file)}
    study.refused(explicit(study, experts), "models.experts.cola: model path", "is a file but not a .gguf file")


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda c: c["models"]["experts"].update(base="org/x"), "models.experts.base: 'base' names the base model"),
        (
            lambda c: c.update(pairs=[["sst2", "math"]]),
            "pairs[0]: unknown expert 'math'; the experts of models.experts",
        ),
        (lambda c: c["models"].update(family_config="configs/models.yaml"), "models.family_config: is read only with"),
        (lambda c: c["models"].update(family="default"), "models.base: is read only with 'models.family: explicit'"),
    ],
)
def test_explicit_family_keys(study: Study, change: Callable[[Config], None], fragment: str) -> None:
    cfg = explicit(study)
    change(cfg)
    study.refused(cfg, fragment)


# ---- 7. LiveBench -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "fragments"),
    [
        (
            [("livebench.tasks", ["paraphrase", "connections"])],
            ["livebench.tasks: unknown LiveBench task 'connections'; choose from: paraphrase, simplify"],
        ),
        ([("livebench.tasks", ["paraphrase", "paraphrase"])], ["livebench.tasks: 'paraphrase' is listed twice"]),
        (
            [("livebench.questions_dir", "no-such-questions")],
            ["livebench.questions_dir: 'no-such-questions' is not a folder", "m3r livebench download --out DIR"],
        ),
        (
            [("livebench.release_date", "2024-02-30")],
            ["livebench.release_date: must be a real date written YYYY-MM-DD"],
        ),
        ([("livebench.release_date", "June 2024")], ["livebench.release_date: must be a real date", "'June 2024'"]),
        ([("livebench.release_date", "2024-6-1")], ["livebench.release_date: must be a real date"]),
        (
            [("livebench.release_date", "2020-01-01")],
            ["livebench.release_date: no 'paraphrase' question in", "is live at 2020-01-01", "choose a later date"],
        ),
        (
            [("livebench.tasks", ["paraphrase", "typos"])],
            ["livebench.tasks: no 'typos' questions in", "language/typos/question.jsonl", "drop the task"],
        ),
    ],
)
def test_livebench_tasks_questions_and_release(
    study: Study, changes: list[tuple[str, Any]], fragments: list[str]
) -> None:
    line = study.refused(broken(*changes), *fragments)
    assert "--questions" not in line  # `m3r run` has no such flag


def test_an_unquoted_release_date_is_a_date(study: Study) -> None:
    """YAML reads `release_date: 2024-06-24` as a date; it is the same as the quoted string."""
    text = yaml.safe_dump({"output_dir": str(study.out), **smoke()})
    text = text.replace("livebench:\n", "livebench:\n  release_date: 2024-06-24\n")
    with pytest.raises(StudyStartedError):
        study.run(text.encode())
    cfg = ExperimentConfig.model_validate(broken(("livebench.release_date", "2024-06-24")))
    assert cfg.livebench.release_date == "2024-06-24"


def test_no_questions_folder_and_no_hub_names_questions_dir(study: Study, data_dir: Path) -> None:
    """A data root without livebench/ and an unreachable Hub: the line says where questions go."""
    from robustness.livebench.questions import load_hub

    try:
        load_hub(["instruction_following"])
        pytest.skip("the Hub (or its local cache) has LiveBench here")
    except UserError:
        pass
    root = study.tmp / "data"
    root.mkdir()
    for part in ("glue", "promptbench"):
        (root / part).symlink_to(data_dir / part)
    line = study.refused(broken(("data_dir", str(root))), "livebench.questions_dir: not set, the data root")
    assert "set livebench.questions_dir" in line and "--questions" not in line


# ---- 8-10. prompt, attack rows, split sizes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "fragment"),
    [
        ("task_oriented:12", "eval.prompt: unknown prompt 'task_oriented:12'; use an index 0-19 or a name "),
        ("20", "eval.prompt: prompt index 20 is out of range: sst2 has prompts 0-19"),
        ("sideways:1", "(task_oriented:0-9, role_oriented:0-9)"),
    ],
)
def test_the_prompt_exists_for_every_dataset(study: Study, prompt: str, fragment: str) -> None:
    study.refused(broken(("eval.prompt", prompt)), fragment)


def test_an_attack_larger_than_the_report_part_is_refused(study: Study) -> None:
    study.refused(
        broken(("attacks.1.n", 13)),
        "attacks[1].n: 13 is more rows than the report part holds (eval.report_n = 12)",
        "lower n to at most 12 or raise eval.report_n",
    )


def test_a_curve_larger_than_the_report_part_is_refused(study: Study) -> None:
    study.refused(
        broken(("attacks.1.curve_n", 13)),
        "attacks[1].curve_n: 13 is more rows than the report part holds (eval.report_n = 12)",
        "lower curve_n to at most 12 or raise eval.report_n",
    )
    study.refused(broken(("attacks.0.curve_n", 0)), "attacks[0].curve_n: Input should be greater than 0")


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ([("eval.selection_n", 500), ("eval.report_n", 400)], "500 + 400 = 900 rows, more than sst2's validation"),
        (
            [("eval.datasets", ["cola"]), ("eval.selection_n", 44), ("eval.report_n", 1000)]
            + [(f"attacks.{i}.datasets", ["cola"]) for i in (0, 1)],
            "44 + 1000 = 1044 rows, more than cola's validation split holds (1043)",
        ),
    ],
)
def test_selection_and_report_rows_fit_the_split(study: Study, changes: list[tuple[str, Any]], fragment: str) -> None:
    study.refused(broken(*changes), "eval.selection_n + eval.report_n: ", fragment)


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ([("attacks.1.seeds", [0, -1])], "attacks[1].seeds[1]: Input should be greater than or equal to 0"),
        ([("attacks.1.seeds", [1, 1])], "attacks[1].seeds: 1 is listed twice"),
        ([("eval.split_seed", -3)], "eval.split_seed: Input should be greater than or equal to 0"),
        ([("attacks.2", {"attack": "stresstest", "seeds": [0], "n": 6})], "attacks[2]: repeats attacks[0]"),
        (  # the curve is an addition to an attack's units, not another attack
            [("attacks.2", {"attack": "stresstest", "seeds": [0], "n": 6, "curve_n": 4})],
            "attacks[2]: repeats attacks[0]",
        ),
    ],
)
def test_seeds_and_repeated_attacks(study: Study, changes: list[tuple[str, Any]], fragment: str) -> None:
    cfg = smoke()
    for path, value in changes:
        if path == "attacks.2":
            cfg["attacks"].append(value)
        else:
            edit(cfg, path, value)
    study.refused(cfg, fragment)


# ---- the shipped configs -------------------------------------------------------------------------------------------

STUDIES = [
    "smoke.yaml", "curve-smoke.yaml", "transfer-smoke.yaml", "quick.yaml", "default.yaml", "paper-13b.yaml",
    "score-vs-generate.yaml",
]  # fmt: skip


def questions_for_every_task(folder: Path, data_dir: Path) -> Path:
    """A LiveBench folder with the shared instruction-following questions and the coding and typos fixtures."""
    folder.mkdir()
    (folder / "instruction_following").symlink_to(data_dir / "livebench" / "instruction_following")
    for category in ("coding", "language"):
        (folder / category).symlink_to(FIXTURES / category)
    return folder


def test_every_shipped_study_is_listed() -> None:
    assert sorted(STUDIES) == sorted(p.name for p in CONFIGS.glob("*.yaml") if not p.name.startswith("models"))


@pytest.mark.parametrize("name", STUDIES)
def test_shipped_configs_pass_validation(
    name: str, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)  # their family_config paths are relative to the repository
    raw = yaml.safe_load((CONFIGS / name).read_text(encoding="utf-8")) | {"output_dir": str(tmp_path / "runs")}
    if name == "paper-13b.yaml":  # its coding and language tasks are not in the shared data
        raw["livebench"]["questions_dir"] = str(questions_for_every_task(tmp_path / "livebench", data_dir))
    validate_study(ExperimentConfig.model_validate(raw))
    assert not (tmp_path / "runs").exists()


def test_paper_config_on_the_shared_questions_names_the_missing_task(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shared data holds only instruction following: run as is, the paper study would stop at LCB_generation."""
    monkeypatch.chdir(ROOT)
    cfg = load_experiment(CONFIGS / "paper-13b.yaml", {"output_dir": str(tmp_path)})
    with pytest.raises(UserError, match=r"^livebench\.tasks: no 'LCB_generation' questions in .*livebench"):
        validate_study(cfg)

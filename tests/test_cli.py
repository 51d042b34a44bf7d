"""The `m3r` console script as a user runs it: help, JSON output, one-line errors with exit code 2."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

M3R = shutil.which("m3r", path=str(Path(sys.executable).parent)) or "m3r"


def m3r(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", **(env or {})}
    return subprocess.run([M3R, *args], capture_output=True, text=True, env=full_env, timeout=300)


def test_help_lists_the_commands() -> None:
    result = m3r("--help")
    assert result.returncode == 0
    for command in ("info", "data", "inspect", "convert"):
        assert command in result.stdout


def test_data_json_counts(data_dir: Path) -> None:
    result = m3r("data", "cola", "--data-dir", str(data_dir), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) | {"origin": None} == {
        "dataset": "cola",
        "split": "validation",
        "rows": 1043,
        "labels": {"unacceptable": 324, "acceptable": 719},
        "origin": None,
    }


def _one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_unknown_dataset(data_dir: Path) -> None:
    _one_line_error(m3r("data", "mnli", "--data-dir", str(data_dir)), "unknown dataset 'mnli'", "sst2, cola")


def test_missing_data_dir(tmp_path: Path) -> None:
    _one_line_error(m3r("data", "sst2", "--data-dir", str(tmp_path / "gone")), "gone", "does not exist")


def test_missing_model_path(tmp_path: Path) -> None:
    _one_line_error(m3r("inspect", str(tmp_path / "no-model")), "model path", "no-model", "does not exist")


def test_folder_with_no_weights(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    _one_line_error(m3r("inspect", str(tmp_path)), "holds no weights", str(tmp_path))


def test_unknown_device(base_model_dir: Path) -> None:
    _one_line_error(m3r("inspect", str(base_model_dir), "--device", "tpu"), "unknown device 'tpu'")


@pytest.mark.parametrize("labels", ["positive,negative"])
def test_inspect_scores_one_prompt(base_model_dir: Path, labels: str) -> None:
    result = m3r("inspect", str(base_model_dir), "--labels", labels, "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["device"] == "cpu" and info["dtype"] == "float32" and info["chat"] is True
    assert info["parameters"] == 134_515_008
    assert set(info["label_logprobs"]) == {"positive", "negative"}
    assert info["prediction"] in {"positive", "negative"}


def test_eval_and_attack_bad_input(data_dir: Path, base_model_dir: Path) -> None:
    model = str(base_model_dir)
    base = ["--model", model, "--data-dir", str(data_dir)]
    _one_line_error(m3r("eval", *base, "--dataset", "qnli"), "unknown dataset 'qnli'")
    _one_line_error(m3r("eval", *base, "--dataset", "sst2", "--prompt", "25"), "prompt index 25 is out of range")
    _one_line_error(m3r("eval", *base, "--dataset", "cola", "--n", "5000"), "--n 5000 is out of range", "1043 rows")
    _one_line_error(
        m3r("eval", *base, "--dataset", "sst2", "--prompt-text", "Classify this review."),
        "placeholder {content} exactly once",
    )
    _one_line_error(m3r("attack", *base, "--dataset", "sst2", "--attack", "textfooler"), "unknown attack 'textfooler'")
    _one_line_error(
        m3r("attack", *base, "--dataset", "sst2", "--attack", "stresstest", "--search", "beam"), "unknown search 'beam'"
    )
    _one_line_error(m3r("eval", "--model", "/no/such/model", "--dataset", "sst2"), "model path", "does not exist")


def test_eval_json(data_dir: Path, base_model_dir: Path) -> None:
    result = m3r("eval", "--model", str(base_model_dir), "--dataset", "sst2", "--n", "8", "--seed", "3",
                 "--data-dir", str(data_dir), "--json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["metric_name"] == "accuracy" and out["n"] == 8 and out["prompt_name"] == "task_oriented:0"
    assert len(out["predictions"]) == len(out["labels"]) == len(out["indices"]) == 8
    right = sum(p == y for p, y in zip(out["predictions"], out["labels"], strict=True))
    assert out["accuracy"] == out["metric"] == right / 8
    assert out["prompt"].endswith("Question:{content}\nAnswer:")


@pytest.mark.parametrize("reading", ["last_word", "sole_label"])
def test_eval_generate_json_keeps_the_raw_answers(data_dir: Path, base_model_dir: Path, reading: str) -> None:
    from robustness.parsing import parse_label

    result = m3r("eval", "--model", str(base_model_dir), "--dataset", "sst2", "--n", "4", "--mode", "generate",
                 "--reading", reading, "--data-dir", str(data_dir), "--json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["mode"] == "generate" and out["reading"] == reading
    assert len(out["answers"]) == 4 and all(isinstance(a, str) and a for a in out["answers"])
    assert out["predictions"] == [parse_label(a, "sst2", reading) for a in out["answers"]]


def test_attack_json(data_dir: Path, base_model_dir: Path) -> None:
    result = m3r("attack", "--model", str(base_model_dir), "--dataset", "sst2", "--attack", "stresstest",
                 "--n", "4", "--data-dir", str(data_dir), "--json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    for key in ("clean_metric", "attacked_metric", "attacked_prompt", "pdr", "queries", "seed", "attacked_predictions"):
        assert key in out
    assert out["evaluations"] == 4 and out["queries"] == 5
    assert "and true is true" in out["attacked_prompt"] or "and false is not true" in out["attacked_prompt"]


def _main_error(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """Run `m3r ARGS` in-process; it must exit 2 with one line on stderr and nothing on stdout. Returns the line."""
    from robustness.cli import main

    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse's own exit, as the console script would see it
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2 and captured.out == "" and len(lines) == 1, (code, captured)
    assert "Traceback" not in captured.err
    return lines[0]


TASK = ("--model", "m", "--dataset", "sst2")
BAD_NUMBERS = [
    ("eval", *TASK, "--batch-size", "-3"),  # ran, every prediction 0, accuracy 0.25
    ("eval", *TASK, "--batch-size", "0"),  # ran with the default batch size
    ("eval", *TASK, "--n", "0"),
    ("eval", *TASK, "--max-new-tokens", "-1"),
    ("eval", *TASK, "--seed", "-1"),
    ("eval", *TASK, "--sample-seed", "-2"),
    ("attack", *TASK, "--attack", "stresstest", "--batch-size", "-1"),
    ("attack", *TASK, "--attack", "deepwordbug", "--levenshtein", "0"),
    ("attack", *TASK, "--attack", "bertattack", "--candidates", "-48"),
    ("inspect", "m", "--max-new-tokens", "-1"),
    ("livebench", "generate", "--out", "a.jsonl", "--max-new-tokens", "-1"),
    ("livebench", "generate", "--out", "a.jsonl", "--batch-size", "0"),
    ("livebench", "generate", "--out", "a.jsonl", "--n", "-5"),
    ("livebench", "score", "--answers", "a.jsonl", "--workers", "0"),
    ("report", "runs/x", "--seed", "-1"),
    ("eval", *TASK, "--n", "ten"),
]


@pytest.mark.parametrize("args", BAD_NUMBERS, ids=[" ".join(a[:1] + a[-2:]) for a in BAD_NUMBERS])
def test_counts_sizes_and_seeds_are_checked_as_parsed(
    capsys: pytest.CaptureFixture[str], args: tuple[str, ...]
) -> None:
    """Every count, size and seed flag of every command refuses a value that makes no sense, naming the flag and
    what to give, before anything is loaded (the model 'm' does not exist and is never looked at)."""
    line = _main_error(capsys, *args)
    flag, value = args[-2], args[-1]
    assert f"argument {flag}: must be " in line and repr(value) in line and "--help" in line
    assert ("an integer >= 0" if flag.endswith("seed") else "a positive integer") in line


def _damaged_model(folder: Path, fmt: str, damage: str) -> Path:
    from tests.tiny import save_tiny

    save_tiny(folder, fmt)
    weights = folder / ("model.safetensors" if fmt == "safetensors" else "pytorch_model.bin")
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"not weights at all\n" * 64)
    return weights


@pytest.mark.parametrize("command", ["eval", "attack"])
@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_a_damaged_safetensors_file_is_named_before_any_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, damage: str
) -> None:
    weights = _damaged_model(tmp_path / "model", "safetensors", damage)
    capsys.readouterr()  # the save's progress bar
    extra = ("--attack", "stresstest") if command == "attack" else ()
    line = _main_error(capsys, command, "--model", str(tmp_path / "model"), "--dataset", "sst2", *extra)
    assert f"model file {str(weights)!r} is truncated or not a safetensors file" in line
    assert "download it again, or re-save the model" in line


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_a_damaged_bin_file_is_one_line_naming_the_file(
    tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str], damage: str
) -> None:
    _damaged_model(tmp_path / "model", "bin", damage)
    capsys.readouterr()
    args = ("eval", "--model", str(tmp_path / "model"), "--dataset", "sst2", "--n", "2", "--data-dir", str(data_dir))
    line = _main_error(capsys, *args)
    assert "could not load the weights pytorch_model.bin in" in line and "download them again" in line

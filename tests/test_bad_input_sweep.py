"""Bad input that used to pass, trace back late or be misnamed is refused by name in one line with exit code 2, before
any model loads and with nothing written: a folder where a file goes (and the other way round), a LiveBench answers
file that is one JSON array, a run folder whose results.sqlite is a folder, a --prompt-text that is not UTF-8.
(A merge config listing a model twice or the base as a model: tests/merges/test_merge_cli.py.)"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from robustness.cli import main
from robustness.store import Store, StoreError

FIXTURES = Path(__file__).resolve().parent / "fixtures"
QUESTIONS = FIXTURES / "livebench"
STORE = FIXTURES / "study_report" / "results.sqlite"
M3R = shutil.which("m3r", path=str(Path(sys.executable).parent)) or "m3r"


def error_line(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """The one stderr line of `m3r ARGS`, which must exit with code 2 and print nothing on stdout."""
    assert main(list(args)) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert captured.out == "" and len(lines) == 1 and "Traceback" not in captured.err, captured
    return lines[0]


@pytest.fixture
def no_model_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    import robustness.models

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a model was loaded before the bad input was refused")

    monkeypatch.setattr(robustness.models, "load_model", refuse)


# ---- a folder where a file goes, a file where a folder goes -------------------------------------------------------


def test_a_folder_given_for_a_file_is_named_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "a-folder"
    folder.mkdir()
    expected = f"{str(folder)!r} is a folder, expected a file"
    line = error_line(capsys, "livebench", "score", "--questions", str(QUESTIONS), "--answers", str(folder))
    assert f"answers file {expected}" in line
    assert f"merge config {expected}" in error_line(capsys, "merge", str(folder), "--out", str(tmp_path / "out"))
    assert f"config file {expected}" in error_line(capsys, "run", str(folder))
    assert f"config file {expected}" in error_line(capsys, "plan", str(folder))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-folder"] and not any(folder.iterdir())


def test_a_file_given_for_a_folder_is_named_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = tmp_path / "a-file"
    file.write_text("x\n")
    answers = str(QUESTIONS / "answers.jsonl")
    line = error_line(capsys, "livebench", "score", "--questions", str(file), "--answers", answers)
    assert f"questions folder {str(file)!r} is a file, expected a folder" in line
    assert f"run directory {file} is a file, expected a folder" in error_line(capsys, "report", str(file))
    assert f"data directory {str(file)!r} (from data_dir) is a file, expected a folder" in error_line(
        capsys, "data", "sst2", "--data-dir", str(file)
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"] and file.read_text() == "x\n"


def test_a_missing_path_is_still_said_to_be_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gone = tmp_path / "gone"
    line = error_line(capsys, "livebench", "score", "--questions", str(QUESTIONS), "--answers", str(gone))
    assert f"answers file {str(gone)!r} does not exist" in line
    assert f"run directory {gone} does not exist" in error_line(capsys, "report", str(gone))


def test_livebench_generate_refuses_an_answers_folder_before_the_model_loads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_model_loads: None
) -> None:
    line = error_line(capsys, "livebench", "generate", "--questions", str(QUESTIONS), "--out", str(tmp_path))
    assert f"answers file {str(tmp_path)!r} is a folder, expected a file" in line
    assert not any(tmp_path.iterdir())


# ---- a LiveBench answers file that is one JSON array ---------------------------------------------------------------


@pytest.mark.parametrize("indent", [None, 2])
def test_answers_as_one_json_array_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], indent: int | None
) -> None:
    answers = tmp_path / "answers.json"
    records = [json.loads(line) for line in (QUESTIONS / "answers.jsonl").read_text().splitlines() if line.strip()]
    answers.write_text("\n " + json.dumps(records, indent=indent) + "\n")  # the first non-space character is [
    line = error_line(capsys, "livebench", "score", "--questions", str(QUESTIONS), "--answers", str(answers))
    assert f"{answers}: the file is one JSON array; expected JSON lines, one " in line
    assert "object per line" in line and "unfinished" not in line


def test_livebench_generate_refuses_a_json_array_before_the_model_loads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_model_loads: None
) -> None:
    answers = tmp_path / "answers.json"
    answers.write_text('[{"question_id": "q", "answer": "a"}]')
    line = error_line(capsys, "livebench", "generate", "--questions", str(QUESTIONS), "--out", str(answers))
    assert "the file is one JSON array" in line
    assert answers.read_text() == '[{"question_id": "q", "answer": "a"}]'  # not appended to


# ---- a run folder whose results.sqlite is a folder -----------------------------------------------------------------


def test_a_results_sqlite_that_is_a_folder_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    (run / "results.sqlite").mkdir(parents=True)
    line = error_line(capsys, "report", str(run))
    assert f"{run / 'results.sqlite'} is a folder, not a SQLite file" in line and "holds no" not in line
    assert [p.name for p in run.iterdir()] == ["results.sqlite"]
    # `m3r run` checks the same before it builds or loads a model (experiment/execution/runner.py).
    with pytest.raises(StoreError, match="is a folder, not a SQLite file"):
        Store.check_resumable(run, {"name": "fixture"})


def test_a_run_folder_with_its_store_still_opens(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(STORE, run / "results.sqlite")
    with Store.open_readonly(run) as store:
        assert store.config()


# ---- --prompt-text that is not UTF-8 -------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["eval", "attack"])
def test_a_prompt_text_that_is_not_utf8_is_refused_while_parsing(
    capsys: pytest.CaptureFixture[str], no_model_loads: None, command: str
) -> None:
    # Linux hands argv bytes that are not UTF-8 to Python as surrogate escapes: b"caf\xe9" arrives as "caf\udce9".
    args = [command, "--model", "/no/such/model", "--dataset", "sst2", "--prompt-text", "Review {content} caf\udce9"]
    with pytest.raises(SystemExit) as exit_info:
        main([*args, *(["--attack", "stresstest"] if command == "attack" else [])])
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "model path" not in lines[0]
    assert "argument --prompt-text: is not UTF-8 text: character 21 is the byte 0xe9" in lines[0]


def test_a_prompt_text_with_latin1_bytes_in_argv_is_one_line() -> None:
    """The same through a real argv: the byte 0xe9 of a Latin-1 terminal's é."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    argv = [M3R, "eval", "--model", "/no/such/model", "--dataset", "sst2", "--prompt-text"]
    result = subprocess.run([*argv, b"{content} caf\xe9"], capture_output=True, text=True, env=env, timeout=300)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and result.stdout == "" and len(lines) == 1, result.stderr
    assert "argument --prompt-text: is not UTF-8 text: character 14 is the byte 0xe9" in lines[0]


def test_a_model_folder_without_tokenizer_or_with_a_damaged_config_is_refused_before_any_weight(
    tmp_path: Path,
) -> None:
    """Checked from the folder's files alone: the weights here are not even a safetensors file."""
    from robustness.errors import UserError
    from robustness.models.source import resolve_source

    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"not read")
    with pytest.raises(UserError, match=r"has no config\.json"):
        resolve_source(str(folder))
    (folder / "config.json").write_text('{"model_type": "llama",')
    with pytest.raises(UserError, match=r"config.json is not JSON"):
        resolve_source(str(folder))
    (folder / "config.json").write_text("[1, 2]")
    with pytest.raises(UserError, match=r"config\.json is not a JSON object"):
        resolve_source(str(folder))
    (folder / "config.json").write_text('{"model_type": "llama"}')
    with pytest.raises(UserError, match=r"holds no tokenizer \(one of tokenizer.json"):
        resolve_source(str(folder))

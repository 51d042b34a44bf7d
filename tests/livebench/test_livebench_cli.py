"""`m3r livebench` as a user runs it: scoring without a model, errors that say where questions come from,
and (slow) generation with the default model."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

M3R = shutil.which("m3r", path=str(Path(sys.executable).parent)) or "m3r"
FIXTURES = Path(__file__).parents[1] / "fixtures" / "livebench"


def m3r(*args: str, env: dict[str, str] | None = None, drop: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", **(env or {})}
    for name in drop:
        full_env.pop(name, None)
    return subprocess.run([M3R, *args], capture_output=True, text=True, env=full_env, timeout=600)


def test_help_lists_the_verbs() -> None:
    result = m3r("livebench", "--help")
    assert result.returncode == 0
    for verb in ("generate", "score", "download"):
        assert verb in result.stdout


def test_score_json_on_the_fixture_answers() -> None:
    result = m3r(
        "livebench", "score", "--questions", str(FIXTURES), "--answers", str(FIXTURES / "answers.jsonl"), "--json"
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert {(s["question_id"], s["task"], s["score"]) for s in report["per_question"]} == {
        ("fx-lcb-stdin-sum", "LCB_generation", 1.0),
        ("fx-lcb-functional-maxpair", "LCB_generation", 0.0),  # max + min is not the largest pair
        ("fx-completion-counteven", "coding_completion", 1.0),  # body only: the partial solution is prepended
        ("fx-typos-merge", "typos", 1.0),
        ("fx-typos-attack", "typos", 0.0),  # one typo left
    }
    assert report["per_task"] == {
        "LCB_generation": {"mean": 0.5, "n": 2},
        "coding_completion": {"mean": 1.0, "n": 1},
        "typos": {"mean": 0.5, "n": 2},
    }
    assert report["overall"] == pytest.approx(3 / 5)
    assert report["mean_of_tasks"] == pytest.approx(2 / 3)
    assert (report["missing_answers"], report["unknown_answers"]) == (0, 0)


def test_score_one_task_with_a_release(tmp_path: Path) -> None:
    result = m3r(
        "livebench",
        "score",
        "--questions",
        str(FIXTURES),
        "--answers",
        str(FIXTURES / "answers.jsonl"),
        "--task",
        "typos",
        "--release-date",
        "2024-07-01",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [s["question_id"] for s in report["per_question"]] == ["fx-typos-merge"]
    assert report["unknown_answers"] == 4


def test_no_questions_exits_non_zero_and_says_where_to_get_them(tmp_path: Path) -> None:
    answers = tmp_path / "answers.jsonl"
    answers.write_text('{"question_id": "x", "answer": "y"}\n')
    empty = tmp_path / "empty"
    empty.mkdir()
    result = m3r("livebench", "score", "--questions", str(empty), "--answers", str(answers))
    assert result.returncode == 2
    assert "m3r livebench download --out DIR" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    # No folder named and no data root: the Hub is tried, and offline that fails with the same advice.
    result = m3r("livebench", "score", "--task", "typos", "--answers", str(answers), drop=("M3R_DATA_DIR",))
    assert result.returncode == 2
    assert "m3r livebench download --out DIR" in result.stderr


@pytest.mark.parametrize("value", ["2024-13-45", "2024-02-30", "24-06-24", "20240624", "2024-6-1", "soon"])
def test_an_invalid_release_date_is_an_error(capsys: pytest.CaptureFixture[str], value: str) -> None:
    """An impossible date used to change the question set without a word (it was compared as text)."""
    from robustness.cli import main

    args = ["livebench", "score", "--questions", str(FIXTURES), "--answers", str(FIXTURES / "answers.jsonl")]
    with pytest.raises(SystemExit) as exit_:
        main([*args, "--release-date", value])
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert exit_.value.code == 2 and captured.out == "" and len(lines) == 1
    assert (
        f"argument --release-date: must be a real date written YYYY-MM-DD (e.g. 2024-06-24), got {value!r}" in lines[0]
    )


def test_an_answers_file_with_one_question_twice_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from robustness.cli import main

    lines = (FIXTURES / "answers.jsonl").read_text().splitlines()
    twice = json.loads(lines[0]) | {"answer": "a second answer"}
    answers = tmp_path / "answers.jsonl"
    answers.write_text("\n".join([*lines, json.dumps(twice)]) + "\n")
    code = main(["livebench", "score", "--questions", str(FIXTURES), "--answers", str(answers), "--json"])
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert code == 2 and captured.out == "" and len(err) == 1
    qid = json.loads(lines[0])["question_id"]
    assert f"{answers}: question id {qid!r} has two answers, on lines 1 and {len(lines) + 1}" in err[0]
    assert "keep one line per question id" in err[0]


@pytest.mark.slow
def test_generate_with_the_default_model_then_score(tmp_path: Path, base_model_dir: Path) -> None:
    out = tmp_path / "answers.jsonl"
    args = ("livebench", "generate", "--model", str(base_model_dir), "--questions", str(FIXTURES))
    args += ("--task", "typos", "--max-new-tokens", "24", "--out", str(out))
    first = m3r(*args)
    assert first.returncode == 0, first.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["question_id"] for r in lines) == ["fx-typos-attack", "fx-typos-merge"]
    assert all(isinstance(r["answer"], str) and r["answer"] for r in lines)
    again = m3r(*args)
    assert again.returncode == 0 and "0 answers written" in again.stdout
    scored = m3r("livebench", "score", "--questions", str(FIXTURES), "--answers", str(out), "--json")
    assert scored.returncode == 0, scored.stderr
    assert len(json.loads(scored.stdout)["per_question"]) == 2

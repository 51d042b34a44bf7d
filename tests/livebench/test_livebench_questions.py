"""Loading LiveBench questions: layouts, the Hub schema with encoded test cases, releases, seeded subsets,
answers files that survive a kill, resumable generation, and the download command's output layout."""

from __future__ import annotations

import base64
import json
import pickle
import zlib
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from robustness.errors import UserError
from robustness.livebench import questions as lq
from robustness.livebench.answers import append_answers, read_answers
from robustness.livebench.generate import generate_answers
from robustness.livebench.questions import (
    decode_test_cases,
    func_name,
    load_local,
    load_questions,
    question_from_row,
    subset,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "livebench"


def test_fixture_layout_loads_every_category() -> None:
    questions = load_local(FIXTURES)
    assert sorted((q.category, q.task) for q in questions) == [
        ("coding", "LCB_generation"),
        ("coding", "LCB_generation"),
        ("coding", "coding_completion"),
        ("language", "typos"),
        ("language", "typos"),
    ]
    # A category folder and a task folder load too.
    assert len(load_local(FIXTURES / "coding")) == 3
    assert [q.task for q in load_local(FIXTURES / "language" / "typos")] == ["typos", "typos"]


def test_hub_schema_fields_are_kept() -> None:
    by_id = {q.question_id: q for q in load_local(FIXTURES)}
    functional = by_id["fx-lcb-functional-maxpair"]
    assert func_name(functional) == "maxPairSum"
    assert func_name(by_id["fx-lcb-stdin-sum"]) is None
    assert functional.prompt.startswith("### Question:")
    assert by_id["fx-typos-merge"].raw["ground_truth"].startswith("We merge")
    assert by_id["fx-lcb-stdin-sum"].release_date == "2024-08-31"


def test_private_test_cases_decode_from_base64_zlib_pickle() -> None:
    cases = [{"input": "1\n", "output": "2\n", "testtype": "stdin"}]
    encoded = base64.b64encode(zlib.compress(pickle.dumps(json.dumps(cases)))).decode()
    assert decode_test_cases(encoded) == cases
    assert decode_test_cases(json.dumps(cases)) == cases
    assert decode_test_cases("") == []


def test_pickled_test_cases_cannot_run_code() -> None:
    class Exploit:
        def __reduce__(self) -> tuple[Any, ...]:
            return (print, ("pwned",))

    hostile = base64.b64encode(zlib.compress(pickle.dumps(Exploit()))).decode()
    with pytest.raises(pickle.UnpicklingError):
        decode_test_cases(hostile)


def test_release_filter_follows_livebench() -> None:
    rows = [
        {"question_id": "old", "turns": ["t"], "task": "typos", "livebench_release_date": "2024-06-24",
         "livebench_removal_date": "2024-11-25"},
        {"question_id": "new", "turns": ["t"], "task": "typos", "livebench_release_date": "2024-11-25",
         "livebench_removal_date": ""},
        {"question_id": "ts", "turns": ["t"], "task": "typos", "livebench_release_date": datetime(2024, 6, 24),
         "livebench_removal_date": None},
    ]  # fmt: skip
    old, new, ts = (question_from_row(r) for r in rows)
    assert ts.release_date == "2024-06-24" and ts.removal_date == ""
    assert [q.question_id for q in (old, new, ts) if q.live_at("2024-06-24")] == ["old", "ts"]
    assert [q.question_id for q in (old, new, ts) if q.live_at("2024-11-25")] == ["new", "ts"]


def test_shared_instruction_following_releases(data_dir: Path) -> None:
    root = data_dir / "livebench"
    assert len(load_questions(root, ["summarize"])) == 100
    assert len(load_questions(root, ["summarize"], release="2024-11-25")) == 50
    assert len(load_questions(root, ["summarize", "simplify"], release="2024-06-24")) == 100


def test_a_study_data_dir_is_the_data_root_for_questions(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A study's data_dir (or --data-dir) is where its LiveBench questions are looked for, as its GLUE rows are."""
    monkeypatch.delenv("M3R_DATA_DIR", raising=False)
    assert lq.resolve_questions_dir(None, data_dir) == data_dir.resolve() / "livebench"
    assert lq.resolve_questions_dir(None, tmp_path) is None  # no livebench/ there: the Hub
    assert lq.resolve_questions_dir(tmp_path / "q", data_dir) == tmp_path / "q"  # the explicit folder wins
    assert len(load_questions(None, ["summarize"], data_dir=data_dir)) == 100


def test_seeded_subset_is_per_task_and_order_free() -> None:
    rows = [{"question_id": f"{task}-{i:02d}", "turns": ["t"], "task": task} for task in ("a", "b") for i in range(20)]
    questions = [question_from_row(r) for r in rows]
    first = subset(questions, 3, seed=7)
    assert [q.task for q in first] == ["a"] * 3 + ["b"] * 3
    assert [q.question_id for q in subset(list(reversed(questions)), 3, seed=7)] == [q.question_id for q in first]
    assert [q.question_id for q in subset(questions, 3, seed=8)] != [q.question_id for q in first]
    assert len(subset(questions, 50, seed=0)) == 40


def test_no_questions_says_where_to_get_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("M3R_DATA_DIR", raising=False)
    with pytest.raises(UserError, match="m3r livebench download --out DIR"):
        load_questions(tmp_path, ["typos"])
    with pytest.raises(UserError, match="does not exist"):
        load_questions(tmp_path / "missing", ["typos"])

    def offline(*args: object, **kwargs: object) -> None:
        raise ConnectionError("offline")

    import datasets

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(UserError, match=r"livebench/language.*m3r livebench download"):
        load_questions(None, ["typos"])
    with pytest.raises(UserError, match="unknown LiveBench task"):
        load_questions(FIXTURES, ["connections"])


def test_answers_file_survives_a_killed_run(tmp_path: Path) -> None:
    path = tmp_path / "answers.jsonl"
    append_answers(path, [{"question_id": "a", "answer": "one"}])
    with path.open("a") as fh:
        fh.write('{"question_id": "b", "ans')  # cut off mid-line
    assert read_answers(path) == {"a": "one"}
    append_answers(path, [{"question_id": "b", "answer": "two"}])
    assert read_answers(path) == {"a": "one", "b": "two"}
    path.write_text('{"question_id": "a"}\n{"question_id": "b", "answer": "x"}\n')
    with pytest.raises(UserError, match=":1:"):
        read_answers(path)


def test_generation_appends_as_it_goes_and_resumes(tmp_path: Path) -> None:
    questions = [question_from_row({"question_id": f"q{i}", "turns": ["x" * i], "task": "typos"}) for i in range(5)]
    out = tmp_path / "answers.jsonl"
    calls: list[list[str]] = []

    def flaky(prompts: list[str]) -> list[str]:
        calls.append(prompts)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the run is killed during the second batch
        return [f"answer to {p}" for p in prompts]

    with pytest.raises(KeyboardInterrupt):
        generate_answers(questions, flaky, out, batch_size=2)
    assert read_answers(out) == {"q0": "answer to ", "q1": "answer to x"}
    report = generate_answers(questions, lambda ps: [f"answer to {p}" for p in ps], out, batch_size=2, extra={"m": 1})
    assert (report.generated, report.skipped) == (3, 2)
    assert set(read_answers(out)) == {"q0", "q1", "q2", "q3", "q4"}
    assert json.loads(out.read_text().splitlines()[-1]) == {
        "question_id": "q4",
        "task": "typos",
        "answer": "answer to xxxx",
        "m": 1,
    }


def test_download_writes_livebench_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hub = {
        "livebench/language": [
            {"question_id": "t1", "category": "language", "task": "typos", "turns": ["fix"], "ground_truth": "x",
             "livebench_release_date": datetime(2024, 6, 24), "livebench_removal_date": ""},
            {"question_id": "c1", "category": "language", "task": "connections", "turns": ["group"],
             "ground_truth": "y", "livebench_release_date": datetime(2024, 6, 24), "livebench_removal_date": ""},
        ]
    }  # fmt: skip
    import datasets

    monkeypatch.setattr(datasets, "load_dataset", lambda name, split: hub[name])
    from robustness.livebench.download import download_questions

    counts = download_questions(tmp_path, ["language"])
    assert counts == {"language/typos": 1, "language/connections": 1}
    loaded = load_questions(tmp_path, ["typos"])
    assert [(q.question_id, q.release_date, q.raw["ground_truth"]) for q in loaded] == [("t1", "2024-06-24", "x")]
    # The Hub loader reads the same rows.
    assert [q.question_id for q in lq.load_hub(["language"])] == ["t1", "c1"]

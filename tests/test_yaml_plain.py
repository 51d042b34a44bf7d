"""Configs are read as plain data (merges/yamlfile.py): a date-like value stays text for the schema to judge, and a
key given twice is refused with both lines; through `m3r run` (study configs) and `m3r merge` (merge configs)."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
import yaml

from merges import MergeError, load_merge_config
from merges.yamlfile import DuplicateKeyError, load_yaml
from tests.study_cli import Study, make_study, smoke


@pytest.fixture
def study(tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Study:
    return make_study(tmp_path, capsys, monkeypatch)


def test_plain_data_only() -> None:
    assert load_yaml("a: 2024-02-30\nb: 2024-06-24\nc: [1, 2.5, true, null]\n") == {
        "a": "2024-02-30", "b": "2024-06-24", "c": [1, 2.5, True, None]
    }  # fmt: skip
    assert isinstance(yaml.safe_load("b: 2024-06-24")["b"], datetime.date)  # what PyYAML alone would give
    with pytest.raises(DuplicateKeyError, match=r"the key 'eval' is given twice \(first at line 1\)"):
        load_yaml("eval: {selection_n: 4}\nname: x\neval: {report_n: 6}\n")
    assert load_yaml("base: &b {x: 1}\nother:\n  <<: *b\n  y: 2\n")["other"] == {"x": 1, "y": 2}  # merge keys work


def test_a_study_config_with_a_key_twice_is_refused_with_its_lines(study: Study) -> None:
    text = yaml.safe_dump({"output_dir": str(study.out), **smoke()}) + "eval: {selection_n: 4}\n"
    study.refused(text.encode(), "line", "the key 'eval' is given twice (first at line", "keep one of them")


def test_an_impossible_unquoted_date_is_named_by_its_key(study: Study) -> None:
    cfg = smoke()
    text = yaml.safe_dump({"output_dir": str(study.out), **cfg}).replace("seed: 0\n", "seed: 2024-02-30\n", 1)
    assert "seed: 2024-02-30" in text
    study.refused(text.encode(), "seed", "valid integer")
    cfg["livebench"] = {**cfg.get("livebench", {}), "release_date": "X"}
    dated = yaml.safe_dump({"output_dir": str(study.out), **cfg}).replace("release_date: X", "release_date: 2024-02-30")
    study.refused(dated.encode(), "livebench.release_date", "must be a real date")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "method: ties\nmethod: average\n",
            r"line 4, column 1: the key .method. is given twice .* keep one of them",
        ),
        ("method: average\nseed: 2024-02-30\n", "seed"),
    ],
)
def test_a_merge_config_with_a_key_twice_or_an_impossible_date(tmp_path: Path, text: str, message: str) -> None:
    file = tmp_path / "merge.yaml"
    file.write_text("base_model: b\nmodels: [x, y]\n" + text)
    with pytest.raises(MergeError, match=message):
        load_merge_config(file)

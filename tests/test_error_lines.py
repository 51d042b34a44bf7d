"""An error is one line of a readable size, however much the input holds: a value echoed whole keeps its beginning
and end, and a config with thousands of bad entries names the first few and counts the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from robustness.errors import LINE_LIMIT, one_line
from tests.study_cli import Study, make_study, smoke


@pytest.fixture
def study(tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Study:
    return make_study(tmp_path, capsys, monkeypatch)


def test_one_line_keeps_both_ends_of_a_flood() -> None:
    line = one_line("start\n" + "x" * 1_000_000 + "\nend")
    assert "\n" not in line and len(line) < LINE_LIMIT + 60
    assert line.startswith("start x") and line.endswith("x end") and "characters left out" in line
    assert one_line("short\nmessage") == "short message"


def test_ten_thousand_bad_seeds_give_a_short_line(study: Study) -> None:
    cfg = smoke()
    cfg["attacks"][0]["seeds"] = [-1] * 10_000
    line = study.refused(cfg, "attacks[0].seeds[0]", "and 9,992 more problem(s)")
    assert len(line) < LINE_LIMIT + 200


def test_a_value_of_a_million_characters_is_cut(study: Study) -> None:
    cfg = smoke()
    cfg["eval"] = {**cfg.get("eval", {}), "datasets": ["x" * 1_000_000]}
    line = study.refused(cfg, "eval.datasets[0]", "characters left out")
    assert len(line) < LINE_LIMIT + 200

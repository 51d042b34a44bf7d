"""A damaged or foreign result store is refused by name, never a traceback and never a report written beside it:
its stored config not JSON or not a mapping, a unit's stored result not JSON, a units table of another schema."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from robustness.cli import main
from robustness.store import Store, StoreError

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "study_report" / "results.sqlite"


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    run = tmp_path / "fixture"
    run.mkdir()
    shutil.copy(FIXTURE, run / "results.sqlite")
    return run


def damage(run: Path, sql: str) -> None:
    with sqlite3.connect(run / "results.sqlite") as conn:
        conn.execute(sql)


def refused(run: Path, capsys: pytest.CaptureFixture[str], *fragments: str) -> None:
    assert main(["report", str(run)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and all(f in err[0] for f in fragments), err
    assert not (run / "report").exists()


@pytest.mark.parametrize(("value", "what"), [("{not json", "is not JSON"), ("[1, 2]", "is a JSON list, not a mapping")])
def test_a_stored_config_that_is_not_a_mapping(run_dir: Path, capsys: pytest.CaptureFixture[str], value: str,
                                                what: str) -> None:  # fmt: skip
    damage(run_dir, f"UPDATE meta SET value = '{value}' WHERE key = 'config'")
    with pytest.raises(StoreError, match=r"meta\.config"):
        Store.open_readonly(run_dir)
    refused(run_dir, capsys, "meta.config", what, "rerun into a new run directory")


def test_a_unit_whose_result_is_not_json_is_named(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with sqlite3.connect(run_dir / "results.sqlite") as conn:
        (key,) = conn.execute("SELECT key FROM units WHERE kind = 'clean' ORDER BY key LIMIT 1").fetchone()
    damage(run_dir, f"UPDATE units SET result = 'garbage' WHERE key = '{key}'")
    refused(run_dir, capsys, f"unit {key}: its stored result is not JSON", "the store is damaged")


def test_a_units_table_of_another_schema_is_not_taken_for_an_unfinished_run(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    damage(run_dir, "ALTER TABLE units DROP COLUMN inputs")
    refused(run_dir, capsys, "is not a result store of this suite", "its units table lacks inputs")

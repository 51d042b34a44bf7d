"""The result store: round trips, resume logic, config guard, bad directories, a full disk and killed writers."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from pydantic import ValidationError

from robustness.errors import UserError
from robustness.store import (
    STORE_FILE,
    AttackRecord,
    CleanRecord,
    DuplicateUnitError,
    Store,
    StoreError,
    config_hash,
    store_path,
    unit_key,
)

CONFIG: dict[str, Any] = {"name": "tiny", "pairs": [["sst2", "cola"]], "seeds": [0, 1, 2]}


def clean_record(**overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "model_id": "ties-m3-a0.5-d0",
        "method": "ties",
        "m3": True,
        "alpha": 0.5,
        "lambdas": [0.3, 0.7],
        "draw": 0,
        "m3_convention": None,
        "pair": "sst2+cola",
        "dataset": "sst2",
        "split": "report",
        "prompt": "p0",
        "mode": "score",
        "metric_name": "accuracy",
        "metric": 0.75,
        "accuracy": 0.75,
        "n": 4,
        "indices": [3, 5, 8, 13],
        "labels": [0, 1, 1, 0],
        "predictions": [0, 1, 1, 1],
    }
    return record | overrides


def attack_record(seed: int = 0, **overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "model_id": "ta",
        "method": "task_arithmetic",
        "m3": False,
        "m3_convention": None,
        "pair": "sst2+cola",
        "dataset": "cola",
        "prompt": "p0",
        "attack": "bertattack",
        "search": "paper",
        "seed": seed,
        "metric_name": "mcc",
        "clean_metric": 0.5,
        "attacked_metric": 0.2,
        "pdr": 0.6,
        "attacked_prompt": "Is this sentense acceptable? {content}",
        "queries": 17,
        "indices": [1, 2, 3, 4],
        "labels": [0, 1, 0, 1],
        "clean_predictions": [0, 1, 1, 1],
        "attacked_predictions": [1, 1, -1, 0],
        "generator": "causal-lm-fallback:smollm2",
        "similarity_encoder": "all-MiniLM-L6-v2",
    }
    return record | overrides


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.create_or_resume(tmp_path / "run", CONFIG)
    yield s
    s.close()


def test_put_get_round_trip_and_indexed_columns(store: Store) -> None:
    store.put("clean/a", "clean", {"model": "a", "dataset": "sst2"}, clean_record(), started_at="2024-01-01T00:00:00")
    store.put("attack/b", "attack", {"seed": 2}, AttackRecord(**attack_record(seed=2)))

    unit = store.get("clean/a")
    assert unit is not None and unit.status == "done" and unit.kind == "clean"
    assert unit.inputs == {"model": "a", "dataset": "sst2"}
    assert unit.started_at == "2024-01-01T00:00:00"
    assert unit.result == CleanRecord(**clean_record())
    assert store.get("missing") is None

    # The table is readable with plain pandas, and the indexed columns hold the record's values.
    columns = "key, kind, model_id, method, m3, dataset, split, attack, seed"
    with sqlite3.connect(store.path) as conn:
        raw = pd.read_sql(f"SELECT {columns} FROM units ORDER BY key", conn)
        cursor = conn.execute(f"SELECT {columns} FROM units")
        names = [d[0] for d in cursor.description]
        rows = {row[0]: dict(zip(names[1:], row[1:], strict=True)) for row in cursor.fetchall()}
    assert list(raw["key"]) == ["attack/b", "clean/a"]
    assert rows["clean/a"] == {
        "kind": "clean",
        "model_id": "ties-m3-a0.5-d0",
        "method": "ties",
        "m3": 1,
        "dataset": "sst2",
        "split": "report",
        "attack": None,
        "seed": None,
    }
    assert rows["attack/b"]["attack"] == "bertattack" and rows["attack/b"]["seed"] == 2


def test_frame_has_one_row_per_unit_with_record_fields(store: Store) -> None:
    for seed in (2, 0, 1):
        store.put(f"attack/s{seed}", "attack", {"seed": seed}, attack_record(seed=seed, attacked_metric=seed / 10))
    frame = store.frame("attack")
    assert list(frame["key"]) == ["attack/s0", "attack/s1", "attack/s2"]  # sorted by key, not insertion order
    assert list(frame["attacked_metric"]) == [0.0, 0.1, 0.2]
    assert frame.loc[0, "attacked_predictions"] == [1, 1, -1, 0]
    assert frame.loc[0, "inputs"] == {"seed": 0}
    assert "similarity_encoder" in frame.columns
    empty = store.frame("livebench")
    assert len(empty) == 0 and {"key", "task", "per_question", "mean"} <= set(empty.columns)


def test_resume_keeps_done_units_and_retries_failed_ones(tmp_path: Path) -> None:
    run = tmp_path / "run"
    with Store.create_or_resume(run, CONFIG) as s:
        s.put("u1", "clean", {}, clean_record())
        s.put_failure("u2", "attack", {"seed": 0}, "CUDA out of memory")
        assert s.done_keys() == {"u1"}
    # Same config, written with another key order: same hash, so the run resumes.
    with Store.create_or_resume(run, dict(reversed(list(CONFIG.items())))) as s:
        assert s.done_keys() == {"u1"}
        assert s.done_keys("attack") == set()
        failed = s.get("u2")
        assert failed is not None and failed.status == "failed" and failed.result == {"error": "CUDA out of memory"}
        assert list(s.frame("attack", status="failed")["error"]) == ["CUDA out of memory"]
        s.put("u2", "attack", {"seed": 0}, attack_record())  # a retried unit replaces its failure
        assert s.done_keys() == {"u1", "u2"} and s.done_keys("attack") == {"u2"}
        with pytest.raises(DuplicateUnitError, match="u1 is already stored"):
            s.put("u1", "clean", {}, clean_record(metric=0.1))
        unit = s.get("u1")
        assert unit is not None and isinstance(unit.result, CleanRecord) and unit.result.metric == 0.75
        assert s.config() == CONFIG
        assert s.meta()["config_hash"] == config_hash(CONFIG)


def test_a_changed_config_is_taken_keeps_units_and_adds_to_the_history(tmp_path: Path) -> None:
    run = tmp_path / "run"
    with Store.create_or_resume(run, CONFIG) as s:
        assert s.previous_hash is None
        s.put("u1", "clean", {}, clean_record())
        s.set_plan(["u1", "u2"])
        assert s.planned_keys() == {"u1", "u2"}
        first = s.history()
    assert [e.config_hash for e in first] == [config_hash(CONFIG)] and first[0].config == CONFIG
    changed = CONFIG | {"seeds": [0]}
    with Store.create_or_resume(run, changed) as s:
        assert s.previous_hash == config_hash(CONFIG)
        assert s.config() == changed and s.meta()["config_hash"] == config_hash(changed)
        assert s.done_keys() == {"u1"}  # kept: the runner reuses it if the new config plans its key
        assert s.planned_keys() == set()  # the old config's plan does not carry over
        s.set_plan(["u1", "u3"])
        history = s.history()
    assert [e.config_hash for e in history] == [config_hash(CONFIG), config_hash(changed)]
    assert [e.seq for e in history] == [1, 2] and history[0].first_run_at <= history[1].first_run_at
    with Store.create_or_resume(run, changed) as s:  # the same config again: no new entry, the plan stays
        assert s.previous_hash is None
        assert s.planned_keys() == {"u1", "u3"}
        again = s.history()
    assert len(again) == 2 and again[1].last_run_at >= history[1].last_run_at
    with Store.open_readonly(run) as s:
        assert s.planned_keys() == {"u1", "u3"} and len(s.history()) == 2


def test_a_store_without_a_recorded_plan_reports_every_unit(store: Store) -> None:
    store.put("u1", "clean", {}, clean_record())
    assert store.planned_keys() is None  # written without the runner: every stored unit is the config's


def test_another_study_name_is_refused_with_the_fix(tmp_path: Path) -> None:
    run = tmp_path / "run"
    Store.create_or_resume(run, CONFIG).close()
    with pytest.raises(StoreError) as err:
        Store.create_or_resume(run, CONFIG | {"name": "other"})
    message = str(err.value)
    assert message == (
        f"run directory {run} holds study 'tiny', not 'other'; set name: tiny in the config to continue that "
        "study, or use another output_dir for a new one"
    )
    assert isinstance(err.value, UserError)  # the command line prints it as one line, exit code 2
    # The runner asks first, before it builds or loads any model; the check writes nothing.
    with pytest.raises(StoreError, match="holds study 'tiny', not 'other'"):
        Store.check_resumable(run, CONFIG | {"name": "other"})
    Store.check_resumable(run, CONFIG | {"seeds": [0]})  # a changed config of the same study is fine
    Store.check_resumable(tmp_path / "new", CONFIG)  # no store yet: nothing to check
    assert not (tmp_path / "new").exists()
    with Store.open_readonly(run) as s:
        assert s.config() == CONFIG and len(s.history()) == 1  # nothing changed


def schema_one_store(run: Path) -> None:
    """A store as the suite wrote it before config histories and plans (schema 1)."""
    with Store.create_or_resume(run, CONFIG) as s:
        s.put("u1", "clean", {}, clean_record())
    with sqlite3.connect(store_path(run)) as conn:
        conn.execute("DROP TABLE configs")
        conn.execute("DROP TABLE plan")
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")


def test_a_schema_one_store_is_read_and_upgraded(tmp_path: Path) -> None:
    run = tmp_path / "run"
    schema_one_store(run)
    with Store.open_readonly(run) as s:
        assert s.planned_keys() is None and s.done_keys() == {"u1"}
        assert [e.config_hash for e in s.history()] == [config_hash(CONFIG)]
    changed = CONFIG | {"seeds": [0]}
    with Store.create_or_resume(run, changed) as s:
        assert s.meta()["schema_version"] == "2"
        assert [e.config_hash for e in s.history()] == [config_hash(CONFIG), config_hash(changed)]
        assert s.previous_hash == config_hash(CONFIG) and s.done_keys() == {"u1"}


def test_invalid_records_are_refused_and_nothing_is_stored(store: Store) -> None:
    with pytest.raises(ValidationError):
        store.put("x", "clean", {}, clean_record(metric=float("nan")))
    with pytest.raises(ValidationError):
        store.put("x", "clean", {}, clean_record(unknown_field=1))
    with pytest.raises(ValidationError):
        store.put("x", "attack", {}, attack_record(attack="textfooler"))
    with pytest.raises(ValueError, match="not a attack record"):
        store.put("x", "attack", {}, CleanRecord(**clean_record()))
    with pytest.raises(ValueError, match="unknown unit kind"):
        store.put("x", "eval", {}, clean_record())
    with pytest.raises(ValueError, match="finite JSON"):
        store.put("x", "clean", {"p": float("inf")}, clean_record())
    assert store.done_keys() == set()
    assert store.integrity_check() == "ok"


def test_unit_keys_are_deterministic() -> None:
    a = unit_key("attack", {"model": "ties", "seed": 1, "attack": "stresstest"}, label="ties/stresstest/1")
    b = unit_key("attack", {"attack": "stresstest", "seed": 1, "model": "ties"}, label="ties/stresstest/1")
    assert a == b and a.startswith("attack/ties/stresstest/1/")
    assert unit_key("attack", {"seed": 1}) != unit_key("attack", {"seed": 2})
    assert unit_key("attack", {"seed": 1}) != unit_key("clean", {"seed": 1})


def test_bad_run_directories_fail_clearly(tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("not a folder")
    with pytest.raises(StoreError, match="exists but is not a folder"):
        Store.create_or_resume(a_file, CONFIG)
    with pytest.raises(StoreError, match="does not exist"):
        Store.open_readonly(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(StoreError, match=f"not a run directory: it holds no {STORE_FILE}"):
        Store.open_readonly(tmp_path / "empty")
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / STORE_FILE).write_bytes(b"this is no database " * 100)
    for open_it in (lambda: Store.open_readonly(garbage), lambda: Store.create_or_resume(garbage, CONFIG)):
        with pytest.raises(StoreError, match="is not a readable result store"):
            open_it()
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    with sqlite3.connect(foreign / STORE_FILE) as conn:
        conn.execute("CREATE TABLE t (x)")
    with pytest.raises(StoreError, match="not a result store of this suite"):
        Store.open_readonly(foreign)


def test_read_only_store_refuses_writes(tmp_path: Path) -> None:
    Store.create_or_resume(tmp_path / "run", CONFIG).close()
    with Store.open_readonly(tmp_path / "run") as s, pytest.raises(StoreError, match="read-only"):
        s.put("u", "clean", {}, clean_record())


def test_full_disk_is_named_and_leaves_nothing_partial(store: Store) -> None:
    store.put("small", "clean", {}, clean_record())
    pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
    store._conn.execute(f"PRAGMA max_page_count = {pages}")  # the file may not grow: SQLite's 'disk is full'
    big = clean_record(n=20000, indices=list(range(20000)), labels=[1] * 20000, predictions=[1] * 20000)
    with pytest.raises(StoreError) as err:
        store.put("big", "clean", {}, big)
    message = str(err.value)
    assert "disk is full" in message and str(store.path) in message and "unit big" in message
    assert "nothing of it was stored" in message
    assert store.done_keys() == {"small"}
    assert store.get("big") is None
    assert store.integrity_check() == "ok"
    # Once there is room again the same store goes on.
    store._conn.execute("PRAGMA max_page_count = 1073741823")
    store.put("big", "clean", {}, big)
    assert store.done_keys() == {"small", "big"}


WRITER = textwrap.dedent(
    """
    import sys
    from robustness.store import Store

    run, config = sys.argv[1], {"name": "crash"}
    store = Store.create_or_resume(run, config)
    done = store.done_keys()
    payload = list(range(4000))
    i = 0
    while True:
        key = f"u{i:06d}"
        if key not in done:
            record = {
                "model_id": key, "method": "average", "m3": False, "pair": "sst2+cola", "dataset": "sst2",
                "split": "report", "prompt": "p0", "mode": "score", "metric_name": "accuracy", "metric": 0.5,
                "accuracy": 0.5, "n": len(payload), "indices": payload, "labels": [i % 2] * len(payload),
                "predictions": [0] * len(payload),
            }
            store.put(key, "clean", {"i": i}, record)
            print(key, flush=True)
        i += 1
    """
)


def test_killed_writers_leave_a_consistent_store(tmp_path: Path) -> None:
    run = tmp_path / "run"
    rng = random.Random(7)
    reported: set[str] = set()
    for _ in range(4):
        child = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(run)], stdout=subprocess.PIPE, text=True, env=os.environ.copy()
        )
        assert child.stdout is not None
        first = child.stdout.readline()  # the writer is in its loop
        assert first.startswith("u"), first
        time.sleep(rng.uniform(0.05, 0.4))
        child.send_signal(signal.SIGKILL)
        rest = child.stdout.read()
        child.wait()
        assert child.returncode == -signal.SIGKILL
        reported |= {first.strip(), *rest.split()}

        with Store.open_readonly(run) as s:
            assert s.integrity_check() == "ok"
            keys = sorted(s.done_keys())
            frame = s.frame("clean")
        # Every unit a writer saw committed is there; units were written in order, so the stored keys are a
        # gap-free prefix (nothing lost, nothing twice) and each row is whole.
        assert reported <= set(keys)
        assert keys == [f"u{i:06d}" for i in range(len(keys))]
        assert list(frame["key"]) == keys
        assert list(frame["model_id"]) == keys
        assert all(len(p) == 4000 for p in frame["predictions"])
        assert [inp["i"] for inp in frame["inputs"]] == list(range(len(keys)))
    assert len(reported) > 4  # the writers got somewhere between kills

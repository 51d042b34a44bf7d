"""The evaluation cache (robustness/evaluation_cache.py): a cached outcome equals a fresh one on the same inputs, any
input that can change an outcome misses it, and a study run with it stores what a run without it stores."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
import torch

from robustness.cli import main
from robustness.data.glue import load_glue
from robustness.evaluate import evaluator_for
from robustness.evaluation_cache import EvaluationCache, model_scope, usage
from robustness.models.load import LoadedModel
from robustness.models.source import ModelSource
from robustness.prompts import get_prompt
from tests.tiny import tiny_llama
from tests.tiny_study import save_family, stored_results, study, write

ROWS = [3, 1, 4, 15, 9, 2, 6]


@pytest.fixture(scope="module")
def loaded(base_tokenizer: Any) -> LoadedModel:
    model = tiny_llama(len(base_tokenizer), seed=5, hidden=32).eval()
    return LoadedModel(model, base_tokenizer, ModelSource("tiny", "tiny", "safetensors"), torch.device("cpu"),
                       torch.float32)  # fmt: skip


def _scope(dtype: str = "torch.float32") -> str:
    return model_scope({"model_id": "tiny"}, {"base": "b0"}, dtype, "cpu")


def test_a_cached_outcome_equals_a_fresh_one(loaded: LoadedModel, data_dir: Path, tmp_path: Path) -> None:
    data = load_glue("sst2", "validation", data_dir)
    prompt = get_prompt("sst2", "task_oriented:0", data_dir).text
    cache = EvaluationCache(tmp_path / "c.sqlite")
    fresh = {mode: evaluator_for(loaded, data, ROWS, mode=mode, max_new_tokens=3)(prompt)  # type: ignore[arg-type]
             for mode in ("score", "generate")}  # fmt: skip
    for mode in ("score", "generate"):
        first = evaluator_for(loaded, data, ROWS[:4], mode=mode, max_new_tokens=3, cache=cache, cache_scope=_scope())  # type: ignore[arg-type]
        assert first(prompt).predictions == fresh[mode].predictions[:4]
        assert (first.rows_run, first.rows_served) == (4, 0)
        again = evaluator_for(loaded, data, ROWS, mode=mode, max_new_tokens=3, cache=cache, cache_scope=_scope())  # type: ignore[arg-type]
        outcome = again(prompt)
        assert (again.rows_run, again.rows_served) == (3, 4)  # the first four served, the other three run
        assert outcome == fresh[mode]  # predictions, metric, accuracy and raw answers
        assert again.evaluations == 1  # an evaluation counts as before, served or not
    # Generate mode keeps raw answers: another reading rule reads the cached answers as it reads fresh ones.
    sole = evaluator_for(loaded, data, ROWS, mode="generate", max_new_tokens=3, reading="sole_label", cache=cache,
                         cache_scope=_scope())  # fmt: skip
    fresh_sole = evaluator_for(loaded, data, ROWS, mode="generate", max_new_tokens=3, reading="sole_label")(prompt)
    assert sole(prompt) == fresh_sole and sole.rows_served == len(ROWS)


@pytest.mark.parametrize(
    "change",
    [{"cache_scope": _scope("torch.bfloat16")}, {"max_new_tokens": 4}, {"prompt": "other"}, {"mode": "score"}],
    ids=["dtype", "max_new_tokens", "prompt", "mode"],
)
def test_what_can_change_an_outcome_misses_the_cache(change: dict[str, Any], loaded: LoadedModel, data_dir: Path,
                                                     tmp_path: Path) -> None:  # fmt: skip
    data = load_glue("sst2", "validation", data_dir)
    prompt = get_prompt("sst2", "task_oriented:0", data_dir).text
    cache = EvaluationCache(tmp_path / "c.sqlite")
    settings: dict[str, Any] = {"mode": "generate", "max_new_tokens": 3, "cache_scope": _scope()}
    evaluator_for(loaded, data, ROWS, cache=cache, **settings)(prompt)
    text = prompt + " Be brief." if change.pop("prompt", None) else prompt
    other = evaluator_for(loaded, data, ROWS, cache=cache, **{**settings, **change})
    other(text)
    assert (other.rows_run, other.rows_served) == (len(ROWS), 0)


@pytest.fixture(scope="module")
def family(tmp_path_factory: pytest.TempPathFactory, base_tokenizer: Any) -> dict[str, str]:
    return save_family(tmp_path_factory.mktemp("family"), base_tokenizer)


def test_a_study_stores_the_same_results_with_and_without_the_cache(
    tmp_path: Path,
    family: dict[str, str],
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    # StressTest ignores its seed: the second seed's search evaluates what the first one did, and every search
    # starts with the clean prompt on the report rows, which the clean unit scored.
    attacks = [{"attack": "stresstest", "datasets": ["sst2"], "seeds": [0, 1], "n": 3}]
    runs, logs = {}, {}
    for cache in ("on", "off"):
        monkeypatch.setenv("M3R_EVAL_CACHE", cache)
        config = study(tmp_path / cache, family, data_dir, name="cached", attacks=attacks)
        assert main(["run", write(tmp_path, config, cache)]) == 0
        captured = capfd.readouterr()
        runs[cache], logs[cache] = tmp_path / cache / "cached", captured.out + captured.err
    assert stored_results(runs["on"]) == stored_results(runs["off"])
    tables = sorted(p.name for p in (runs["off"] / "report" / "tables").iterdir())
    for name in tables:
        on, off = (runs[c] / "report" / "tables" / name for c in ("on", "off"))
        assert on.read_bytes() == off.read_bytes(), name
    found = usage(runs["on"])
    assert found is not None and found.served > 0 and found.ran > 0
    assert usage(runs["off"]) is None
    line = next(x for x in (runs["on"] / "report" / "report.md").read_text().splitlines() if "Evaluation cache" in x)
    assert f"{found.ran:,} row evaluations ran" in line and f"{found.served:,} were served" in line
    assert "Evaluation cache" not in (runs["off"] / "report" / "report.md").read_text()
    summary = f"row evaluations: {found.ran:,} ran, {found.served:,} served from the evaluation cache"
    flat = {c: " ".join(log.split()) for c, log in logs.items()}  # rich wraps the line at the terminal's width
    assert summary in flat["on"] and "row evaluations" not in flat["off"]  # m3r run's closing line
    # A rerun in the cached folder runs nothing: every unit is in the store, the cache is not even asked.
    with sqlite3.connect(runs["on"] / "evaluations" / "local.sqlite") as conn:
        before = conn.execute("SELECT COUNT(*) FROM outcomes").fetchone()[0]
    monkeypatch.setenv("M3R_EVAL_CACHE", "on")
    assert main(["run", str(tmp_path / "on.yaml")]) == 0
    assert usage(runs["on"]) == found
    with sqlite3.connect(runs["on"] / "evaluations" / "local.sqlite") as conn:
        assert conn.execute("SELECT COUNT(*) FROM outcomes").fetchone()[0] == before


def test_a_damaged_cache_file_is_named(tmp_path: Path) -> None:
    from robustness.errors import UserError

    bad = tmp_path / "evaluations" / "local.sqlite"
    bad.parent.mkdir()
    bad.write_bytes(b"not a database" * 100)
    with pytest.raises(UserError, match="delete it"):
        EvaluationCache(bad)

"""A real study small enough for runner tests: random tiny Llamas with the default model's tokenizer as base and
experts, real merges, real SST-2 rows and prompts, scored and attacked by the suite's own code (16 units)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from tests.tiny import tiny_llama


def save_family(root: Path, tokenizer: Any) -> dict[str, str]:
    """Base and two experts (sst2, cola): tiny random Llamas over `tokenizer`'s vocabulary; name -> folder."""
    folders = {}
    for name, seed in (("base", 0), ("sst2", 1), ("cola", 2)):
        model = tiny_llama(len(tokenizer), seed=seed, hidden=32)
        model.save_pretrained(root / name)
        tokenizer.save_pretrained(root / name)
        folders[name] = str(root / name)
    return folders


def study(out: Path, family: dict[str, str], data_dir: Path, **changes: Any) -> dict[str, Any]:
    """16 units: 3 reference selection scores, 3 merges, 2 candidate scores, 1 selection, 5 report scores,
    StressTest on the plain merge and the chosen candidate."""
    config: dict[str, Any] = {
        "name": "rerun",
        "output_dir": str(out),
        "data_dir": str(data_dir),
        "device": "cpu",
        "models": {"family": "explicit", "base": family["base"], "experts": {k: family[k] for k in ("sst2", "cola")}},
        "pairs": [["sst2", "cola"]],
        "methods": [{"method": "task_arithmetic", "parameters": {"scaling": 1.0}}],
        "m3": {"alphas": [0.5, 2.0], "seed": 0},
        "eval": {"datasets": ["sst2"], "selection_n": 4, "report_n": 6, "agreement_n": 2, "max_new_tokens": 2},
        "attacks": [{"attack": "stresstest", "datasets": ["sst2"], "seeds": [0], "n": 3}],
    }
    return config | changes


def write(tmp_path: Path, config: dict[str, Any], name: str) -> str:
    path = tmp_path / f"{name}.yaml"
    path.write_text(json.dumps(config))  # JSON is YAML
    return str(path)


def stored(run_dir: Path) -> dict[str, tuple[str, str, str]]:
    """Every stored unit: key -> (status, finished_at, result), read with plain SQLite."""
    with sqlite3.connect(run_dir / "results.sqlite") as conn:
        rows = conn.execute("SELECT key, status, finished_at, result FROM units").fetchall()
    return {k: (s, f, r) for k, s, f, r in rows}


def run_killed_at_first_attack(monkeypatch: Any, config_path: str) -> None:
    """`m3r run config_path` dying as its first attack unit starts (every unit before it is stored), as a killed
    run would; the worker's own `execute` (or the test's spy on it) is back in place afterwards."""
    import pytest

    from robustness.cli import main
    from robustness.experiment.execution.worker import Worker

    spied = Worker.execute

    def dies_at_the_first_attack(self: Worker, unit: Any, needed: Any = None) -> Any:
        if unit.stored_as == "attack":
            raise RuntimeError("killed")
        return spied(self, unit, needed)

    monkeypatch.setattr(Worker, "execute", dies_at_the_first_attack)
    with pytest.raises(RuntimeError, match="killed"):
        main(["run", config_path, "--no-report"])
    monkeypatch.setattr(Worker, "execute", spied)


def stored_results(run_dir: Path) -> dict[str, dict[str, Any]]:
    """Every finished unit's result with its kind, without what legitimately differs between runs (where weights
    were, how long a merge took)."""
    with sqlite3.connect(run_dir / "results.sqlite") as conn:
        rows = conn.execute("SELECT key, kind, result FROM units WHERE status = 'done'").fetchall()
    out = {}
    for key, kind, result in rows:
        record = json.loads(result)
        record.pop("path", None)
        record.get("merge_json", {}).pop("seconds", None)  # wall time of the merge
        out[key] = {"kind": kind, **record}
    return out


def stored_in_order(run_dir: Path, kind: str = "attack") -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(key, inputs, result) of every stored unit of `kind`, in the order the runner stored them."""
    with sqlite3.connect(run_dir / "results.sqlite") as conn:
        rows = conn.execute("SELECT key, inputs, result FROM units WHERE kind = ? ORDER BY rowid", (kind,)).fetchall()
    return [(k, json.loads(i), json.loads(r)) for k, i, r in rows]

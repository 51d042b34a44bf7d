"""Row outcomes a study has already computed, so that no unit of it evaluates the same input on the same model twice.

The study's units meet the same (model, input text) pairs: a clean score and an attack's first evaluation (the clean
prompt on the same rows), the attacked lambda curve and the table's attack on the same rows, StressTest under two
seeds (its search ignores the seed), a held-out measurement and a transfer replay of the clean prompt. Each worker
keeps what it evaluates in `RUN_DIR/evaluations/NAME.sqlite` (the local executor: `local`; a Ray actor: its host
and process), one row per (model, input text): the predicted label in score mode, the raw answer in generate mode
(read by the unit's rule afterwards, so the rule is not part of the key).

A key is the SHA-256 of everything that can change the outcome: the model's identity (its unit inputs' model and
checkpoints, as a unit key hashes them), its dtype and device type, the mode, generate mode's `max_new_tokens`,
and the exact text fed to the model (prompt, row, chat template). Unit keys and stored records do not depend on the
cache: a unit's record is the one a fresh evaluation gives (tests/test_evaluation_cache.py). `M3R_EVAL_CACHE=off`
turns it off.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robustness.errors import UserError

FOLDER = "evaluations"
_CHUNK = 500  # keys per lookup query (SQLite's limit on bound variables is 999 in old builds)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS outcomes (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS usage (what TEXT PRIMARY KEY, count INTEGER NOT NULL);
INSERT OR IGNORE INTO usage (what, count) VALUES ('ran', 0), ('served', 0);
"""


def enabled() -> bool:
    return os.environ.get("M3R_EVAL_CACHE", "on").strip().lower() not in ("off", "0", "false", "no")


def model_scope(model: Mapping[str, Any], checkpoints: Mapping[str, str], dtype: str, device: str) -> str:
    """The part of every key that names the model as it runs: its identity, dtype and device type."""
    data = {"model": dict(model), "checkpoints": dict(checkpoints), "dtype": dtype, "device": device}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def outcome_key(scope: str, mode: str, max_new_tokens: int, text: str) -> str:
    budget = max_new_tokens if mode == "generate" else None
    return hashlib.sha256(json.dumps([scope, mode, budget, text]).encode()).hexdigest()


class EvaluationCache:
    """One worker's cache file: look keys up, record new outcomes and how many rows were served."""

    def __init__(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(path, timeout=60)
            self._conn.executescript(_SCHEMA)
            self._conn.commit()
        except sqlite3.DatabaseError as exc:
            raise UserError(f"the evaluation cache {path} cannot be used ({exc}); delete it (the study's results do "
                            "not depend on it) and run again") from None  # fmt: skip

    def lookup(self, keys: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), _CHUNK):
            chunk = unique[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            found.update(self._conn.execute(f"SELECT key, value FROM outcomes WHERE key IN ({marks})", chunk))
        return found

    def record(self, new: Mapping[str, str], served: int) -> None:
        """Keep `new` outcomes and count `len(new)` rows run and `served` rows served, in one transaction."""
        with self._conn:
            self._conn.executemany("INSERT OR IGNORE INTO outcomes (key, value) VALUES (?, ?)", new.items())
            self._conn.execute("UPDATE usage SET count = count + ? WHERE what = 'ran'", (len(new),))
            self._conn.execute("UPDATE usage SET count = count + ? WHERE what = 'served'", (served,))


@dataclass(frozen=True)
class Usage:
    """Row evaluations a study's workers ran and served from their caches, summed over its cache files."""

    ran: int
    served: int

    @property
    def share(self) -> float:
        total = self.ran + self.served
        return self.served / total if total else 0.0


def usage(run_dir: Path) -> Usage | None:
    """What the run's caches hold, read-only; None when it has none (a run from before the cache)."""
    files = sorted((run_dir / FOLDER).glob("*.sqlite"))
    if not files:
        return None
    ran = served = 0
    for file in files:
        counts = _counts(file)
        ran, served = ran + counts.get("ran", 0), served + counts.get("served", 0)
    return Usage(ran, served)


def _counts(file: Path) -> dict[str, int]:
    """A cache file's usage counters, read-only."""
    try:
        with closing(sqlite3.connect(f"file:{file}?mode=ro", uri=True)) as conn:
            return {str(k): int(v) for k, v in conn.execute("SELECT what, count FROM usage")}
    except sqlite3.DatabaseError as exc:
        raise UserError(f"the evaluation cache {file} cannot be read ({exc}); delete it and render again") from None

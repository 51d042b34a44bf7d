"""The result store: one SQLite file per run directory (`<run dir>/results.sqlite`), written only by the driver.

Why SQLite: one file that pandas reads, transactions that survive a killed process, no server. Every finished unit
is written in one transaction (`put`), so a crash loses at most the unit in flight and a rerun skips what
`done_keys()` lists. The journal is WAL with `synchronous=FULL`: a commit is on disk before `put` returns.

A run folder may be rerun with a changed config: unit keys depend only on a unit's inputs, so every stored unit
whose key the new config still plans is reused. The store keeps the history of configs, and the keys the current
config plans (`plan`), so that reports read only the current config's units.

Tables:
- `meta(key, value)`: the current config (canonical JSON) and config_hash, suite_version, schema_version,
  created_at, and plan_hash (the config hash the `plan` table belongs to, once a plan is recorded).
- `configs`: one row per config the folder has run, in order: seq, config_hash, config, first_run_at, last_run_at.
- `plan(key)`: the unit keys the current config plans (as far as they are known: phase two once selection ran).
- `units`: one row per unit key: kind, status ('done' or 'failed'), started_at/finished_at (UTC ISO), inputs and
  result as JSON, and the indexed columns of `records.INDEXED_FIELDS` copied out of the result for filtering.
  Units of earlier configs stay here (a later config may plan them again); reports leave them out.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from robustness import __version__
from robustness.keys import canonical_json, config_hash
from robustness.paths import path_problem
from robustness.records import INDEXED_FIELDS, Record, indexed_values
from robustness.store.schema import (
    READABLE_SCHEMAS,
    SCHEMA_VERSION,
    STORE_FILE,
    UNIT_COLUMNS,
    DuplicateUnitError,
    StoreError,
    connect,
    parse_record,
    record_types,
    schema,
    statements,
    stored_json,
    stored_record,
    write_failure,
)

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class ConfigEntry:
    """One config a run folder has run: its hash, when it first and last ran (UTC ISO), the config itself."""

    seq: int
    config_hash: str
    first_run_at: str
    last_run_at: str
    config: dict[str, Any]


@dataclass(frozen=True)
class StoredUnit:
    """One row of `units`, with the result parsed into its record type (a dict with 'error' for a failure)."""

    key: str
    kind: str
    status: str
    started_at: str | None
    finished_at: str
    inputs: dict[str, Any]
    result: Record | dict[str, Any]


def now_utc() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def store_path(run_dir: str | os.PathLike[str]) -> Path:
    return Path(run_dir) / STORE_FILE


class Store:
    """A run's result store. Open it with `Store.create_or_resume` (the driver) or `Store.open_readonly` (reports)."""

    def __init__(self, path: Path, conn: sqlite3.Connection, readonly: bool) -> None:
        self.path = path
        self._conn = conn
        self.readonly = readonly
        self.previous_hash: str | None = None  # set by create_or_resume when the config changed since the last run

    # ---- opening -------------------------------------------------------------------------------------------

    @classmethod
    def create_or_resume(cls, run_dir: str | os.PathLike[str], config: Mapping[str, Any] | BaseModel) -> Store:
        """Open the store of `run_dir` for writing, creating folder and file on first use.

        A changed config (by hash) becomes the current one and is added to the config history; `previous_hash`
        then names the one before. Stored units stay: the runner reuses those whose keys the new config still
        plans, and the plan recorded so far is emptied (it was the old config's) until the runner records the
        new one, so no report mixes the two. A store of another study (a different `name`) is refused.
        """
        run = Path(run_dir)
        if run.exists() and not run.is_dir():
            raise StoreError(f"run directory {run} exists but is not a folder; pick another run directory")
        try:
            run.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create run directory {run}: {exc.strerror or exc}") from exc
        path = store_path(run)
        conn = connect(path, readonly=False)
        store = cls(path, conn, readonly=False)
        try:
            store._init_schema(config)
        except BaseException:
            conn.close()
            raise
        return store

    @classmethod
    def open_readonly(cls, run_dir: str | os.PathLike[str]) -> Store:
        """Open an existing run's store for reading only (never creates anything)."""
        run = Path(run_dir)
        problem = path_problem(run, "folder")
        if problem:
            raise StoreError(f"run directory {run} {problem}")
        path = store_path(run)
        if path.is_dir():
            raise StoreError(f"{path} is a folder, not a SQLite file; give a run directory that `m3r run` wrote")
        if not path.is_file():
            raise StoreError(f"{run} is not a run directory: it holds no {STORE_FILE} (run the experiment first)")
        conn = connect(path, readonly=True)
        store = cls(path, conn, readonly=True)
        try:
            store._check_existing()
        except BaseException:
            conn.close()
            raise
        return store

    @classmethod
    def check_resumable(cls, run_dir: str | os.PathLike[str], config: Mapping[str, Any] | BaseModel) -> None:
        """Raise the error `create_or_resume` would (another study's folder, an unreadable store) without writing,
        so a run can refuse before it loads or builds any model."""
        if not store_path(run_dir).exists():  # a folder in its place is refused by open_readonly
            return
        with cls.open_readonly(run_dir) as store:
            _check_same_study(Path(run_dir), store.config(), json.loads(canonical_json(config)))

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- meta ----------------------------------------------------------------------------------------------

    def meta(self) -> dict[str, str]:
        return dict(self._query("SELECT key, value FROM meta ORDER BY key"))

    def config(self) -> dict[str, Any]:
        return dict(json.loads(self.meta()["config"]))

    def history(self) -> list[ConfigEntry]:
        """Every config this folder has run, oldest first (a schema-1 store: its one config)."""
        if not self._has_table("configs"):
            meta = self.meta()
            created = meta.get("created_at", "")
            return [ConfigEntry(1, meta["config_hash"], created, created, json.loads(meta["config"]))]
        rows = self._query("SELECT seq, config_hash, first_run_at, last_run_at, config FROM configs ORDER BY seq")
        return [ConfigEntry(seq, h, first, last, json.loads(c)) for seq, h, first, last, c in rows]

    # ---- the current config's plan -------------------------------------------------------------------------

    def set_plan(self, keys: Iterable[str]) -> None:
        """Record the unit keys the current config plans (replacing the plan recorded before), in one transaction."""
        if self.readonly:
            raise StoreError(f"{self.path} was opened read-only")
        with self._transaction("the plan"):
            self._conn.execute("DELETE FROM plan")
            self._conn.executemany("INSERT OR IGNORE INTO plan (key) VALUES (?)", [(k,) for k in keys])
            self._set_meta("plan_hash", self.meta()["config_hash"])

    def planned_keys(self) -> set[str] | None:
        """The keys the current config plans, or None when no plan was recorded for it (a store written without
        the runner, or by a suite that had no plans): then every stored unit belongs to the current config."""
        meta = self.meta()
        if not self._has_table("plan") or meta.get("plan_hash") != meta["config_hash"]:
            return None
        return {k for (k,) in self._query("SELECT key FROM plan")}

    # ---- writing -------------------------------------------------------------------------------------------

    def put(
        self,
        key: str,
        kind: str,
        inputs: Mapping[str, Any] | BaseModel,
        result: Record | Mapping[str, Any],
        *,
        started_at: str | None = None,
    ) -> None:
        """Store a finished unit in one transaction: after a crash it is either wholly there or not at all.

        A unit earlier stored as failed is replaced; one stored as done raises `DuplicateUnitError`.
        """
        record = parse_record(kind, result)
        self._write(key, kind, "done", inputs, record.model_dump(mode="json"), indexed_values(record), started_at)

    def put_failure(
        self,
        key: str,
        kind: str,
        inputs: Mapping[str, Any] | BaseModel,
        error: str,
        *,
        started_at: str | None = None,
    ) -> None:
        """Record that a unit failed (it is not in `done_keys()`, so a rerun tries it again)."""
        if kind not in record_types():
            raise ValueError(f"unknown unit kind {kind!r}; expected one of {', '.join(record_types())}")
        self._write(key, kind, "failed", inputs, {"error": error}, {}, started_at)

    def _write(
        self,
        key: str,
        kind: str,
        status: str,
        inputs: Mapping[str, Any] | BaseModel,
        result: Mapping[str, Any],
        indexed: Mapping[str, Any],
        started_at: str | None,
    ) -> None:
        if self.readonly:
            raise StoreError(f"{self.path} was opened read-only")
        try:
            inputs_json, result_json = canonical_json(inputs), canonical_json(result)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"unit {key}: inputs and result must be finite JSON values ({exc})") from exc
        columns = ("key", "kind", "status", "started_at", "finished_at", "inputs", "result", *INDEXED_FIELDS)
        values = (key, kind, status, started_at, now_utc(), inputs_json, result_json)
        values += tuple(indexed.get(name) for name in INDEXED_FIELDS)
        sql = f"INSERT OR REPLACE INTO units ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        with self._transaction(f"unit {key}"):
            row = self._conn.execute("SELECT status FROM units WHERE key = ?", (key,)).fetchone()
            if row is not None and row[0] == "done":
                raise DuplicateUnitError(f"unit {key} is already stored in {self.path}; a rerun must skip done units")
            self._conn.execute(sql, values)

    @contextmanager
    def _transaction(self, what: str) -> Iterator[None]:
        """BEGIN IMMEDIATE ... COMMIT; on any failure roll back so nothing partial remains."""
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(write_failure(self.path, what, exc)) from exc
        try:
            yield
            self._conn.execute("COMMIT")
        except BaseException as exc:
            if self._conn.in_transaction:
                with suppress(sqlite3.Error):  # SQLite may have rolled back already (e.g. on SQLITE_FULL)
                    self._conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise StoreError(write_failure(self.path, what, exc)) from exc
            raise

    # ---- reading -------------------------------------------------------------------------------------------

    def done_keys(self, kind: str | None = None) -> set[str]:
        """Keys of finished units (of one kind, or all): the runner skips these on a rerun."""
        if kind is None:
            return {k for (k,) in self._query("SELECT key FROM units WHERE status = 'done'")}
        return {k for (k,) in self._query("SELECT key FROM units WHERE status = 'done' AND kind = ?", (kind,))}

    def get(self, key: str) -> StoredUnit | None:
        rows = self._query(
            "SELECT key, kind, status, started_at, finished_at, inputs, result FROM units WHERE key = ?", (key,)
        )
        if not rows:
            return None
        k, kind, status, started, finished, inputs, result = rows[0]
        parsed = (
            stored_record(self.path, k, kind, result)
            if status == "done"
            else stored_json(self.path, k, "result", result)
        )
        return StoredUnit(k, kind, status, started, finished, stored_json(self.path, k, "inputs", inputs), parsed)

    def timings(self) -> list[tuple[str, dict[str, Any], str | None, str]]:
        """(kind, inputs, started_at, finished_at) of every finished unit, in the order they finished: what a cost
        model calibrates on (`m3r plan --calibrate`)."""
        rows = self._query("SELECT key, kind, inputs, started_at, finished_at FROM units WHERE status = 'done' "
                           "ORDER BY finished_at")  # fmt: skip
        return [(kind, stored_json(self.path, key, "inputs", inputs), started, finished)
                for key, kind, inputs, started, finished in rows]  # fmt: skip

    def records(self, kind: str) -> list[tuple[str, Record]]:
        """(key, record) of every finished unit of `kind`, sorted by key."""
        rows = self._query("SELECT key, result FROM units WHERE kind = ? AND status = 'done' ORDER BY key", (kind,))
        return [(k, stored_record(self.path, k, kind, r)) for k, r in rows]

    def frame(self, kind: str, status: str = "done") -> pd.DataFrame:
        """One row per unit of `kind`, sorted by key: key, status, timestamps, inputs, then the record's fields."""
        import pandas as pd

        if kind not in record_types():
            raise ValueError(f"unknown unit kind {kind!r}; expected one of {', '.join(record_types())}")
        rows = self._query(
            "SELECT key, status, started_at, finished_at, inputs, result FROM units "
            "WHERE kind = ? AND status = ? ORDER BY key",
            (kind, status),
        )
        head = ["key", "status", "started_at", "finished_at", "inputs"]
        fields = list(record_types()[kind].model_fields) if status == "done" else ["error"]
        data = [
            {
                **dict(zip(head, (k, s, st, fi, stored_json(self.path, k, "inputs", i)), strict=True)),
                **stored_json(self.path, k, "result", r),
            }
            for k, s, st, fi, i, r in rows
        ]
        return pd.DataFrame(data, columns=[*head, *fields])

    def integrity_check(self) -> str:
        """SQLite's own consistency check: 'ok' when the file is sound."""
        return str(self._query("PRAGMA integrity_check")[0][0])

    # ---- internals -----------------------------------------------------------------------------------------

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read {self.path}: {exc}") from exc

    def _has_table(self, name: str) -> bool:
        return bool(self._query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)))

    def _init_schema(self, config: Mapping[str, Any] | BaseModel) -> None:
        new_hash, new_json, now = config_hash(config), canonical_json(config), now_utc()
        with self._transaction("the store's tables"):
            # One statement at a time: executescript() would commit on its own, outside this transaction.
            for statement in statements(schema()):
                self._conn.execute(statement)
            meta = dict(self._conn.execute("SELECT key, value FROM meta").fetchall())
            if not meta:
                units = self._conn.execute("SELECT COUNT(*) FROM units").fetchone()[0]
                if units:
                    raise StoreError(f"{self.path} holds units but no meta table entries: not a store of this suite")
                for k, v in {
                    "config": new_json,
                    "config_hash": new_hash,
                    "suite_version": __version__,
                    "schema_version": SCHEMA_VERSION,
                    "created_at": now,
                }.items():
                    self._conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (k, v))
                self._add_history(new_hash, new_json, now)
                return
            self._check_meta(meta)
            _check_same_study(self.path.parent, json.loads(meta["config"]), json.loads(new_json))
            if meta["schema_version"] != SCHEMA_VERSION:  # schema 1: the one config it ran starts the history
                self._add_history(meta["config_hash"], meta["config"], meta.get("created_at", now))
                self._set_meta("schema_version", SCHEMA_VERSION)
            if meta["config_hash"] == new_hash:
                self._conn.execute("UPDATE configs SET last_run_at = ? WHERE seq = (SELECT MAX(seq) FROM configs)",
                                   (now,))  # fmt: skip
                return
            self._add_history(new_hash, new_json, now)
            self._set_meta("config", new_json)
            self._set_meta("config_hash", new_hash)
            self._set_meta("plan_hash", new_hash)
            self._conn.execute("DELETE FROM plan")
        self.previous_hash = meta["config_hash"]

    def _add_history(self, digest: str, config: str, when: str) -> None:
        self._conn.execute(
            "INSERT INTO configs (config_hash, config, first_run_at, last_run_at) VALUES (?, ?, ?, ?)",
            (digest, config, when, when),
        )

    def _set_meta(self, key: str, value: str) -> None:
        self._conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def _check_existing(self) -> None:
        tables = {t for (t,) in self._query("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not {"meta", "units"} <= tables:
            raise StoreError(f"{self.path} is not a result store of this suite (no meta/units tables)")
        columns = {name for _, name, *_ in self._query("PRAGMA table_info(units)")}
        missing = sorted(set(UNIT_COLUMNS) - columns)
        if missing:
            raise StoreError(f"{self.path} is not a result store of this suite: its units table lacks "
                             f"{', '.join(missing)}; give a run directory that `m3r run` wrote")  # fmt: skip
        self._check_meta(self.meta())

    def _check_meta(self, meta: Mapping[str, str]) -> None:
        missing = {"config", "config_hash", "schema_version"} - set(meta)
        if missing:
            raise StoreError(
                f"{self.path} is not a result store of this suite (meta lacks {', '.join(sorted(missing))})"
            )
        try:
            config = json.loads(meta["config"])
        except json.JSONDecodeError as exc:
            raise StoreError(f"{self.path}: its stored config (meta.config) is not JSON ({exc}); the store is damaged: "
                             "rerun into a new run directory") from None  # fmt: skip
        if not isinstance(config, dict):
            raise StoreError(f"{self.path}: its stored config (meta.config) is a JSON {type(config).__name__}, not a "
                             "mapping; the store is damaged: rerun into a new run directory")  # fmt: skip
        if meta["schema_version"] not in READABLE_SCHEMAS:
            raise StoreError(
                f"{self.path} has store schema {meta['schema_version']}, this suite reads "
                f"{' and '.join(READABLE_SCHEMAS)}; render it with the suite version that wrote it, or rerun into "
                "a new run directory"
            )


def _check_same_study(run: Path, stored: Mapping[str, Any], new: Mapping[str, Any]) -> None:
    """A run folder holds one study: a config with another `name` was meant for another folder."""
    old_name, new_name = stored.get("name"), new.get("name")
    if old_name is not None and new_name is not None and old_name != new_name:
        raise StoreError(
            f"run directory {run} holds study {old_name!r}, not {new_name!r}; set name: {old_name} in the config "
            "to continue that study, or use another output_dir for a new one"
        )

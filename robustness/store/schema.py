"""The store's file: its tables (the schema, versioned), and opening a SQLite connection to it the way the store
writes (explicit transactions, WAL journal, commits synced before they return). `Store` (store/sqlite.py) uses
these."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from robustness.errors import UserError
from robustness.experiment.kinds.registry import stored_kinds
from robustness.records import INDEXED_FIELDS, Record

STORE_FILE = "results.sqlite"
SCHEMA_VERSION = "2"
READABLE_SCHEMAS = ("1", "2")  # schema 1: no config history and no plan (one config per run folder)

UNIT_COLUMNS = ("key", "kind", "status", "started_at", "finished_at", "inputs", "result", *INDEXED_FIELDS)
_INDEXED_DDL = ",\n    ".join(f"{name} {'INTEGER' if name in ('m3', 'seed') else 'TEXT'}" for name in INDEXED_FIELDS)
SCHEMA_TEMPLATE = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS units (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ({kinds})),
    status TEXT NOT NULL CHECK (status IN ('done', 'failed')),
    started_at TEXT,
    finished_at TEXT NOT NULL,
    inputs TEXT NOT NULL,
    result TEXT NOT NULL,
    {indexed}
);
CREATE TABLE IF NOT EXISTS configs (
    seq INTEGER PRIMARY KEY,
    config_hash TEXT NOT NULL,
    config TEXT NOT NULL,
    first_run_at TEXT NOT NULL,
    last_run_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS plan (
    key TEXT PRIMARY KEY
);
CREATE INDEX IF NOT EXISTS units_kind_status ON units (kind, status);
CREATE INDEX IF NOT EXISTS units_model ON units (model_id);
CREATE INDEX IF NOT EXISTS units_cell ON units (pair, method, m3, dataset, attack, seed);
"""


def record_types() -> dict[str, type[Record]]:
    """The store's kinds and each one's record type, in the order the store lists them: the registered unit kinds'
    (experiment/kinds/; a replay's records are filed with the attacks')."""
    return stored_kinds()


def parse_record(kind: str, data: Any) -> Record:
    """Validate `data` (a record or a mapping) as the record type of `kind`."""
    types = record_types()
    if kind not in types:
        raise ValueError(f"unknown unit kind {kind!r}; expected one of {', '.join(types)}")
    model = types[kind]
    if isinstance(data, model):
        return data
    if isinstance(data, Record):
        raise ValueError(f"a {type(data).__name__} is not a {kind} record ({model.__name__})")
    return model.model_validate(data)


def schema() -> str:
    """The store's tables; a new store's units accept the kinds registered when it is created."""
    kinds = ", ".join(f"'{k}'" for k in record_types())
    return SCHEMA_TEMPLATE.format(kinds=kinds, indexed=_INDEXED_DDL)


class StoreError(UserError):
    """The store cannot be opened or written; the message names the file and what to do."""


class DuplicateUnitError(StoreError):
    """A unit that is already stored as done was written again (the runner should have skipped it)."""


def statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def connect(path: Path, readonly: bool) -> sqlite3.Connection:
    """Autocommit connection (transactions are explicit), WAL journal, commits synced before returning."""
    try:
        conn = sqlite3.connect(path, timeout=30.0, isolation_level=None)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open {path}: {exc}") from exc
    try:
        conn.execute("PRAGMA busy_timeout = 30000")
        if readonly:
            conn.execute("PRAGMA query_only = ON")
            conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()  # fails here if it is not a database
        else:
            conn.execute("PRAGMA journal_mode = WAL").fetchone()
            conn.execute("PRAGMA synchronous = FULL")
    except sqlite3.DatabaseError as exc:
        conn.close()
        if getattr(exc, "sqlite_errorname", "") in ("SQLITE_NOTADB", "SQLITE_CORRUPT"):
            raise StoreError(
                f"{path} is not a readable result store ({exc}); move it away or use another run directory"
            ) from exc
        raise StoreError(f"cannot open {path}{'' if readonly else ' for writing'}: {exc}") from exc
    return conn


def write_failure(path: Path, what: str, exc: sqlite3.Error) -> str:
    """One line for a failed write; a full disk is named as such, since SQLite's wording is easy to misread."""
    name = getattr(exc, "sqlite_errorname", "")
    cause = "the disk is full" if name == "SQLITE_FULL" or "full" in str(exc) else str(exc)
    return (
        f"could not write {what} to {path}: {cause} (SQLite: {exc}); nothing of it was stored and earlier units "
        "are intact; fix the cause and rerun to continue where it stopped"
    )


def stored_json(path: Path, key: str, column: str, text: str) -> dict[str, Any]:
    """A unit's stored JSON object, or `StoreError` naming the unit: a damaged store, not a crash."""
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, TypeError) as exc:
        raise StoreError(
            f"{path}: unit {key}: its stored {column} is not JSON ({exc}); the store is damaged: delete that unit's "
            "row (it runs again) or rerun into a new run directory"
        ) from None
    if not isinstance(value, dict):
        raise StoreError(
            f"{path}: unit {key}: its stored {column} is a JSON {type(value).__name__}, not an object; the store is "
            "damaged: delete that unit's row (it runs again) or rerun into a new run directory"
        )
    return value


def stored_record(path: Path, key: str, kind: str, text: str) -> Record:
    """A finished unit's stored result as its kind's record, or `StoreError` naming the unit."""
    from pydantic import ValidationError

    data = stored_json(path, key, "result", text)
    try:
        return parse_record(kind, data)
    except (ValidationError, ValueError) as exc:
        raise StoreError(
            f"{path}: unit {key}: its stored result is not a {kind} record ({exc}); the store is damaged or was "
            "written by another suite version"
        ) from None

"""The result store of a run: record schemas shared with the runner, deterministic keys, the SQLite file."""

from robustness.store.keys import canonical_json, config_hash, unit_key
from robustness.store.records import (
    AttackRecord,
    CleanRecord,
    LiveBenchRecord,
    MergeRecord,
    ModelIdentity,
    QuestionScore,
    Record,
    SelectionCandidate,
    SelectionRecord,
    parse_record,
    record_types,
)
from robustness.store.schema import STORE_FILE, DuplicateUnitError, StoreError
from robustness.store.sqlite import ConfigEntry, Store, StoredUnit, store_path

__all__ = [
    "STORE_FILE",
    "AttackRecord",
    "CleanRecord",
    "ConfigEntry",
    "DuplicateUnitError",
    "LiveBenchRecord",
    "MergeRecord",
    "ModelIdentity",
    "QuestionScore",
    "Record",
    "SelectionCandidate",
    "SelectionRecord",
    "Store",
    "StoreError",
    "StoredUnit",
    "canonical_json",
    "config_hash",
    "parse_record",
    "record_types",
    "store_path",
    "unit_key",
]

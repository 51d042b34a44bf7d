"""The result store of a run: the SQLite file, with the record schemas (robustness/records.py) and deterministic keys
(robustness/keys.py) it stores by, re-exported here."""

from robustness.keys import canonical_json, config_hash, unit_key
from robustness.records import (
    AttackRecord,
    CleanRecord,
    LiveBenchRecord,
    MergeRecord,
    ModelIdentity,
    QuestionScore,
    Record,
    SelectionCandidate,
    SelectionRecord,
)
from robustness.store.schema import STORE_FILE, DuplicateUnitError, StoreError, parse_record, record_types
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

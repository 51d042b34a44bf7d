"""The result store of a run: record schemas shared with the runner, deterministic keys, the SQLite file."""

from robustness.store.keys import canonical_json, config_hash, unit_key
from robustness.store.records import (
    KINDS,
    RECORD_TYPES,
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
)
from robustness.store.sqlite import (
    STORE_FILE,
    ConfigEntry,
    DuplicateUnitError,
    Store,
    StoreError,
    Unit,
    store_path,
)

__all__ = [
    "KINDS",
    "RECORD_TYPES",
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
    "Unit",
    "canonical_json",
    "config_hash",
    "parse_record",
    "store_path",
    "unit_key",
]

"""Deterministic identities: canonical JSON, the config hash and unit keys.

A unit's key is derived from its inputs only, so expanding the same config twice gives the same keys and a rerun
can tell finished units from new ones. Canonical JSON (sorted keys, no spaces, no NaN) makes the hash independent of
dict order and of how the config was written.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel


def to_jsonable(value: Any) -> Any:
    """Plain JSON types from a mapping or a pydantic model (configs may be either)."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return value


def canonical_json(value: Any) -> str:
    """One spelling per value: sorted keys, compact separators, ASCII only; NaN and infinity are refused."""
    return json.dumps(to_jsonable(value), sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def config_hash(config: Mapping[str, Any] | BaseModel) -> str:
    """sha256 of the config's canonical JSON: how a run folder's store tells its configs apart (its history)."""
    return hashlib.sha256(canonical_json(config).encode()).hexdigest()


def unit_key(kind: str, inputs: Mapping[str, Any] | BaseModel, label: str = "") -> str:
    """`kind/label/<16 hex of sha256(inputs)>`: readable prefix, deterministic suffix.

    `label` is for people reading the store (e.g. the model id and dataset). It is part of the key, so derive it
    from the inputs too; the digest alone already tells units with different inputs apart.
    """
    digest = hashlib.sha256(canonical_json({"kind": kind, "inputs": inputs}).encode()).hexdigest()[:16]
    return f"{kind}/{label}/{digest}" if label else f"{kind}/{digest}"

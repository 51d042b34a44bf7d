"""What each kind of unit works from: one typed, frozen model per kind. A unit's key is the hash of `payload()`.

The payloads are exactly the plain mappings earlier versions hashed, so stored runs keep their keys (a test pins the
keys of the shipped configs). Fields that were absent from a payload (a selection's criterion under `mean_metric`)
stay absent rather than appearing as null.
"""

from __future__ import annotations

from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict

from robustness.catalog import AttackName, DatasetName


class Inputs(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def payload(self) -> dict[str, Any]:
        """The plain data the unit key hashes and the store keeps."""
        return self.model_dump(mode="json")


class ModelRef(Inputs):
    """The model a unit works on: a merge (its merge config, with model names instead of paths) or a reference."""

    model_id: str
    merge: dict[str, Any] | None = None
    reference: str | None = None


class ModelInputs(Inputs):
    model: ModelRef
    checkpoints: dict[str, str]  # every checkpoint's identity: a changed checkpoint changes the key


class MergeInputs(ModelInputs):
    pass


class CleanInputs(ModelInputs):
    dataset: DatasetName
    split: str  # selection | report
    rows: list[int]
    prompt: str
    mode: str
    chat: bool | None
    agreement_n: int
    max_new_tokens: int


class AttackSettings(Inputs):
    """The attack config's settings that change what one attack run does (not which models, rows or seeds)."""

    attack: AttackName
    search: str
    masked_lm: str
    similarity_encoder: str | None
    levenshtein: int
    candidates: int


CURVE: Final = "curve"  # the purpose of the attacked lambda curve's attack units
TRANSFER: Final = "transfer"  # the purpose of a transfer attack's replay units


class AttackInputs(ModelInputs):
    dataset: DatasetName
    rows: list[int]
    prompt: str
    mode: str
    chat: bool | None
    attack: AttackSettings
    seed: int
    # 'curve': a unit of the attacked lambda curve (every M3 candidate and the plain merge, on `curve_n` rows),
    # which the report keeps apart from the tables' attacks; absent for those, whose keys predate it.
    purpose: Literal["curve", "transfer"] | None = None

    def payload(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        if data["purpose"] is None:
            del data["purpose"]
        return data


class TransferInputs(AttackInputs):
    """A replay: the prompt that the attack unit `source` found, scored unchanged on this unit's model, on the
    source's rows (`purpose: transfer`). The prompt is read from the source's record when the replay runs, so the
    key depends on the source's key and the target model, never on the prompt text."""

    source: str  # the source attack unit's key

    def payload(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def parse_attack_inputs(data: Any) -> AttackInputs:
    """Stored attack inputs as their type: a replay's (`purpose: transfer`) or an attack's."""
    if isinstance(data, dict) and data.get("purpose") == TRANSFER:
        return TransferInputs.model_validate(data)
    return AttackInputs.model_validate(data)


class LiveBenchInputs(ModelInputs):
    task: str
    questions_dir: str | None
    n: int
    seed: int
    release_date: str | None
    max_new_tokens: int


class SelectionInputs(Inputs):
    pair: str
    method: str  # the configured method's name (its label)
    candidates: list[str]  # keys of the candidates' selection-row scores
    criterion: str | None = None  # absent under mean_metric, whose keys predate it
    references: list[str] | None = None  # keys of the base's and experts' selection-row scores

    def payload(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)

    @property
    def criterion_name(self) -> str:
        return self.criterion or "mean_metric"


UnitInputs = MergeInputs | CleanInputs | AttackInputs | TransferInputs | LiveBenchInputs | SelectionInputs

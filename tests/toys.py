"""Toy extensions, one of each kind a user can add, registered when this module is imported (as any extension
module registers its own): a merge method, an attack and a unit kind, each through its public registry alone.

- `CONSENSUS` (merge method `consensus`): a sign-consensus mean with its own parameter, `quorum`: at each entry, the
  weighted mean of the task vectors is kept where at least `quorum` of the models agree on its sign (elsewhere it
  is dropped), then `b + s * merged`. Plain, every model weighs 1/K in the mean; with M3 the lambdas are the
  weights. tests/merges/test_toy_method.py checks it against a dense reference.
- `TOY` (attack `toycase`): case changes to at most two words, by the shared greedy search.
  tests/attacks/test_toy_attack.py runs it.
- `PROBE` (unit kind `probe`): one model's accuracy with the study's prompt on the first `PROBE_ROWS` report rows
  of each dataset, planned for every model of phase two of a study named `TOY_STUDY` (so registering it changes no
  other study). tests/test_extensions.py runs a study of all three through `m3r plan`, the local executor and Ray.

Ray actors import this module (the driver's extension modules, robustness/extensions.py), so they know the toys.
The tests register them for their own duration (`registered`) and leave the built-in registries to the others.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from merges.builtin import SCALING, equal_weights, lambda_weights
from merges.registry import CombiningMethod, Param, RecordContext, method_names, register_method, unregister_method
from robustness.attacks.recipes import (
    ATTACKS,
    GREEDY,
    AttackRecipe,
    Constraint,
    RunSettings,
    register_attack,
    unregister_attack,
)
from robustness.attacks.text import PromptText
from robustness.experiment.kinds.base import Context, ModelInputs, Unit, UnitKind
from robustness.experiment.kinds.common import evaluator, identity_fields
from robustness.experiment.kinds.registry import register, unregister
from robustness.experiment.planning.models import ModelSpec
from robustness.experiment.spec.config import ExperimentConfig
from robustness.records import ModelIdentity

# ---------------------------------------------------------------- a merge method

CONSENSUS_RULE = "keep the weighted mean where >= quorum * K of the K task vectors share one sign, else 0"

QUORUM = Param(
    "quorum",
    float,
    "consensus: share of the models that must agree on an entry's sign",
    hint="the share of the models that must agree on a sign, e.g. 0.7",
    gt=0,
    le=1,
)


def consensus(
    base: Tensor, deltas: Iterable[Tensor], weights: Sequence[float], scaling: float, quorum: float
) -> Tensor:
    """`b + s * sum_k w_k d_k / sum_k w_k` where at least `quorum` of the K task vectors share one sign, else `b`.
    (Counting models, not weights, keeps the rule exact: no rounding decides an entry.)"""
    merged, positive, negative = torch.zeros_like(base), torch.zeros_like(base), torch.zeros_like(base)
    for d, w in zip(deltas, weights, strict=True):
        merged.add_(d, alpha=w)
        positive.add_(d > 0)
        negative.add_(d < 0)
    agreed = torch.maximum(positive, negative) >= quorum * len(weights)
    return merged.div_(float(sum(weights))).mul_(agreed).mul_(scaling).add_(base)


def consensus_record(ctx: RecordContext) -> Mapping[str, Any]:
    return {"consensus": {"quorum": ctx.parameters["quorum"], "rule": CONSENSUS_RULE}}


CONSENSUS = CombiningMethod(
    "consensus",
    "Sign Consensus",
    (SCALING, QUORUM),
    combine=lambda x, w, p, tau: consensus(x.base, x.deltas(), w, p["scaling"], p["quorum"]),
    plain_weights=equal_weights,
    m3_weights=lambda_weights,
    record=consensus_record,
)


# ---------------------------------------------------------------- an attack


@dataclass(frozen=True)
class CaseSwap:
    """The toy's transformation: the word in upper case, in swapped case and in lower case (the forms that differ)."""

    name: str = "toy-case-swap"

    def __call__(self, prompt: PromptText, index: int) -> list[PromptText]:
        word = prompt.words[index]
        forms = dict.fromkeys((word.upper(), word.swapcase(), word.lower()))
        return [prompt.replace_word(index, w) for w in forms if w != word]


@dataclass(frozen=True)
class MaxChangedWords:
    """The toy's constraint: at most `limit` words changed from the original prompt."""

    limit: int

    def __call__(self, candidates: Sequence[PromptText], original: PromptText) -> list[PromptText]:
        return [c for c in candidates if len(c.modified) <= self.limit]

    def describe(self) -> str:
        return f"changed-words<={self.limit}"


@dataclass(frozen=True, kw_only=True)
class ToyCase(AttackRecipe):
    """Shouts words: case changes to at most `max_changed` words, always by the shared greedy search."""

    max_changed: int = 2

    def transformation(self, run: RunSettings) -> CaseSwap:
        return CaseSwap()

    def constraints(self, run: RunSettings) -> list[Constraint]:
        return [MaxChangedWords(self.max_changed)]

    def max_candidates(self, run: RunSettings) -> int:
        return 3


# Reads no config setting and always searches greedily (ranked words, no seed), so its seed changes nothing.
# Reads no config setting and always searches greedily (ranked words, no seed), so its seed changes nothing.
TOY = ToyCase(name="toycase", display="ToyCase", fixed_search=GREEDY)

# ---------------------------------------------------------------- a unit kind

TOY_STUDY = "toys"  # the study name the probe kind plans units for
PROBE_ROWS = 2


class ProbeInputs(ModelInputs):
    dataset: str
    rows: list[int]
    prompt: str


class ProbeRecord(ModelIdentity):
    dataset: str
    n: int
    accuracy: float
    predictions: list[int]


class ProbeKind(UnitKind, name="probe", inputs_type=ProbeInputs, record_type=ProbeRecord, plan_rank=5,
                builtin_rate=3.261e-11):  # fmt: skip
    """One model's accuracy on a few report rows (its rate taken to be a clean unit's)."""

    def run(self, unit: Unit, ctx: Context) -> ProbeRecord:
        from robustness.prompts import get_prompt

        assert unit.model is not None
        inputs, worker = unit.inputs_as(ProbeInputs), ctx.worker
        data = worker.data[inputs.dataset]
        scorer = evaluator(worker.load(unit.model), ctx.cfg, data, inputs.rows, "score")
        outcome = scorer(get_prompt(inputs.dataset, inputs.prompt, ctx.cfg.data_dir).text)
        identity = identity_fields(unit.model, ctx.cfg, worker.merge_json(unit.model))
        return ProbeRecord(**identity, dataset=data.dataset, n=len(inputs.rows), accuracy=outcome.accuracy,
                           predictions=list(outcome.predictions))  # fmt: skip

    def work(self, inputs: ProbeInputs, work: Any) -> float:
        return float(work.parameters * work.evaluation(inputs.dataset, len(inputs.rows), "score", 0))

    def units_for(self, cfg: ExperimentConfig, model: ModelSpec, rows: Mapping[str, tuple[list[int], ...]],
                  identities: dict[str, str]) -> list[Unit]:  # fmt: skip
        if cfg.name != TOY_STUDY:
            return []
        units = []
        for d in cfg.eval.datasets:
            inputs = ProbeInputs(model=model.identity, checkpoints=identities, dataset=d, rows=rows[d][1][:PROBE_ROWS],
                                 prompt=cfg.eval.prompt)  # fmt: skip
            units.append(self.unit(model, inputs, f"{model.model_id}/{d}/probe"))
        return units


PROBE = ProbeKind()

# ---------------------------------------------------------------- registration


def register_all() -> None:
    """Register the three toys (those registered already are kept)."""
    if CONSENSUS.name not in method_names():
        register_method(CONSENSUS)
    if TOY.name not in ATTACKS:
        register_attack(TOY)
    register(PROBE)


def unregister_all() -> None:
    if CONSENSUS.name in method_names():
        unregister_method(CONSENSUS.name)
    if TOY.name in ATTACKS:
        unregister_attack(TOY.name)
    unregister(PROBE.name)


@contextmanager
def registered() -> Iterator[None]:
    """The toys registered for the duration of a `with` block (or a fixture)."""
    register_all()
    try:
        yield
    finally:
        unregister_all()


register_all()

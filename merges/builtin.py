"""The built-in merge methods: Average, Task Arithmetic, TIES and the DARE step, registered on import (README,
"A merge config"; `merges.methods` holds the tensor arithmetic, `merges.registry` says what an entry is).

Each method is one definition below: its name and label, its parameters, how it combines task vectors, how M3's
lambdas become its weights, and what it adds to merge.json. Parameters that several methods read (`scaling`) are
one `Param`, shared.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from merges.registry import (
    CombiningMethod,
    CombiningMethodName,
    Param,
    RecordContext,
    ScaleConvention,
    SparsifyingStep,
    _register_built_in,
)

if TYPE_CHECKING:
    from torch import Tensor

TrimScope = Literal["tensor", "global"]

SCALING = Param("scaling", float, "s in b + s * merged task vector", default=1.0, gt=0)
KEEP = Param(
    "keep",
    float,
    "TIES: fraction of each task vector's entries kept",
    hint="the fraction of entries kept, e.g. 0.5, 0.7, 0.9",
    gt=0,
    le=1,
)
# The TIES reference code (MergeLM, which the M3 paper follows) ranks magnitudes over the whole model.
TRIM_SCOPE = Param("trim_scope", TrimScope, "TIES: rank magnitudes per tensor or over the model", default="global")
DROP_RATE = Param(
    "drop_rate",
    float,
    "DARE: probability p of dropping an entry",
    hint="the probability of dropping an entry; the paper uses 0.2",
    ge=0,
    lt=1,
)
DARE_METHOD = Param(
    "dare_method", CombiningMethodName, "DARE: the method applied to sparsified deltas", default="task_arithmetic"
)

DARE_SEED_RULE = "sha256('{seed}/{tensor name}/{model index}')[:8] little-endian, top bit cleared"
TIES_RULE = "keep |d| >= the k-th largest magnitude, k = floor(keep * entries) of the scope"


# ---------------------------------------------------------------- how M3's lambdas become weights


def equal_weights(k: int) -> tuple[float, ...]:
    """1/K each: plain Average and plain TIES (the disjoint mean)."""
    return (1.0 / k,) * k


def unit_weights(k: int) -> tuple[float, ...]:
    """1 each: plain Task Arithmetic, b + s * sum_k d_k."""
    return (1.0,) * k


def lambda_weights(lambdas: Sequence[float], preserve_scale: bool) -> tuple[float, ...]:
    """The lambdas themselves: Average needs weights that sum to 1 and TIES renormalises them, so
    `preserve_scale` changes nothing there."""
    return tuple(float(x) for x in lambdas)


def task_arithmetic_m3_weights(lambdas: Sequence[float], preserve_scale: bool) -> tuple[float, ...]:
    """Official M3 code: s * (lambda d1 + (1 - lambda) d2), i.e. plain TA at s/2 when lambda = 0.5.
    preserve_scale: K * lambda_k, so that lambda = 1/K reproduces plain Task Arithmetic exactly."""
    k = len(lambdas)
    return tuple(float(k * x) if preserve_scale else float(x) for x in lambdas)


TASK_ARITHMETIC_CONVENTION = ScaleConvention(
    plain="plain: b + s * sum_k d_k",
    official=(
        "official: b + s * sum_k lambda_k d_k (K=2: lambda d1 + (1 - lambda) d2; lambda = 0.5 is plain TA at s/2)"
    ),
    preserve_scale="preserve_scale: b + s * sum_k K lambda_k d_k (lambda = 1/K reproduces plain Task Arithmetic)",
)


# ---------------------------------------------------------------- what TIES records, how DARE drops


def ties_record(ctx: RecordContext) -> dict[str, Any]:
    return {
        "ties": {
            "trim_scope": ctx.parameters["trim_scope"],
            "keep": ctx.parameters["keep"],
            "rule": TIES_RULE,
            "global_thresholds": ctx.global_thresholds,
        }
    }


def _methods() -> Any:
    """The tensor arithmetic (`merges.methods`), imported when a merge runs: config checks load no torch."""
    from merges import methods

    return methods


def dare_masks(params: Mapping[str, Any], seed: int, tensor_name: str, numel: int, k: int) -> list[Tensor] | None:
    """One Bernoulli keep mask per model, seeded from the names (`merges.methods.dare_seed`); None at p = 0."""
    p = params["drop_rate"]
    if p == 0:
        return None
    from merges.methods import dare_keep_mask, dare_seed

    return [dare_keep_mask(numel, p, dare_seed(seed, tensor_name, i)) for i in range(k)]


def dare_apply(delta: Tensor, keep: Tensor, params: Mapping[str, Any]) -> Tensor:
    from merges.methods import apply_dare

    return apply_dare(delta, keep, params["drop_rate"])


# ---------------------------------------------------------------- the methods, in catalog order

AVERAGE = CombiningMethod(
    "average",
    "Average",
    combine=lambda x, w, p, tau: _methods().average(x.models(), w),
    plain_weights=equal_weights,
    m3_weights=lambda_weights,
)
TASK_ARITHMETIC = CombiningMethod(
    "task_arithmetic",
    "Task Arithmetic",
    (SCALING,),
    combine=lambda x, w, p, tau: _methods().task_arithmetic(x.base, x.deltas(), w, p["scaling"]),
    plain_weights=unit_weights,
    m3_weights=task_arithmetic_m3_weights,
    convention=TASK_ARITHMETIC_CONVENTION,
)
TIES = CombiningMethod(
    "ties",
    "TIES",
    (SCALING, KEEP, TRIM_SCOPE),
    combine=lambda x, w, p, tau: _methods().ties(x.base, x.deltas(), w, p["scaling"], tau),
    plain_weights=equal_weights,
    m3_weights=lambda_weights,
    trims=True,
    record=ties_record,
)
DARE = SparsifyingStep(
    "dare",
    "DARE",
    (DROP_RATE, DARE_METHOD),
    combiner_param="dare_method",
    masks=dare_masks,
    apply=dare_apply,
    seed_rule=DARE_SEED_RULE,
)

for _method in (AVERAGE, TASK_ARITHMETIC, TIES, DARE):
    _register_built_in(_method)

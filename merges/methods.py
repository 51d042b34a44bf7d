"""The merge methods as small pure functions over one tensor at a time (see docs: merging.md).

Each function takes the base tensor, the fine-tuned tensors (or their task vectors `d_k = t_k - b`) and one
contribution weight per model, and returns the merged tensor. The weights are where M3 plugs in: the plain
methods use fixed equal weights, M3 supplies random ones (`merges.m3`), and nothing here knows which. That
keeps one code path per method, so "M3 at lambda = 0.5 equals the plain method" holds by construction. Which
function a method name runs, with which weights, is the registry's business (`merges.registry`, `merges.builtin`).

All functions compute in the dtype of their inputs (the engine passes float32) and never modify them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Protocol

import torch
from torch import Tensor


def average(models: Iterable[Tensor], weights: Sequence[float]) -> Tensor:
    """`sum_k w_k t_k`: plain Average has w_k = 1/K, Average + M3 has w_k = lambda_k."""
    out: Tensor | None = None
    for t, w in zip(models, weights, strict=True):
        out = torch.mul(t, w) if out is None else out.add_(t, alpha=w)
    assert out is not None
    return out


def task_arithmetic(base: Tensor, deltas: Iterable[Tensor], weights: Sequence[float], scaling: float) -> Tensor:
    """`b + s * sum_k w_k d_k`: plain Task Arithmetic has w_k = 1; with M3 w_k = lambda_k (or K lambda_k).

    `deltas` may be a generator: each task vector is folded in and released before the next is made.
    """
    merged: Tensor | None = None
    for d, w in zip(deltas, weights, strict=True):
        merged = torch.mul(d, w) if merged is None else merged.add_(d, alpha=w)
    assert merged is not None
    return merged.mul_(scaling).add_(base)


def trim(delta: Tensor, threshold: float) -> Tensor:
    """TIES step 1: keep the entries with `|d| >= threshold` (the k-th largest magnitude), zero the rest."""
    return delta * (delta.abs() >= threshold)  # a multiply by the mask: twice as fast as torch.where here


def ties(
    base: Tensor,
    deltas: Iterable[Tensor],
    weights: Sequence[float],
    scaling: float,
    thresholds: Sequence[float],
) -> Tensor:
    """TIES-Merging: trim, elect a sign, merge the values that agree with it, then `b + s * merged`.

    `thresholds[k]` is the trim threshold of model k (per tensor or over the whole model: the caller decides).
    At each entry the trimmed values whose sign equals the elected sign `g = sign(sum_k trimmed d_k)` are
    combined as a weighted mean with the weights renormalised over the models present; plain TIES has equal
    weights (the disjoint mean), M3 has lambda. Where no value agrees (including where g = 0) the result is 0.
    """
    trimmed = [trim(d, tau) for d, tau in zip(deltas, thresholds, strict=True)]
    elected = trimmed[0].clone()
    for v in trimmed[1:]:
        elected.add_(v)
    elected.sign_()
    numerator = torch.zeros_like(base)
    denominator = torch.zeros_like(base)
    zero_weight = any(w == 0 for w in weights)
    present = torch.zeros_like(base) if zero_weight else None
    for v, w in zip(trimmed, weights, strict=True):
        # A value agrees when its sign is the elected one; trimmed-away zeros never agree with a non-zero sign.
        # Where g = 0 only zeros "agree": they add weight to the denominator but nothing to the numerator, so
        # the result there is 0, as the rule says.
        agree = torch.sign(v) == elected
        v.mul_(agree)  # ours to change: `trimmed` was made above
        numerator.add_(v, alpha=w)
        denominator.add_(agree, alpha=w)
        if present is not None:
            present.add_(agree)
    # Where no model agrees the numerator is 0 too, so dividing by a clamped denominator gives 0 there.
    merged = numerator.div_(denominator.clamp_min_(torch.finfo(denominator.dtype).tiny))
    if present is not None:
        # A weight of exactly 0 (lambda = 0 or 1 given by hand) leaves 0/0 where only that model agrees; the
        # pair rule says a lone agreeing value is kept, so fall back to the plain disjoint mean there.
        lone = (present > 0) & (denominator <= torch.finfo(denominator.dtype).tiny)
        if bool(lone.any()):
            plain = torch.stack(trimmed).sum(dim=0) / present.clamp_min(1.0)
            merged = torch.where(lone, plain, merged)
    return merged.mul_(scaling).add_(base)


def dare_seed(run_seed: int, tensor_name: str, model_index: int) -> int:
    """The seed of the DARE mask of one model's tensor: derived from the names, not from a shared stream.

    sha256 of `"{run_seed}/{tensor_name}/{model_index}"`, first 8 bytes little-endian, top bit cleared. A mask
    therefore does not depend on the order in which tensors are visited (or on sharding, or on how many
    streaming passes read the tensor), and any one mask can be recomputed on its own.
    """
    digest = hashlib.sha256(f"{run_seed}/{tensor_name}/{model_index}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def dare_keep_mask(numel: int, drop_rate: float, seed: int) -> Tensor:
    """DARE's Bernoulli mask over a tensor's entries in row-major order: keep where u >= p, u ~ U[0, 1).

    Drawn on the CPU (`torch.rand` in float32 with a generator seeded by `seed`), so a seed gives the same
    mask whatever device the arithmetic runs on, and whatever chunks the engine later cuts the tensor into.
    """
    generator = torch.Generator(device="cpu").manual_seed(seed)
    return torch.rand(numel, generator=generator, dtype=torch.float32) >= drop_rate


def apply_dare(delta: Tensor, keep: Tensor, drop_rate: float) -> Tensor:
    """Zero the dropped entries and divide the survivors by 1 - p (p = 0: the delta itself)."""
    if drop_rate == 0:
        return delta
    return torch.where(keep.to(delta.device).view(delta.shape), delta / (1.0 - drop_rate), 0.0)


def dare(delta: Tensor, drop_rate: float, seed: int) -> Tensor:
    """DARE on one whole task vector: drop each entry with probability p, rescale the rest by 1 / (1 - p)."""
    if drop_rate == 0:
        return delta
    return apply_dare(delta, dare_keep_mask(delta.numel(), drop_rate, seed), drop_rate)


class Contributions(Protocol):
    """One tensor, or one piece of it, of every input: the base, and the models or their task vectors on demand
    (so that a method that needs only task vectors never holds the models, and vice versa)."""

    base: Tensor

    def models(self) -> Iterable[Tensor]: ...

    def deltas(self) -> Iterable[Tensor]: ...

"""Streaming the inputs of a merge tensor by tensor, in pieces: task vectors, DARE masks and TIES thresholds.

`TaskVectorStream` reads each tensor of the base and the models (memory-mapped, `merges.reader`), cuts it into
pieces of at most `CHUNK` entries on the compute device, makes the task vectors `d_k = t_k - b` of each piece on
demand (sparsified first when the method is a sparsification step such as DARE: a tensor's keep masks are drawn
whole, from a seed per tensor and model) and hands each piece to the combining method (`merges.registry`). It
also runs the passes that precede the merge: the NaN/Inf check of every input tensor and, for a method that
trims (TIES), the ranking passes that settle the trim thresholds (`merges.magnitude`). Private memory stays at a
few pieces plus the DARE masks of one tensor.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from merges.config import MergeConfig
from merges.errors import MergeError
from merges.m3 import LambdaPlan, lambda_group
from merges.magnitude import StreamingKthMagnitude, keep_count, kth_largest_magnitude
from merges.plan import MergePlan, TensorTask
from merges.reader import Checkpoint
from merges.registry import CombiningMethod, SparsifyingStep

log = logging.getLogger(__name__)

CHUNK = 1 << 22  # entries per piece: 16 MiB in float32; pieces never change results, only memory and speed
COMPUTE_DTYPE = torch.float32


@dataclass
class _Piece:
    """A slice of one tensor of every input, on the compute device, with task vectors made on demand."""

    base: Tensor
    model_slices: list[Tensor]
    masks: list[Tensor] | None
    sparsify: Callable[[Tensor, Tensor], Tensor]  # (task vector, its mask) -> sparsified; used with masks only
    device: torch.device

    def models(self) -> Iterator[Tensor]:
        if self.masks is None:
            for t in self.model_slices:
                yield t.to(self.device, COMPUTE_DTYPE)
        else:  # a sparsification step before Average (DARE + Average) averages the sparsified models b + d'
            for d in self.deltas():
                yield d.add_(self.base)

    kept: list[Tensor] | None = None

    def deltas(self) -> Iterator[Tensor]:
        if self.kept is not None:
            yield from self.kept
            return
        for k, t in enumerate(self.model_slices):
            d = t.to(self.device, COMPUTE_DTYPE) - self.base
            yield d if self.masks is None else self.sparsify(d, self.masks[k])

    def keep_deltas(self) -> list[Tensor]:
        """Make the task vectors once and hand out the same ones from now on (to rank and merge them)."""
        if self.kept is None:
            self.kept = list(self.deltas())
        return self.kept


@dataclass
class TaskVectorStream:
    """Reads the inputs tensor by tensor and cuts them into pieces; holds what every pass shares."""

    cfg: MergeConfig
    base: Checkpoint
    models: list[Checkpoint]
    device: torch.device
    lambdas: LambdaPlan
    method_weights: dict[str, tuple[float, ...]] = field(init=False)
    method: CombiningMethod = field(init=False)
    step: SparsifyingStep | None = field(init=False)
    params: Mapping[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        self.method, self.step, self.params = self.cfg.combiner, self.cfg.sparsifier, self.cfg.resolved_parameters()
        m3 = self.cfg.m3
        self.method_weights = {
            group: self.method.weights(values, m3.enabled, m3.preserve_scale)
            for group, values in self.lambdas.groups.items()
        }

    def weights_for(self, name: str) -> tuple[float, ...]:
        return self.method_weights[lambda_group(name, self.lambdas.per_block)]

    def _inputs(self, task: TensorTask, check: bool) -> tuple[Tensor, list[Tensor]]:
        """Base and model tensors of `task`, flattened (memory-mapped, on the CPU), optionally checked."""
        b = self.base.read(task.name)
        ts = [m.read(task.name) for m in self.models]
        if check:
            for checkpoint, x in zip((self.base, *self.models), (b, *ts), strict=True):
                _check_finite(checkpoint.label, task.name, x)
        return b.reshape(-1), [t.reshape(-1) for t in ts]

    def _masks(self, task: TensorTask) -> list[Tensor] | None:
        if self.step is None:
            return None
        return self.step.masks(self.params, self.cfg.seed, task.name, task.base_numel, self.cfg.k)

    def _sparsify(self, delta: Tensor, mask: Tensor) -> Tensor:
        assert self.step is not None, "masks come only from a sparsification step"
        return self.step.apply(delta, mask, self.params)

    def _pieces(self, task: TensorTask, b: Tensor, ts: list[Tensor], masks: list[Tensor] | None) -> Iterator[_Piece]:
        n = task.base_numel
        for start in range(0, n, CHUNK):
            stop = min(n, start + CHUNK)
            yield _Piece(
                base=b[start:stop].to(self.device, COMPUTE_DTYPE),
                model_slices=[t[start:stop] for t in ts],
                masks=None if masks is None else [m[start:stop] for m in masks],
                sparsify=self._sparsify,
                device=self.device,
            )

    def check_finite(self, plan: MergePlan) -> None:
        for task in plan.merged_tasks:
            self._inputs(task, check=True)

    def _feed(
        self,
        task: TensorTask,
        inputs: tuple[Tensor, list[Tensor]],
        masks: list[Tensor] | None,
        selectors: Sequence[StreamingKthMagnitude],
        second: bool,
    ) -> None:
        """Feed one tensor's task vectors, piece by piece, to one selector per model."""
        for piece in self._pieces(task, *inputs, masks):
            for selector, d in zip(selectors, piece.deltas(), strict=True):
                if second:
                    selector.add_second_pass(d)
                else:
                    selector.add_first_pass(d)

    def global_thresholds(self, plan: MergePlan) -> list[float]:
        """Each model's k-th largest task-vector magnitude over the whole model, in two streaming passes."""
        selectors = [StreamingKthMagnitude(keep=self.cfg.keep) for _ in self.models]
        for task in plan.merged_tasks:
            self._feed(task, self._inputs(task, check=True), self._masks(task), selectors, second=False)
        log.info("global TIES trimming: first pass done over %d entries per model", selectors[0].numel)
        if any(s.needs_second_pass for s in selectors):
            for task in plan.merged_tasks:
                self._feed(task, self._inputs(task, check=False), self._masks(task), selectors, second=True)
        return [s.threshold for s in selectors]

    def _tensor_thresholds(
        self, task: TensorTask, inputs: tuple[Tensor, list[Tensor]], masks: list[Tensor] | None
    ) -> list[float]:
        k = keep_count(self.cfg.keep, task.base_numel)
        selectors = [StreamingKthMagnitude(k=k) for _ in self.models]
        self._feed(task, inputs, masks, selectors, second=False)
        if any(s.needs_second_pass for s in selectors):
            self._feed(task, inputs, masks, selectors, second=True)
        return [s.threshold for s in selectors]

    def merged_pieces(self, task: TensorTask, global_thresholds: list[float] | None) -> Iterator[Tensor]:
        """The output tensor of `task` in row-major pieces, in its output dtype, on the CPU."""
        if not task.floating:
            yield self.base.read(task.name).contiguous()
            return
        inputs = self._inputs(task, check=False)
        masks = self._masks(task)
        weights = self.weights_for(task.name)
        combine = self._combiner(task, inputs, masks, weights, global_thresholds)
        for piece in self._pieces(task, *inputs, masks):
            yield combine(piece).to("cpu", task.out_dtype)
        if task.model_rows is not None:
            yield _extra_rows(task, inputs[1], self.device).to("cpu", task.out_dtype)

    def _combiner(
        self,
        task: TensorTask,
        inputs: tuple[Tensor, list[Tensor]],
        masks: list[Tensor] | None,
        weights: Sequence[float],
        global_thresholds: list[float] | None,
    ) -> Callable[[_Piece], Tensor]:
        """The method applied to one piece, with trim thresholds settled first (global, or this tensor's)."""
        method, params = self.method, self.params
        if not method.trims:
            return lambda piece: method.combine(piece, weights, params, ())
        if global_thresholds is not None:
            thresholds = global_thresholds
        elif task.base_numel <= CHUNK:
            # One piece holds the whole tensor: rank and merge the same task vectors, made once.
            k = keep_count(self.cfg.keep, task.base_numel)

            def whole(piece: _Piece) -> Tensor:
                ranks = [kth_largest_magnitude(d, k) for d in piece.keep_deltas()]
                return method.combine(piece, weights, params, ranks)

            return whole
        else:
            thresholds = self._tensor_thresholds(task, inputs, masks)
        return lambda piece: method.combine(piece, weights, params, thresholds)


def _extra_rows(task: TensorTask, ts: list[Tensor], device: torch.device) -> Tensor:
    """Rows beyond the base: each row is the mean over the models that have it (vocabulary policy)."""
    assert task.model_rows is not None
    base_rows, out_rows = task.base_shape[0], task.out_shape[0]
    width = task.base_numel // base_rows if base_rows else 0
    total = torch.zeros((out_rows - base_rows, width), dtype=COMPUTE_DTYPE, device=device)
    count = torch.zeros((out_rows - base_rows, 1), dtype=COMPUTE_DTYPE, device=device)
    for t, rows in zip(ts, task.model_rows, strict=True):
        if rows > base_rows:
            extra = t[base_rows * width : rows * width].to(device, COMPUTE_DTYPE).view(rows - base_rows, width)
            total[: rows - base_rows] += extra
            count[: rows - base_rows] += 1
    return total / count


def _check_finite(label: str, name: str, x: Tensor) -> None:
    """Reject NaN and Inf. A finite sum proves there are none, at the cost of one reduction; only a sum that is
    not finite (a bad value, or an overflow) pays for the exact per-entry check."""
    if not x.dtype.is_floating_point or x.numel() == 0:
        return
    if bool(torch.isfinite(torch.sum(x, dtype=torch.float64 if x.dtype == torch.float64 else torch.float32))):
        return
    nan = int(torch.isnan(x).sum())
    inf = int(torch.isinf(x).sum())
    if nan or inf:
        raise MergeError(f"{label}: tensor {name!r} contains {nan} NaN and {inf} Inf value(s); nothing was written")

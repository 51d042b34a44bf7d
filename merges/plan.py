"""Checking the inputs against each other and deciding what happens to every tensor, from headers alone.

Runs before any weight is read: a different architecture, a missing or extra tensor, or a shape that differs
for any reason other than the vocabulary policy stops the merge here with a message naming the input and the
tensor. The result is a `MergePlan`: one `TensorTask` per output tensor, in the order they are written.

Vocabulary policy (docs: merging.md): embeddings and the LM head may have more rows in a fine-tuned model than
in the base (the Wizard models have 32001 against Llama-2's 32000). Rows the base has are merged; rows beyond
the base come from the model(s) that have them, averaged where several do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from merges.errors import MergeError
from merges.reader import Checkpoint
from merges.writer import OutputTensor

VOCABULARY_POLICY = (
    "rows the base has are merged; rows beyond the base come from the model(s) that have them "
    "(averaged where several do)"
)
OUTPUT_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass(frozen=True)
class TensorTask:
    """One output tensor: its name, output shape and dtype, and how many rows each input contributes.

    `model_rows` is set only for a vocabulary tensor that some model extends: the row count of each model. The
    merged region is always the base's shape (`base_shape`); rows past it are the extension.
    """

    name: str
    base_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    out_dtype: torch.dtype
    floating: bool
    model_rows: tuple[int, ...] | None = None

    @property
    def base_numel(self) -> int:
        n = 1
        for d in self.base_shape:
            n *= d
        return n

    @property
    def output(self) -> OutputTensor:
        return OutputTensor(self.name, self.out_dtype, self.out_shape)


@dataclass(frozen=True)
class MergePlan:
    tasks: list[TensorTask]
    tokenizer_source: int | None  # index into the models whose tokenizer fits the output vocabulary; None: base
    output_vocab_size: int | None  # set when the vocabulary policy extended the base's rows
    vocabulary: dict[str, Any]  # the record for merge.json

    @property
    def merged_tasks(self) -> list[TensorTask]:
        return [t for t in self.tasks if t.floating]


def build_plan(base: Checkpoint, models: Sequence[Checkpoint], dtype: str) -> MergePlan:
    """Check every input against the base and plan the output, or raise `MergeError` naming the problem."""
    for model in models:
        _check_architecture(base, model)
        _check_names(base, model)
    tasks = [_task(base, models, name, dtype) for name in base.tensors]
    extended = [t for t in tasks if t.model_rows is not None]
    if not extended:
        record: dict[str, Any] = {"policy": VOCABULARY_POLICY, "applied": False}
        return MergePlan(tasks, None, None, record)
    out_rows = max(t.out_shape[0] for t in extended)
    rows = [max(t.model_rows[k] for t in extended if t.model_rows) for k in range(len(models))]
    tokenizer_source = rows.index(out_rows)
    record = {
        "policy": VOCABULARY_POLICY,
        "applied": True,
        "base_rows": extended[0].base_shape[0],
        "output_rows": out_rows,
        "tensors": {
            t.name: {
                "base_rows": t.base_shape[0],
                "output_rows": t.out_shape[0],
                "model_rows": {models[k].label: r for k, r in enumerate(t.model_rows or ())},
            }
            for t in extended
        },
        "tokenizer_from": models[tokenizer_source].label,
    }
    return MergePlan(tasks, tokenizer_source, out_rows, record)


def _check_architecture(base: Checkpoint, model: Checkpoint) -> None:
    if model.architecture() != base.architecture():
        (bt, ba), (mt, ma) = base.architecture(), model.architecture()
        raise MergeError(
            f"{model.label}: architecture {'/'.join(ma) or '?'} (model_type {mt or '?'}) differs from the base's "
            f"{'/'.join(ba) or '?'} (model_type {bt or '?'}); models must be fine-tunes of the same base"
        )


def _check_names(base: Checkpoint, model: Checkpoint) -> None:
    missing = [name for name in base.tensors if name not in model.tensors]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise MergeError(f"{model.label}: tensor {missing[0]!r} of the base is missing{more}")
    extra = [name for name in model.tensors if name not in base.tensors]
    if extra:
        more = f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""
        raise MergeError(f"{model.label}: tensor {extra[0]!r} is not in the base model{more}")


def _task(base: Checkpoint, models: Sequence[Checkpoint], name: str, dtype: str) -> TensorTask:
    info = base.tensors[name]
    floating = info.dtype.is_floating_point
    out_dtype = OUTPUT_DTYPES[dtype] if floating and dtype != "auto" else info.dtype
    rows: list[int] = []
    for model in models:
        other = model.tensors[name]
        if other.dtype.is_floating_point != floating:
            raise MergeError(f"{model.label}: tensor {name!r} has dtype {other.dtype}, the base has {info.dtype}")
        if other.shape == info.shape:
            rows.append(info.shape[0] if info.shape else 0)
            continue
        if not _vocabulary_extension(base, model, info.shape, other.shape) or not floating:
            raise MergeError(
                f"{model.label}: tensor {name!r} has shape {list(other.shape)}, the base has {list(info.shape)}"
            )
        if other.shape[0] < info.shape[0]:
            raise MergeError(
                f"{model.label}: tensor {name!r} has {other.shape[0]} vocabulary rows, fewer than the base's "
                f"{info.shape[0]}; every base row must be present to merge"
            )
        rows.append(other.shape[0])
    if not floating or all(r == (info.shape[0] if info.shape else 0) for r in rows):
        return TensorTask(name, info.shape, info.shape, out_dtype, floating)
    out_shape = (max(rows), *info.shape[1:])
    return TensorTask(name, info.shape, out_shape, out_dtype, floating, tuple(rows))


def _vocabulary_extension(
    base: Checkpoint, model: Checkpoint, base_shape: tuple[int, ...], shape: tuple[int, ...]
) -> bool:
    """Whether a shape difference is the vocabulary dimension: rows = each config's vocab_size, rest equal."""
    return (
        len(shape) == len(base_shape) >= 1
        and shape[1:] == base_shape[1:]
        and base_shape[0] == base.vocab_size()
        and shape[0] == model.vocab_size()
    )

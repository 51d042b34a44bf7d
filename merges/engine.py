"""The streaming merge loop: plan from headers, check, (rank,) merge piece by piece, write, rename.

Order of work, so that nothing is written unless the merge can finish:
1. validate the config and open every input's headers; check that the output folder is writable and neither
   is, holds nor lies inside an input (`merges.output.check_output`); check architectures, tensor names and shapes
   (`merges.plan`); decide every lambda (`merges.m3`);
2. read every input tensor once to reject NaN or Inf, naming the tensor (for TIES with global trimming this is
   the first of its two ranking passes, `merges.magnitude`);
3. merge each tensor in pieces of at most `CHUNK` entries, writing each piece as it is made into a temporary
   folder (`merges.writer`, `merges.output`), then add config, tokenizer and merge.json, and rename the folder
   into place.

Inputs are memory-mapped and the arithmetic works on pieces, so private memory stays at a few pieces plus the
DARE masks of one tensor, whatever the model size. With `device: cuda` each piece is moved to the GPU for the
arithmetic and back to the CPU for writing.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from merges.config import MergeConfig, load_merge_config, validate_config
from merges.errors import MergeError
from merges.m3 import LambdaPlan, lambda_group, plan_lambdas
from merges.magnitude import StreamingKthMagnitude, keep_count, kth_largest_magnitude
from merges.methods import (
    METHODS,
    TASK_ARITHMETIC_CONVENTIONS,
    apply_dare,
    dare_keep_mask,
    dare_seed,
)
from merges.output import atomic_folder, check_output, copy_side_files
from merges.plan import MergePlan, TensorTask, build_plan
from merges.reader import Checkpoint
from merges.writer import ShardedSafetensorsWriter

log = logging.getLogger(__name__)

# Whether the arithmetic leaves one core to the background sha256 and writer threads (see merge()).
SHARE_CORES = True
CHUNK = 1 << 22  # entries per piece: 16 MiB in float32; pieces never change results, only memory and speed
COMPUTE_DTYPE = torch.float32
RECORD = "merge.json"
RECORD_FORMAT = "m3r-merge/1"
DARE_SEED_RULE = "sha256('{seed}/{tensor name}/{model index}')[:8] little-endian, top bit cleared"


@dataclass(frozen=True)
class MergeResult:
    """Where the merged model is and what merge.json says about it."""

    out_dir: Path
    record: dict[str, Any]
    seconds: float

    @property
    def lambdas(self) -> dict[str, list[float]]:
        return dict(self.record["m3"]["lambdas"])


def merge(
    config: MergeConfig | Mapping[str, Any] | str | Path, out_dir: str | Path | None = None, overwrite: bool = False
) -> MergeResult:
    """Merge the models of `config` into a Hugging Face folder at `out_dir` and return what was done.

    `config` is a validated `MergeConfig`, plain data shaped like the YAML, or the path of a YAML file;
    `out_dir` defaults to the config's `output`. Raises
    `MergeError` (naming the config key or the tensor) for anything wrong with the config or the inputs; in
    that case `out_dir` is left as it was (absent, or the previous folder when overwriting).
    """
    started = time.perf_counter()
    cfg = _as_config(config)
    if out_dir is None and cfg.output is None:
        raise MergeError("output: no output folder; set output in the config or pass one")
    out = Path(out_dir if out_dir is not None else str(cfg.output)).expanduser()
    if out.exists() and not overwrite:
        raise MergeError(f"output folder {str(out)!r} already exists; remove it or allow overwriting")
    device = resolve_device(cfg.device)
    opened: list[Checkpoint] = []
    try:
        for i, ref in enumerate([cfg.base_model, *cfg.models]):
            opened.append(Checkpoint(ref, "base_model" if i == 0 else f"models[{i - 1}]"))
        check_output(out, [(c.label, c.folder) for c in opened])  # headers only so far: no weight was read
        return _merge(cfg, opened[0], opened[1:], device, out, overwrite, started)
    finally:
        for checkpoint in opened:
            checkpoint.close()


def _merge(
    cfg: MergeConfig,
    base: Checkpoint,
    models: list[Checkpoint],
    device: torch.device,
    out: Path,
    overwrite: bool,
    started: float,
) -> MergeResult:
    plan = build_plan(base, models, cfg.dtype)
    lambdas = plan_lambdas(
        enabled=cfg.m3.enabled,
        k=cfg.k,
        tensor_names=[t.name for t in plan.merged_tasks],
        per_block=cfg.m3.per_block,
        alpha=cfg.m3.alpha,
        fixed=cfg.fixed_lambdas(),
        seed=cfg.m3.seed if cfg.m3.seed is not None else cfg.seed,
    )
    hasher = _Hasher([base, *models])
    threads = torch.get_num_threads()
    if SHARE_CORES and threads > 1:
        # The sha256 and writer threads need a core of their own: with every core also running an arithmetic
        # thread, torch's thread pool waits on descheduled workers, and on 2 busy cores TIES took 13 times the
        # CPU time of one thread. The arithmetic is memory-bound, so one core fewer costs little.
        torch.set_num_threads(threads - 1)
    try:
        stream = _Stream(cfg, base, models, device, lambdas)
        global_thresholds = None
        if cfg.base_method == "ties" and cfg.trim_scope == "global":
            global_thresholds = stream.global_thresholds(plan)  # its first pass also rejects NaN/Inf
        else:
            stream.check_finite(plan)
        with atomic_folder(out, overwrite) as tmp:
            writer = ShardedSafetensorsWriter(tmp, [t.output for t in plan.tasks], cfg.max_shard_size)
            try:
                for i, task in enumerate(plan.tasks):
                    writer.write(task.name, stream.merged_pieces(task, global_thresholds))
                    log.debug("merged %s (%d/%d)", task.name, i + 1, len(plan.tasks))
                files = writer.close()
            finally:
                writer.abort()
            side_files = _write_side_files(cfg, plan, base, models, tmp)
            record = _record(cfg, plan, lambdas, stream, device, global_thresholds)
            record["files"] = sorted([*files, *side_files, RECORD])
            record["inputs"] = hasher.result()
            record["seconds"] = round(time.perf_counter() - started, 3)
            (tmp / RECORD).write_text(json.dumps(record, indent=2) + "\n")
    finally:
        torch.set_num_threads(threads)
        hasher.cancel()
    log.info("merged %s into %s in %.1f s", cfg.method, out, record["seconds"])
    return MergeResult(out, record, record["seconds"])


def _as_config(config: MergeConfig | Mapping[str, Any] | str | Path) -> MergeConfig:
    if isinstance(config, MergeConfig):
        return config
    if isinstance(config, Mapping):
        return validate_config(dict(config))
    return load_merge_config(config)


def resolve_device(spec: str) -> torch.device:
    """`auto`: the first CUDA device when there is one, else the CPU; `cuda` insists on a GPU."""
    if spec == "cpu":
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda:0")
    if spec == "cuda":
        raise MergeError("device: 'cuda' was asked for but CUDA is not available here; use 'auto' or 'cpu'")
    return torch.device("cpu")


@dataclass
class _Piece:
    """A slice of one tensor of every input, on the compute device, with task vectors made on demand."""

    base: Tensor
    model_slices: list[Tensor]
    masks: list[Tensor] | None
    drop_rate: float
    device: torch.device

    def models(self) -> Iterator[Tensor]:
        if self.masks is None:
            for t in self.model_slices:
                yield t.to(self.device, COMPUTE_DTYPE)
        else:  # DARE + Average averages the sparsified models b + d'
            for d in self.deltas():
                yield d.add_(self.base)

    kept: list[Tensor] | None = None

    def deltas(self) -> Iterator[Tensor]:
        if self.kept is not None:
            yield from self.kept
            return
        for k, t in enumerate(self.model_slices):
            d = t.to(self.device, COMPUTE_DTYPE) - self.base
            yield d if self.masks is None else apply_dare(d, self.masks[k], self.drop_rate)

    def keep_deltas(self) -> list[Tensor]:
        """Make the task vectors once and hand out the same ones from now on (to rank and merge them)."""
        if self.kept is None:
            self.kept = list(self.deltas())
        return self.kept


@dataclass
class _Stream:
    """Reads the inputs tensor by tensor and cuts them into pieces; holds what every pass shares."""

    cfg: MergeConfig
    base: Checkpoint
    models: list[Checkpoint]
    device: torch.device
    lambdas: LambdaPlan
    method_weights: dict[str, tuple[float, ...]] = field(init=False)

    def __post_init__(self) -> None:
        method = METHODS[self.cfg.base_method]
        self.method_weights = {
            group: method.m3_weights(values, self.cfg.m3.preserve_scale)
            if self.cfg.m3.enabled
            else method.plain_weights(self.cfg.k)
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
        p = self.cfg.drop_rate
        if p == 0:
            return None
        return [dare_keep_mask(task.base_numel, p, dare_seed(self.cfg.seed, task.name, k)) for k in range(self.cfg.k)]

    def _pieces(self, task: TensorTask, b: Tensor, ts: list[Tensor], masks: list[Tensor] | None) -> Iterator[_Piece]:
        n = task.base_numel
        for start in range(0, n, CHUNK):
            stop = min(n, start + CHUNK)
            yield _Piece(
                base=b[start:stop].to(self.device, COMPUTE_DTYPE),
                model_slices=[t[start:stop] for t in ts],
                masks=None if masks is None else [m[start:stop] for m in masks],
                drop_rate=self.cfg.drop_rate,
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
        """The method applied to one piece, with TIES thresholds settled first (global, or this tensor's)."""
        method, s = METHODS[self.cfg.base_method], self.cfg.scaling
        if not method.trims:
            return lambda piece: method.combine(piece, weights, s, ())
        if global_thresholds is not None:
            thresholds = global_thresholds
        elif task.base_numel <= CHUNK:
            # One piece holds the whole tensor: rank and merge the same task vectors, made once.
            k = keep_count(self.cfg.keep, task.base_numel)

            def whole(piece: _Piece) -> Tensor:
                ranks = [kth_largest_magnitude(d, k) for d in piece.keep_deltas()]
                return method.combine(piece, weights, s, ranks)

            return whole
        else:
            thresholds = self._tensor_thresholds(task, inputs, masks)
        return lambda piece: method.combine(piece, weights, s, thresholds)


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


class _Hasher:
    """sha256 of every input file, computed in a background thread while the merge runs (hashlib releases the
    GIL), so that recording provenance costs little wall time."""

    def __init__(self, inputs: Sequence[Checkpoint]) -> None:
        self._inputs = list(inputs)
        self._digests: dict[Path, str] = {}
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="merge-sha256", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import hashlib

        try:
            for checkpoint in self._inputs:
                for file in checkpoint.input_files():
                    if file in self._digests:
                        continue
                    h = hashlib.sha256()
                    with file.open("rb") as fh:
                        while block := fh.read(1 << 22):
                            if self._stop.is_set():
                                return
                            h.update(block)
                    self._digests[file] = h.hexdigest()
        except BaseException as exc:  # re-raised in the caller's thread by result()
            self._error = exc

    def result(self) -> dict[str, Any]:
        self._thread.join()
        if self._error is not None:
            raise MergeError(f"could not hash the input files: {self._error}")

        def entry(c: Checkpoint) -> dict[str, Any]:
            files = {str(f.relative_to(c.folder)): self._digests[f] for f in c.input_files()}
            return {"reference": c.reference, "folder": str(c.folder.resolve()), "sha256": files}

        return {"base_model": entry(self._inputs[0]), "models": [entry(c) for c in self._inputs[1:]]}

    def cancel(self) -> None:
        self._stop.set()


def _write_side_files(
    cfg: MergeConfig, plan: MergePlan, base: Checkpoint, models: list[Checkpoint], out: Path
) -> list[str]:
    """Config and generation config from the base; the tokenizer from the base, or from the model whose
    vocabulary the output has when the vocabulary policy added rows."""
    copied = set(copy_side_files(base.folder, out))
    if plan.tokenizer_source is not None:
        source = models[plan.tokenizer_source].folder
        copied |= set(copy_side_files(source, out, tokenizer_only=True))
    model_config = dict(base.config)
    if plan.output_vocab_size is not None:
        model_config["vocab_size"] = plan.output_vocab_size
    if cfg.dtype != "auto":
        for key in ("dtype", "torch_dtype"):
            if key in model_config or key == "dtype":
                model_config[key] = cfg.dtype
    (out / "config.json").write_text(json.dumps(model_config, indent=2) + "\n")
    copied.add("config.json")
    return sorted(copied)


def _record(
    cfg: MergeConfig,
    plan: MergePlan,
    lambdas: LambdaPlan,
    stream: _Stream,
    device: torch.device,
    global_thresholds: list[float] | None,
) -> dict[str, Any]:
    """merge.json: everything needed to reproduce the merge and to say in a report what was done."""
    from importlib import metadata

    def version(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    convention = None
    if cfg.base_method == "task_arithmetic":
        convention = (
            TASK_ARITHMETIC_CONVENTIONS[cfg.m3.preserve_scale] if cfg.m3.enabled else "plain: b + s * sum_k d_k"
        )
    record: dict[str, Any] = {
        "format": RECORD_FORMAT,
        "method": cfg.method,
        "base_method": cfg.base_method,
        "parameters": cfg.resolved_parameters(),
        "m3": {
            "enabled": cfg.m3.enabled,
            "preserve_scale": cfg.m3.preserve_scale,
            **lambdas.to_record(),
        },
        "contribution_weights": {group: list(w) for group, w in stream.method_weights.items()},
        "task_arithmetic_convention": convention,
        "seeds": {
            "run": cfg.seed,
            "m3": lambdas.seed,
            "dare_masks": DARE_SEED_RULE if cfg.method == "dare" else None,
        },
        "vocabulary": plan.vocabulary,
        "output_dtype": cfg.dtype,
        "compute_dtype": str(COMPUTE_DTYPE).removeprefix("torch."),
        "device": str(device),
        "config": cfg.to_record(),
        "software": {name: version(name) for name in ("m3-robustness", "torch", "safetensors")},
    }
    if cfg.base_method == "ties":
        record["ties"] = {
            "trim_scope": cfg.trim_scope,
            "keep": cfg.keep,
            "rule": "keep |d| >= the k-th largest magnitude, k = floor(keep * entries) of the scope",
            "global_thresholds": global_thresholds,
        }
    return record

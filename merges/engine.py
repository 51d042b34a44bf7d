"""The streaming merge loop: plan from headers, check, (rank,) merge piece by piece, write, rename.

Order of work, so that nothing is written unless the merge can finish:
1. validate the config and open every input's headers (`merges.reader`); check that the output folder is
   writable and neither is, holds nor lies inside an input (`merges.output.check_output`); check architectures,
   tensor names and shapes (`merges.plan`); decide every lambda (`merges.m3`);
2. read every input tensor once to reject NaN or Inf, naming the tensor (for a method that trims, TIES, with
   global trimming this is the first of its two ranking passes, `merges.magnitude`);
3. merge each tensor in pieces of at most `merges.stream.CHUNK` entries (`merges.stream`), writing each piece as
   it is made into a temporary folder (`merges.writer`, `merges.output`), then add config, tokenizer and
   merge.json (`merges.record`), and rename the folder into place.

Inputs are memory-mapped and the arithmetic works on pieces, so private memory stays at a few pieces plus the
DARE masks of one tensor, whatever the model size. With `device: cuda` each piece is moved to the GPU for the
arithmetic and back to the CPU for writing.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from merges.config import MergeConfig, load_merge_config, validate_config
from merges.errors import MergeError
from merges.m3 import plan_lambdas
from merges.output import atomic_folder, check_output, check_tokenizer, copy_side_files
from merges.plan import MergePlan, build_plan
from merges.reader import Checkpoint
from merges.record import RECORD, InputHasher, merge_record
from merges.stream import TaskVectorStream
from merges.writer import ShardedSafetensorsWriter

log = logging.getLogger(__name__)

# Whether the arithmetic leaves one core to the background sha256 and writer threads (see merge()).
SHARE_CORES = True


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
    config: MergeConfig | Mapping[str, Any] | str | Path,
    out_dir: str | Path | None = None,
    overwrite: bool = False,
    require_tokenizer: bool = False,
) -> MergeResult:
    """Merge the models of `config` into a Hugging Face folder at `out_dir` and return what was done.

    `config` is a validated `MergeConfig`, plain data shaped like the YAML, or the path of a YAML file;
    `out_dir` defaults to the config's `output`. `require_tokenizer`: refuse, before any weight is read, inputs
    whose tokenizer source holds no tokenizer (the merged folder could not be loaded; `m3r merge` asks for it, a
    library caller merging bare weights need not). Raises
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
        return _merge(cfg, opened[0], opened[1:], device, out, overwrite, started, require_tokenizer)
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
    require_tokenizer: bool = False,
) -> MergeResult:
    plan = build_plan(base, models, cfg.dtype)
    if require_tokenizer:
        source = base if plan.tokenizer_source is None else models[plan.tokenizer_source]
        check_tokenizer(source.label, source.folder)  # before any weight is read
    lambdas = plan_lambdas(
        enabled=cfg.m3.enabled,
        k=cfg.k,
        tensor_names=[t.name for t in plan.merged_tasks],
        per_block=cfg.m3.per_block,
        alpha=cfg.m3.alpha,
        fixed=cfg.fixed_lambdas(),
        seed=cfg.m3.seed if cfg.m3.seed is not None else cfg.seed,
    )
    hasher = InputHasher([base, *models])
    threads = torch.get_num_threads()
    if SHARE_CORES and threads > 1:
        # The sha256 and writer threads need a core of their own: with every core also running an arithmetic
        # thread, torch's thread pool waits on descheduled workers, and on 2 busy cores TIES took 13 times the
        # CPU time of one thread. The arithmetic is memory-bound, so one core fewer costs little.
        torch.set_num_threads(threads - 1)
    try:
        stream = TaskVectorStream(cfg, base, models, device, lambdas)
        global_thresholds = None
        if cfg.combiner.trims and cfg.trim_scope == "global":
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
            record = merge_record(cfg, plan, lambdas, stream.method_weights, device, global_thresholds)
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

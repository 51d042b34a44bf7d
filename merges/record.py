"""merge.json, the record a merge leaves beside its weights: what was merged, how, with which lambdas and
seeds, and the sha256 of every input file (hashed on a background thread while the merge runs)."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from merges.config import MergeConfig
from merges.errors import MergeError
from merges.m3 import LambdaPlan
from merges.plan import MergePlan
from merges.reader import Checkpoint
from merges.registry import RecordContext
from merges.stream import COMPUTE_DTYPE

RECORD = "merge.json"
RECORD_FORMAT = "m3r-merge/1"


class InputHasher:
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


def merge_record(
    cfg: MergeConfig,
    plan: MergePlan,
    lambdas: LambdaPlan,
    contribution_weights: Mapping[str, Sequence[float]],
    device: torch.device,
    global_thresholds: list[float] | None,
) -> dict[str, Any]:
    """merge.json: everything needed to reproduce the merge and to say in a report what was done.

    What depends on the method comes from the registry (`merges.registry`): the combining method's M3 convention
    (`task_arithmetic_convention`, for a method whose M3 weights depend on `m3.preserve_scale`), the sparsification
    step's mask seed rule (`seeds.dare_masks`), and each step's own sections at the end (TIES: `ties`).
    """
    from importlib import metadata

    def version(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    combiner, step = cfg.combiner, cfg.sparsifier
    convention = None
    if combiner.convention is not None:
        convention = combiner.convention.describe(cfg.m3.enabled, cfg.m3.preserve_scale)
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
        "contribution_weights": {group: list(w) for group, w in contribution_weights.items()},
        "task_arithmetic_convention": convention,
        "seeds": {
            "run": cfg.seed,
            "m3": lambdas.seed,
            "dare_masks": step.seed_rule if step is not None else None,
        },
        "vocabulary": plan.vocabulary,
        "output_dtype": cfg.dtype,
        "compute_dtype": str(COMPUTE_DTYPE).removeprefix("torch."),
        "device": str(device),
        "config": cfg.to_record(),
        "software": {name: version(name) for name in ("m3-robustness", "torch", "safetensors")},
    }
    context = RecordContext(cfg.resolved_parameters(), global_thresholds)
    for method in cfg.steps:
        if method.record is not None:
            record.update(method.record(context))
    return record

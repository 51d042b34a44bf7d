"""How many rows a forward pass takes when the config sets no `eval.batch_size`: a rule without torch, so that
`m3r plan` can apply it without loading model code.

CPU batches beyond ~16 prompts stop paying on two cores. On a GPU (an H200, README "Performance") a model under a
billion parameters is bound by per-kernel overhead: 256 rows a pass scored 2.4-3.5x the rows/s of 64 (SmolLM2's
shapes); a 13B model is bound by arithmetic already at 64 rows (64 and 256 within 5%), and 64 keeps the copies of
the shared prefix's key/value cache small (2.4 GB at 13B against 9.4 GB at 256).
"""

from __future__ import annotations

SMALL_MODEL_PARAMETERS = 1_000_000_000
CPU_BATCH = 16
GPU_BATCH = 64
GPU_SMALL_MODEL_BATCH = 256


def default_batch(device_type: str, parameters: float | None = None) -> int:
    """Rows per pass on a device of `device_type` ("cpu", "cuda") for a model of `parameters` (None: unknown)."""
    if device_type != "cuda":
        return CPU_BATCH
    return GPU_SMALL_MODEL_BATCH if parameters is not None and parameters < SMALL_MODEL_PARAMETERS else GPU_BATCH

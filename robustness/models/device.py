"""Device and dtype policy: CUDA when present, bf16 where the GPU supports it, fp32 on the CPU."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import torch

from robustness.errors import UserError

DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}


@dataclass(frozen=True)
class Accelerator:
    """What the machine offers; a value so the policy can be tested without a GPU."""

    cuda_devices: int
    cuda_bf16: bool

    @classmethod
    def probe(cls) -> Accelerator:
        if not torch.cuda.is_available():
            return cls(cuda_devices=0, cuda_bf16=False)
        return cls(cuda_devices=torch.cuda.device_count(), cuda_bf16=torch.cuda.is_bf16_supported())


def resolve_device(spec: str = "auto", accel: Accelerator | None = None) -> torch.device:
    """`auto` -> cuda:0 when CUDA is available, else cpu; `cpu`, `cuda` and `cuda:N` are checked."""
    accel = accel or Accelerator.probe()
    spec = spec.strip().lower()
    if spec == "auto":
        return torch.device("cuda:0" if accel.cuda_devices > 0 else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "cuda" or spec.startswith("cuda:"):
        if accel.cuda_devices == 0:
            raise UserError(f"device {spec!r} was asked for but CUDA is not available here; use 'auto' or 'cpu'")
        index = 0 if spec == "cuda" else _cuda_index(spec)
        if index >= accel.cuda_devices:
            raise UserError(f"device {spec!r} does not exist: this machine has {accel.cuda_devices} CUDA device(s)")
        return torch.device(f"cuda:{index}")
    raise UserError(f"unknown device {spec!r}; use auto, cpu, cuda or cuda:N")


def _cuda_index(spec: str) -> int:
    try:
        index = int(spec.split(":", 1)[1])
    except ValueError:
        index = -1
    if index < 0:
        raise UserError(f"unknown device {spec!r}; use auto, cpu, cuda or cuda:N")
    return index


def resolve_dtype(spec: str, device: torch.device, accel: Accelerator | None = None) -> torch.dtype:
    """`auto` -> bf16 on a CUDA device that supports it, fp16 on an older GPU, fp32 on the CPU."""
    spec = spec.strip().lower()
    if spec != "auto":
        if spec not in DTYPES:
            raise UserError(f"unknown dtype {spec!r}; use auto, {', '.join(sorted(DTYPES))}")
        return DTYPES[spec]
    if device.type != "cuda":
        return torch.float32
    accel = accel or Accelerator.probe()
    return torch.bfloat16 if accel.cuda_bf16 else torch.float16


def autocast(device: torch.device, name: str) -> AbstractContextManager[object]:
    """The training recipes' `autocast`: bfloat16 matrix products under torch.autocast, or none for float32."""
    if name == "float32":
        return nullcontext()
    if name != "bfloat16":
        raise UserError(f"unknown autocast {name!r}; use bfloat16 or float32")
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise UserError(f"{device} has no bfloat16 support; set `autocast: float32` in the expert recipe")
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)

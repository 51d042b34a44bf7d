"""Stand-in experts for benchmarks and tests: a base checkpoint plus seeded Gaussian noise.

The noise gives every tensor a dense, signed task vector, which exercises every merge method (TIES trimming and
sign election, DARE dropping) the way a real fine-tune does, without training one.
"""

from __future__ import annotations

import shutil
from pathlib import Path


def perturbed_copy(base: Path, out: Path, seed: int, std: float) -> Path:
    """Write `base` + N(0, std^2) noise (one seeded generator, tensors in file order) to the new folder `out`,
    with the base's config, tokenizer and chat template. `base` must hold a single model.safetensors."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file

    out.mkdir(parents=True)
    gen = torch.Generator().manual_seed(seed)
    tensors = {}
    with safe_open(str(base / "model.safetensors"), framework="pt") as f:
        for name in f.keys():  # noqa: SIM118 (a safetensors handle, not a dict)
            t = f.get_tensor(name)
            tensors[name] = t + std * torch.randn(t.shape, generator=gen)
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})
    for file in base.iterdir():  # conversion.json describes how the base was made, not this copy
        if file.is_file() and file.suffix in (".json", ".jinja") and file.name != "conversion.json":
            shutil.copy(file, out / file.name)
    return out

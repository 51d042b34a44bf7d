"""Independent dense reference for the merge tests, and the tiny Llama checkpoints they merge.

The reference loads whole state dicts and applies merging.md's formulas literally, over full tensors (and, for
global TIES, over one concatenated vector per model, ranked with a sort). It shares no code with `merges/`:
it re-derives DARE seeds and M3 draws from their documented rules, so a change to either rule, to the piecewise
streaming, or to the radix selection shows up as a mismatch.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

StateDict = dict[str, torch.Tensor]

TINY = {
    "vocab_size": 64,
    "hidden_size": 32,
    "intermediate_size": 48,
    "num_hidden_layers": 3,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 64,
    "tie_word_embeddings": False,
}


def save_tiny_llama(folder: Path, seed: int, vocab_size: int = 64) -> Path:
    """A random tiny Llama saved with `save_pretrained` (safetensors)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    model = LlamaForCausalLM(LlamaConfig(**{**TINY, "vocab_size": vocab_size}))
    model.save_pretrained(folder)
    return folder


def save_expert(base: Path, folder: Path, seed: int, extra_rows: int = 0, zero_delta: Sequence[str] = ()) -> Path:
    """A "fine-tune" of `base`: base + seeded noise of varied scale per tensor (so signs conflict between experts).

    `extra_rows` appends vocabulary rows to the embeddings and LM head (and raises vocab_size in the config);
    tensors named in `zero_delta` are left equal to the base.
    """
    folder.mkdir(parents=True, exist_ok=True)
    sd = load_state_dict(base)
    gen = torch.Generator().manual_seed(seed)
    out: StateDict = {}
    for name, t in sd.items():
        scale = 0.005 + 0.03 * torch.rand((), generator=gen).item()
        value = t.clone() if name in zero_delta else t + scale * torch.randn(t.shape, generator=gen)
        if extra_rows and name in ("model.embed_tokens.weight", "lm_head.weight"):
            value = torch.cat([value, torch.randn((extra_rows, t.shape[1]), generator=gen)])
        out[name] = value.contiguous()
    save_file(out, str(folder / "model.safetensors"), metadata={"format": "pt"})
    config = json.loads((base / "config.json").read_text())
    config["vocab_size"] = config["vocab_size"] + extra_rows
    (folder / "config.json").write_text(json.dumps(config))
    if (base / "generation_config.json").exists():
        shutil.copy(base / "generation_config.json", folder / "generation_config.json")
    return folder


def load_state_dict(folder: Path) -> StateDict:
    """All tensors of a folder (single or sharded safetensors, or pytorch_model.bin)."""
    files = sorted(folder.glob("*.safetensors"))
    if files:
        out: StateDict = {}
        for f in files:
            out.update(load_file(str(f)))
        return out
    return torch.load(folder / "pytorch_model.bin", weights_only=True)


# ---------------------------------------------------------------- independent re-derivations of the rules


def dare_mask(seed: int, name: str, k: int, shape: torch.Size, p: float) -> torch.Tensor:
    """Documented rule: torch.rand over the entries, generator seeded by sha256('seed/name/k')[:8] (LE, 63 bits)."""
    digest = hashlib.sha256(f"{seed}/{name}/{k}".encode()).digest()
    gen = torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") & (2**63 - 1))
    return (torch.rand(math.prod(shape), generator=gen) >= p).view(shape)


def expected_lambdas(alpha: float, k: int, seed: int, n_groups: int) -> list[list[float]]:
    """numpy default_rng(seed): Beta(alpha, alpha) for K = 2, Dirichlet(alpha * 1) for K > 2, one draw per group."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_groups):
        if k == 2:
            lam = float(rng.beta(alpha, alpha))
            out.append([lam, 1 - lam])
        else:
            out.append([float(x) for x in rng.dirichlet([alpha] * k)])
    return out


def group_of(name: str, per_block: bool) -> str:
    if not per_block:
        return "global"
    parts = name.split(".")
    if "layers" in parts:
        return f"block_{int(parts[parts.index('layers') + 1])}"
    return "outside_blocks"


def top_k_count(keep: float, n: int) -> int:
    return int(Decimal(repr(keep)) * n // 1)


def kth_largest(values: torch.Tensor, k: int) -> float:
    if k == 0:
        return math.inf
    return float(values.abs().flatten().sort(descending=True).values[k - 1])


# ---------------------------------------------------------------- the dense merge


def dense_merge(
    base: StateDict,
    models: Sequence[StateDict],
    method: str,
    params: dict[str, Any],
    lambdas: dict[str, list[float]] | None,
    per_block: bool = False,
    preserve_scale: bool = False,
    seed: int = 0,
) -> StateDict:
    """merging.md applied to whole state dicts. `lambdas` maps group -> weights (None: the plain method)."""
    k = len(models)
    inner = params.get("dare_method", "task_arithmetic") if method == "dare" else method
    p = params.get("drop_rate", 0.0) if method == "dare" else 0.0
    s = params.get("scaling", 1.0)
    rows = {n: t.shape[0] for n, t in base.items()}
    deltas: list[StateDict] = []
    for i, m in enumerate(models):
        d = {}
        for n, b in base.items():
            d[n] = m[n][: rows[n]] - b
            if p > 0:
                d[n] = torch.where(dare_mask(seed, n, i, b.shape, p), d[n] / (1 - p), torch.zeros(()))
        deltas.append(d)
    thresholds: dict[str, list[float]] = {}
    if inner == "ties":
        keep = params["keep"]
        if params.get("trim_scope", "global") == "global":
            flat = [torch.cat([d[n].flatten() for n in base]) for d in deltas]
            taus = [kth_largest(f, top_k_count(keep, f.numel())) for f in flat]
            thresholds = {n: taus for n in base}
        else:
            thresholds = {n: [kth_largest(d[n], top_k_count(keep, d[n].numel())) for d in deltas] for n in base}
    out: StateDict = {}
    for n, b in base.items():
        lam = None if lambdas is None else lambdas[group_of(n, per_block)]
        ds = [d[n] for d in deltas]
        if inner == "average":
            ts = [b + d if p > 0 else m[n][: rows[n]] for d, m in zip(ds, models, strict=True)]
            merged = torch.stack(ts).mean(0) if lam is None else sum(w * t for w, t in zip(lam, ts, strict=True))
        elif inner == "task_arithmetic":
            if lam is None:
                coef = [1.0] * k
            elif preserve_scale:
                coef = [k * w for w in lam]
            else:
                coef = list(lam)
            merged = b + s * sum(c * d for c, d in zip(coef, ds, strict=True))
        else:
            trimmed = torch.stack(
                [torch.where(d.abs() >= tau, d, 0.0) for d, tau in zip(ds, thresholds[n], strict=True)]
            )
            g = torch.sign(trimmed.sum(0))
            agree = (torch.sign(trimmed) == g) & (trimmed != 0)
            w = torch.tensor([1.0] * k if lam is None else lam).view(-1, *([1] * b.dim()))
            num = (w * trimmed * agree).sum(0)
            den = (w * agree).sum(0)
            merged = b + s * torch.where(den > 0, num / den.clamp_min(1e-30), 0.0)
        out[n] = _with_extra_rows(merged, [m[n] for m in models])
    return out


def _with_extra_rows(merged: torch.Tensor, full: Sequence[torch.Tensor]) -> torch.Tensor:
    """Vocabulary policy: rows past the base come from the models that have them, averaged where several do."""
    top = max(t.shape[0] for t in full)
    rows = []
    for r in range(merged.shape[0], top):
        having = [t[r] for t in full if t.shape[0] > r]
        rows.append(torch.stack(having).mean(0))
    return torch.cat([merged, torch.stack(rows)]) if rows else merged


def max_abs_diff(a: StateDict, b: StateDict) -> float:
    assert a.keys() == b.keys(), sorted(set(a) ^ set(b))
    worst = 0.0
    for n in a:
        assert a[n].shape == b[n].shape, (n, a[n].shape, b[n].shape)
        worst = max(worst, float((a[n].double() - b[n].double()).abs().max()))
    return worst


def merge_tiny(tiny: dict[str, Path], k: int, method: str, params: dict[str, Any], m3: dict[str, Any],
               out: Path) -> tuple[dict[str, Any], Any, dict[str, list[float]] | None]:  # fmt: skip
    """Merge the tiny base and its first `k` experts with the engine; the config, the result and the lambdas M3
    drew (checked against the documented rule), or None without M3."""
    from merges import merge

    config = {"base_model": str(tiny["base"]), "models": [str(tiny[f"e{i}"]) for i in range(1, k + 1)],
              "method": method, "parameters": params, "m3": m3, "seed": 1234, "device": "cpu"}  # fmt: skip
    result = merge(config, out)
    lambdas = None
    if m3["enabled"]:
        groups = ["global"] if not m3.get("per_block") else ["outside_blocks", "block_0", "block_1", "block_2"]
        lambdas = dict(zip(groups, expected_lambdas(m3["alpha"], k, m3["seed"], len(groups)), strict=True))
        assert result.lambdas == lambdas  # recorded, and drawn exactly by the documented rule
    return config, result, lambdas

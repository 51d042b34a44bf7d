"""FLOP accounting for score mode and the machine's matrix-product rate at the model's own shapes.

Shared by bench/score_roofline.py (the CPU roofline) and bench/gpu_check.py. Pure arithmetic, except
`matmul_rate`, which times matrix products on the device it is given.

Useful FLOPs of one `HFBackend.score` call (what a perfect machine must compute; padding is waste, not work):
- each token that runs: 2 x the non-embedding parameters (the decoder layers' matrices; norms are negligible);
- attention: per token and layer, 4 x heads x head_dim x its context length (query-key scores and the weighted sum
  of values), the context counting the shared prefix;
- the vocabulary projection, 2 x hidden x vocabulary, at each scored position only (one per row, one for the
  prefix pass);
- the shared prefix runs once per call (the backend computes its key/value cache once and reuses it).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Shape:
    """A decoder-only transformer's dimensions (Llama-style: gated MLP, grouped-query attention)."""

    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int

    @classmethod
    def from_config(cls, config: Any) -> Shape:
        heads = int(config.num_attention_heads)
        head_dim = int(getattr(config, "head_dim", None) or config.hidden_size // heads)
        return cls(
            layers=int(config.num_hidden_layers),
            hidden=int(config.hidden_size),
            heads=heads,
            kv_heads=int(getattr(config, "num_key_value_heads", None) or heads),
            head_dim=head_dim,
            intermediate=int(config.intermediate_size),
            vocab=int(config.vocab_size),
        )

    def linears(self) -> list[tuple[int, int]]:
        """(in, out) of each weight matrix of one layer: q, k, v, o, gate, up, down."""
        h, q, kv, i = self.hidden, self.heads * self.head_dim, self.kv_heads * self.head_dim, self.intermediate
        return [(h, q), (h, kv), (h, kv), (q, h), (h, i), (h, i), (i, h)]

    @property
    def layer_matrix_parameters(self) -> int:
        return self.layers * sum(a * b for a, b in self.linears())

    def token_flops(self, context: int) -> float:
        """FLOPs of one token through the layers (no vocabulary projection), attending to `context` positions."""
        return 2.0 * self.layer_matrix_parameters + 4.0 * self.layers * self.heads * self.head_dim * context

    @property
    def head_flops(self) -> float:
        return 2.0 * self.hidden * self.vocab


def score_flops(shape: Shape, prefix: int, suffixes: Sequence[int]) -> float:
    """Useful FLOPs of scoring rows that share `prefix` tokens and then have `suffixes` tokens of their own."""
    total = sum(shape.token_flops(t) for t in range(1, prefix + 1)) + (shape.head_flops if prefix else 0.0)
    for n in suffixes:
        total += sum(shape.token_flops(prefix + t) for t in range(1, n + 1)) + shape.head_flops
    return total


@dataclass(frozen=True)
class Batches:
    """How `HFBackend.score` runs a set of rows: the shared prefix, each row's own tokens, the batches' widths, and
    whether the batches run packed (their real tokens only) or left-padded to their widths."""

    prefix: int
    suffixes: tuple[int, ...]
    widths: tuple[int, ...]  # per batch: the longest suffix in it (a padded batch pads every row to it)
    sizes: tuple[int, ...]  # per batch: rows in it
    packed: bool = False

    @property
    def real_tokens(self) -> int:
        return self.prefix + sum(self.suffixes)

    @property
    def padded_tokens(self) -> int:
        """Tokens the weight matrices run: the real ones when packed."""
        if self.packed:
            return self.real_tokens
        return self.prefix + sum(w * n for w, n in zip(self.widths, self.sizes, strict=True))

    @property
    def typical_batch_tokens(self) -> int:
        """Tokens one batch runs after the prefix (padding included): the matrix products' first dimension."""
        return round((self.padded_tokens - self.prefix) / len(self.sizes))


def plan_batches(
    token_rows: Sequence[Sequence[int]], batch_size: int, min_prefix: int, packed: bool = False
) -> Batches:
    """The batches `HFBackend.score` forms for these tokenised rows (same prefix rule, same length sort)."""
    from robustness.models.backend import common_prefix

    prefix = common_prefix(token_rows) if len(token_rows) > 1 else []
    n = len(prefix) if len(prefix) >= min_prefix else 0
    suffixes = sorted(len(r) - n for r in token_rows)
    chunks = [suffixes[i : i + batch_size] for i in range(0, len(suffixes), batch_size)]
    return Batches(n, tuple(suffixes), tuple(max(c) for c in chunks), tuple(len(c) for c in chunks), packed)


def score_batches(loaded: Any, data: Any, rows: Sequence[int], prompt: Any, batch_size: int) -> Batches:
    """The batches `HFBackend.score` forms for `prompt` on `rows` of `data` with this loaded model's tokenizer and chat
    template (packed when the model is packable)."""
    from robustness.models.backend import HFBackend
    from robustness.models.chat import format_inputs
    from robustness.models.packed import packable

    texts = format_inputs(loaded.tokenizer, [prompt.format(data.sentences[i]) for i in rows])
    tokens = [list(t) for t in loaded.tokenizer(texts, add_special_tokens=False)["input_ids"]]
    return plan_batches(tokens, batch_size, HFBackend.MIN_PREFIX, packable(loaded.model))


def matmul_rate(shape: Shape, tokens: int, rows: int, dtype: Any, device: Any, seconds: float = 1.0) -> float:
    """FLOP/s of the model's own matrix products on `device` in `dtype`: one layer's seven weight matrices applied to
    `tokens` tokens (a typical batch) and the vocabulary projection applied to `rows` rows, each timed by repetition
    for about `seconds` / 8, weighted by their share of a forward pass's matrix FLOPs."""
    import torch

    gen = torch.Generator(device="cpu").manual_seed(0)

    def timed(m: int, k: int, n: int) -> float:
        x = torch.randn(m, k, generator=gen).to(device=device, dtype=dtype)
        w = torch.randn(n, k, generator=gen).to(device=device, dtype=dtype) * 0.02
        for _ in range(3):
            torch.nn.functional.linear(x, w)
        sync(device)
        reps, start = 0, time.perf_counter()
        while True:
            torch.nn.functional.linear(x, w)
            reps += 1
            if reps % 8 == 0:
                sync(device)
                if time.perf_counter() - start > seconds / 8:
                    break
        sync(device)
        return (time.perf_counter() - start) / reps

    flops = 0.0
    elapsed = 0.0
    for k, n in shape.linears():
        flops += 2.0 * tokens * k * n * shape.layers
        elapsed += timed(tokens, k, n) * shape.layers
    flops += 2.0 * rows * shape.hidden * shape.vocab
    elapsed += timed(rows, shape.hidden, shape.vocab)
    return flops / elapsed


def peak_matmul_rate(dtype: Any, device: Any, size: int = 8192, reps: int = 10) -> float:
    """FLOP/s of a large square matrix product (the device's practical peak in `dtype`), mean of `reps` after 3
    warm-ups."""
    import torch

    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    sync(device)
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    sync(device)
    return 2.0 * size**3 * reps / (time.perf_counter() - start)


def sync(device: Any) -> None:
    import torch

    if getattr(device, "type", str(device)).startswith("cuda"):
        torch.cuda.synchronize(device)

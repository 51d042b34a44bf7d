"""A Llama-family decoder run layer by layer, split at one layer: the lower part once per row, the upper part trained.

transformers runs all layers in one call; the top-layer trainer needs the hidden states at the split (computed once,
without gradients, and reused every epoch) and a pass that starts there. These functions are that forward pass,
written out: RMS norm, rotary attention with grouped key/value heads, gated MLP, as the model's own modules compute
them (they call the model's own submodules, so a LoRA or other wrapper on them still applies). Tests check them
against the model's own forward pass.

Rows that share a prompt share its first tokens (the chat header and the instruction). Those run once, as a
`prefix`, and the rows' own tokens (`suffix`, right-padded) run against its keys and values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from robustness.errors import UserError

KeyValues = list[tuple[torch.Tensor, torch.Tensor]]  # one (keys, values) per layer, each (batch, kv heads, seq, dim)

SUPPORTED = ("llama",)  # decoders whose layers are pre-norm rotary attention + gated MLP (SmolLM2, Llama 2)


@dataclass(frozen=True)
class PrefixPass:
    """The shared prefix after some layers: its hidden states there and each layer's keys and values."""

    hidden: torch.Tensor  # (1, P, D)
    key_values: KeyValues


def decoder_of(model: Any) -> Any:
    """The model's decoder, refused unless its layers are the kind these functions reproduce."""
    kind = getattr(model.config, "model_type", "?")
    if kind not in SUPPORTED:
        raise UserError(
            f"the top-layer trainer supports {', '.join(SUPPORTED)} decoders; "
            f"this base is {kind!r}: use `method: lora` in its expert recipe"
        )
    return model.get_decoder()


def embed(model: Any, ids: torch.Tensor) -> torch.Tensor:
    return decoder_of(model).embed_tokens(ids)


def _attention(
    layer: Any, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor], past: tuple[torch.Tensor, torch.Tensor] | None
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    from transformers.models.llama.modeling_llama import apply_rotary_pos_emb, repeat_kv

    attn = layer.self_attn
    batch, length, _ = x.shape
    shape = (batch, length, -1, attn.head_dim)
    q = attn.q_proj(x).view(shape).transpose(1, 2)
    k = attn.k_proj(x).view(shape).transpose(1, 2)
    v = attn.v_proj(x).view(shape).transpose(1, 2)
    q, k = apply_rotary_pos_emb(q, k, *rope)
    own = (k, v)
    if past is not None:  # the prefix's keys and values, one row, shared by every row of the batch
        pk, pv = past
        k = torch.cat([pk.expand(batch, -1, -1, -1), k], dim=2)
        v = torch.cat([pv.expand(batch, -1, -1, -1), v], dim=2)
    start = k.shape[2] - length
    # Every query sees the whole prefix and its own row's tokens up to itself. Padding sits at the right end of a
    # row, after all of its real tokens, so no real query sees it.
    visible = torch.ones((length, k.shape[2]), dtype=torch.bool, device=x.device).tril(diagonal=start)
    groups = attn.num_key_value_groups
    out = F.scaled_dot_product_attention(
        q, repeat_kv(k, groups), repeat_kv(v, groups), attn_mask=visible, scale=attn.scaling
    )
    return attn.o_proj(out.transpose(1, 2).reshape(batch, length, -1)), own


def run_layers(
    model: Any,
    hidden: torch.Tensor,
    layers: range,
    start: int,
    past: KeyValues | None = None,
) -> tuple[torch.Tensor, KeyValues]:
    """Hidden states after `layers`, for tokens at positions start, start + 1, ... (after `past`'s tokens), and the
    keys and values each layer computed for them."""
    decoder = decoder_of(model)
    positions = torch.arange(start, start + hidden.shape[1], device=hidden.device).unsqueeze(0)
    rope = decoder.rotary_emb(hidden, positions)
    kv: KeyValues = []
    for j, i in enumerate(layers):
        layer = decoder.layers[i]
        attended, own = _attention(layer, layer.input_layernorm(hidden), rope, None if past is None else past[j])
        hidden = hidden + attended
        hidden = hidden + layer.mlp(layer.post_attention_layernorm(hidden))
        kv.append(own)
    return hidden, kv


def run_prefix(model: Any, hidden: torch.Tensor, layers: range) -> PrefixPass:
    """The shared prefix (one row, positions from 0) through `layers`."""
    out, kv = run_layers(model, hidden, layers, 0)
    return PrefixPass(out, kv)


def run_suffix(model: Any, hidden: torch.Tensor, layers: range, prefix: PrefixPass | None) -> torch.Tensor:
    """Rows' own tokens (right-padded) through `layers`, after the prefix when there is one."""
    start = 0 if prefix is None else prefix.hidden.shape[1]
    out, _ = run_layers(model, hidden, layers, start, None if prefix is None else prefix.key_values)
    return out


def final_logits(model: Any, hidden: torch.Tensor) -> torch.Tensor:
    """Vocabulary logits of hidden states after the last layer (the final norm, then the output projection)."""
    return model.get_output_embeddings()(decoder_of(model).norm(hidden))

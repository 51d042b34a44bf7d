"""The model back end: the two verbs everything above it uses, `score` and `generate`, both batched.

Attacks, LiveBench and lambda selection see only this interface, so another engine (vLLM on GPUs) can
implement it later.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import torch

from robustness.batching import default_batch
from robustness.models.kvcache import cache_argument, returned_cache
from robustness.models.load import LoadedModel
from robustness.models.packed import packable, packed_last_logits


class Backend(Protocol):
    def score(self, texts: Sequence[str], label_words: Sequence[str]) -> torch.Tensor:
        """Log-probabilities (n_texts x n_labels) of each label word as the next token after each text."""
        ...

    def generate(self, texts: Sequence[str], max_new_tokens: int) -> list[str]:
        """Greedy continuations of each text (new text only)."""
        ...


def common_prefix(rows: Sequence[Sequence[int]]) -> list[int]:
    """The longest token prefix shared by every row, leaving each row at least one token of its own."""
    first = rows[0]
    limit = min(len(r) for r in rows) - 1
    n = 0
    while n < limit and all(r[n] == first[n] for r in rows):
        n += 1
    return list(first[:n])


def default_batch_size(device: torch.device, parameters: int | None = None) -> int:
    """Rows per forward pass when the config sets none: `robustness.batching.default_batch`."""
    return default_batch(device.type, parameters)


def label_token_ids(tokenizer: object, word: str) -> list[int]:
    """Distinct first tokens of `word` as the model might start it: with and without a leading space,
    lower-case and capitalised ("acceptable", " Acceptable", ...).

    A spelling whose first token is bare whitespace (a tokenizer that splits " Positive" as " " + "Positive")
    says nothing about the label and is skipped.
    """
    ids: list[int] = []
    for variant in dict.fromkeys((word, word.lower(), word.capitalize())):
        for prefix in ("", " "):
            tokens = tokenizer(prefix + variant, add_special_tokens=False)["input_ids"]  # type: ignore[operator]
            if not tokens or tokens[0] in ids:
                continue
            if not tokenizer.decode([tokens[0]]).strip():  # type: ignore[attr-defined]
                continue
            ids.append(tokens[0])
    if not ids:
        raise ValueError(f"label word {word!r} has no usable first token")
    return ids


class HFBackend:
    """transformers implementation of `Backend` on CPU or GPU.

    `score` sorts rows by length and, when every text starts with the same tokens (the chat header and the prompt's
    instruction), runs that prefix once and feeds only each row's remaining tokens against its key/value cache. A
    Llama-architecture model runs each batch packed, its real tokens only (robustness/models/packed.py); any other
    runs it left-padded through its own forward pass. `pack=False` forces the padded pass.
    """

    MIN_PREFIX = 8  # shorter shared prefixes are not worth a separate pass

    def __init__(
        self, loaded: LoadedModel, batch_size: int | None = None, reuse_prefix: bool = True, pack: bool = True
    ) -> None:
        self.loaded = loaded
        self.batch_size = batch_size or default_batch_size(
            loaded.device, sum(p.numel() for p in loaded.model.parameters()) if loaded.device.type == "cuda" else None
        )
        # A sliding-window cache cannot be rebuilt from plain key/value tensors; such models score without reuse.
        self.reuse_prefix = reuse_prefix and not getattr(loaded.model.config, "sliding_window", None)
        self.pack = pack and packable(loaded.model)

    def _encode(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        enc = self.loaded.tokenizer(list(texts), return_tensors="pt", padding=True, add_special_tokens=False)
        return {k: enc[k].to(self.loaded.device) for k in ("input_ids", "attention_mask")}

    def label_candidates(self, label_words: Sequence[str]) -> list[list[int]]:
        tok = self.loaded.tokenizer
        candidates = [label_token_ids(tok, w) for w in label_words]
        seen: dict[int, str] = {}
        for word, ids in zip(label_words, candidates, strict=True):
            for i in ids:
                if i in seen:
                    raise ValueError(f"label words {seen[i]!r} and {word!r} share a first token ({tok.decode([i])!r})")
                seen[i] = word
        return candidates

    @torch.inference_mode()
    def score(self, texts: Sequence[str], label_words: Sequence[str]) -> torch.Tensor:
        tok = self.loaded.tokenizer
        if tok.padding_side != "left":
            raise ValueError("scoring needs a left-padding tokenizer (load_tokenizer sets it)")
        candidates = self.label_candidates(label_words)
        if not texts:
            return torch.empty(0, len(label_words))
        ids = [list(x) for x in tok(list(texts), add_special_tokens=False)["input_ids"]]
        prefix = common_prefix(ids) if self.reuse_prefix and len(ids) > 1 else []
        if len(prefix) < self.MIN_PREFIX:
            prefix = []
        cache = self._prefix_cache(prefix) if prefix else None
        suffixes = [row[len(prefix) :] for row in ids]
        order = sorted(range(len(ids)), key=lambda i: len(suffixes[i]))
        out = torch.empty(len(ids), len(label_words))
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            batch = [suffixes[i] for i in rows]
            if self.pack:
                logits = packed_last_logits(self.loaded.model, batch, len(prefix), cache)
            else:
                logits = self._last_logits(batch, len(prefix), cache)
            logprobs = torch.log_softmax(logits.float(), dim=-1)
            # A label's score: probability mass of all its first-token spellings.
            scores = torch.stack([torch.logsumexp(logprobs[:, c], dim=-1) for c in candidates], dim=-1)
            out[rows] = scores.cpu()
        return out

    def _prefix_cache(self, prefix: list[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        ids = torch.tensor([prefix], device=self.loaded.device)
        past = returned_cache(self.loaded.model(input_ids=ids, use_cache=True, logits_to_keep=1))
        return [(layer.keys, layer.values) for layer in past.layers]

    def _last_logits(
        self, rows: list[list[int]], prefix_len: int, cache: list[tuple[torch.Tensor, torch.Tensor]] | None
    ) -> torch.Tensor:
        """Next-token logits after each row, the rows left-padded (after the shared prefix, when there is one)."""
        width = max(len(r) for r in rows)
        pad = self.loaded.tokenizer.pad_token_id
        input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), prefix_len + width), dtype=torch.long)
        mask[:, :prefix_len] = 1
        for r, row in enumerate(rows):
            input_ids[r, width - len(row) :] = torch.tensor(row)
            mask[r, prefix_len + width - len(row) :] = 1
        # Left padding shifts every real token. Rotary models do not mind a constant shift, but models with
        # absolute position embeddings do: position ids from the mask match an unpadded pass for both.
        positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, prefix_len:]
        kwargs: dict[str, object] = {}
        if cache is not None:
            from transformers import DynamicCache

            n = len(rows)
            kwargs[cache_argument(self.loaded.model)] = DynamicCache(
                ddp_cache_data=[(k.expand(n, -1, -1, -1), v.expand(n, -1, -1, -1)) for k, v in cache]
            )
        device = self.loaded.device
        out = self.loaded.model(
            input_ids=input_ids.to(device),
            attention_mask=mask.to(device),
            position_ids=positions.to(device),
            logits_to_keep=1,
            **kwargs,
        )
        return out.logits[:, -1, :]

    @torch.inference_mode()
    def generate(self, texts: Sequence[str], max_new_tokens: int) -> list[str]:
        tok = self.loaded.tokenizer
        results: list[str] = []
        for start in range(0, len(texts), self.batch_size):
            batch = self._encode(texts[start : start + self.batch_size])
            new = self.loaded.model.generate(
                **batch, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id
            )[:, batch["input_ids"].shape[1] :]
            results += tok.batch_decode(new, skip_special_tokens=True)
        return results

"""Fine-tune the top layers of the base on an expert's examples, with the frozen lower layers run once per row.

Why: a forward and backward pass through the whole 135M network costs 0.1-0.3 s a row on two cores, so a pass over
CoLA's training rows does not fit the build budget, and LoRA on one pass over a few thousand rows did not learn
CoLA (README). The lower layers stay as they are, so their output at `first_layer` is computed once per row
(without gradients) and reused every epoch; only the layers from `first_layer` up run per step, with all their
weights trained. The loss is the target tokens' cross-entropy (so the model answers in words) plus a two-way
cross-entropy between the label words' scores as score mode computes them (so it learns the decision). The best
step by MCC or accuracy on held-out rows of the *training* file is kept; the dev split is never seen.

The result is a plain checkpoint of the base's shapes whose weights differ from the base's in the top layers only.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from robustness.errors import UserError
from robustness.experts import stack
from robustness.experts.examples import Example
from robustness.experts.progress import training_progress
from robustness.experts.recipe import TopLayersRecipe
from robustness.experts.train import IGNORE, lr_factor
from robustness.metrics import METRICS, metric_for
from robustness.models.backend import common_prefix, label_token_ids
from robustness.models.device import autocast
from robustness.prompts import label_words

EVAL_BATCH = 32


@dataclass(frozen=True)
class CachedRow:
    """One example after the frozen layers: its prompt's prefix index and its own tokens' hidden states."""

    prompt: int
    hidden: torch.Tensor  # (L, D): the row's own tokens (sentence, answer cue, target) at `first_layer`
    ids: torch.Tensor  # (L,) those tokens
    target_start: int  # index into ids where the target (label word + end of turn) starts
    label: int


@dataclass
class Cache:
    prefixes: list[torch.Tensor]  # per prompt: (1, P, D) at `first_layer`
    rows: list[CachedRow]

    def group(self, members: Sequence[int]) -> tuple[torch.Tensor, list[CachedRow]]:
        """Rows that share a prompt, with that prompt's prefix."""
        rows = [self.rows[i] for i in members]
        return self.prefixes[rows[0].prompt], rows


@dataclass
class TopLayersLog:
    losses: list[float] = field(default_factory=list)
    holdout: list[tuple[int, float]] = field(default_factory=list)  # (step, holdout metric)
    best_step: int = 0
    cache_seconds: float = 0.0
    seconds: float = 0.0


def prefix_length(examples: Sequence[Example]) -> int:
    """Tokens all `examples` start with, stopping before the token that predicts the first target token."""
    limit = min(e.target_start for e in examples) - 1
    return len(common_prefix([list(e.input_ids) for e in examples])[:limit]) if len(examples) > 1 else 0


def _padded(rows: Sequence[CachedRow]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded hidden states (B, T, D) and token ids (B, T) with IGNORE where a row has no token."""
    width = max(len(r.ids) for r in rows)
    dim = rows[0].hidden.shape[-1]
    hidden = rows[0].hidden.new_zeros((len(rows), width, dim))
    ids = torch.full((len(rows), width), IGNORE, dtype=torch.long, device=rows[0].ids.device)
    for i, r in enumerate(rows):
        hidden[i, : len(r.ids)] = r.hidden
        ids[i, : len(r.ids)] = r.ids
    return hidden, ids


@torch.inference_mode()
def cache_lower(
    model: Any, examples: Sequence[Example], prompts: Sequence[int], labels: Sequence[int], first_layer: int
) -> Cache:
    """Every example through layers below `first_layer`, its prompt's shared prefix once per prompt."""
    device = next(model.parameters()).device
    lower = range(first_layer)
    by_prompt: dict[int, list[int]] = defaultdict(list)
    for i, p in enumerate(prompts):
        by_prompt[p].append(i)
    prefixes: list[torch.Tensor] = []
    rows: list[CachedRow | None] = [None] * len(examples)
    for slot, (_, members) in enumerate(sorted(by_prompt.items())):
        group = [examples[i] for i in members]
        p = prefix_length(group)
        if p == 0:
            raise UserError("the rows of one training prompt share no tokens; the top-layer trainer needs a prompt")
        start_ids = torch.tensor([group[0].input_ids[:p]], device=device)
        prefix = stack.run_prefix(model, stack.embed(model, start_ids), lower)
        prefixes.append(prefix.hidden)
        order = sorted(members, key=lambda i: len(examples[i].input_ids))
        for start in range(0, len(order), EVAL_BATCH):
            chunk = order[start : start + EVAL_BATCH]
            own = [torch.tensor(examples[i].input_ids[p:], device=device) for i in chunk]
            ids = torch.nn.utils.rnn.pad_sequence(own, batch_first=True, padding_value=0)
            hidden = stack.run_suffix(model, stack.embed(model, ids), lower, prefix)
            for j, i in enumerate(chunk):
                n = len(own[j])
                rows[i] = CachedRow(slot, hidden[j, :n].clone(), own[j], examples[i].target_start - p, labels[i])
    return Cache(prefixes, [r for r in rows if r is not None])


class TopLayersModel:
    """The upper layers of a model, run from cached hidden states."""

    def __init__(self, model: Any, first_layer: int, label_candidates: list[list[int]]) -> None:
        self.model = model
        self.upper = range(first_layer, model.config.num_hidden_layers)
        self.candidates = label_candidates

    def logits(self, prefix: torch.Tensor, rows: Sequence[CachedRow]) -> tuple[torch.Tensor, torch.Tensor]:
        """Hidden states after the last layer (B, T, D) for rows of one prompt, and their padded token ids."""
        upper_prefix = stack.run_prefix(self.model, prefix, self.upper)
        hidden, ids = _padded(rows)
        return stack.run_suffix(self.model, hidden, self.upper, upper_prefix), ids

    def class_logits(self, vocab_logits: torch.Tensor) -> torch.Tensor:
        """Each label's score as score mode computes it: the mass of its first-token spellings (up to a constant)."""
        return torch.stack([torch.logsumexp(vocab_logits[:, c], dim=-1) for c in self.candidates], dim=-1)

    def loss_sums(self, prefix: torch.Tensor, rows: Sequence[CachedRow]) -> tuple[torch.Tensor, torch.Tensor, int]:
        """Summed target-token cross-entropy, summed two-way label cross-entropy, and the target token count."""
        hidden, ids = self.logits(prefix, rows)
        starts = torch.tensor([r.target_start for r in rows], device=ids.device)
        positions = torch.arange(ids.shape[1], device=ids.device).unsqueeze(0)
        targets = torch.where(positions >= starts.unsqueeze(1), ids, IGNORE)[:, 1:]
        where = targets != IGNORE
        vocab = stack.final_logits(self.model, hidden[:, :-1][where])
        lm = F.cross_entropy(vocab.float(), targets[where], reduction="sum")
        first = hidden[torch.arange(len(rows)), starts - 1]  # the position that predicts the label word
        labels = torch.tensor([r.label for r in rows], device=ids.device)
        scores = self.class_logits(stack.final_logits(self.model, first).float())
        return lm, F.cross_entropy(scores, labels, reduction="sum"), int(where.sum())

    @torch.inference_mode()
    def predict(self, cache: Cache) -> list[int]:
        """Predicted label of every cached row (the label whose score is higher, as in score mode)."""
        out = [0] * len(cache.rows)
        for members in _by_prompt(cache.rows).values():
            for start in range(0, len(members), EVAL_BATCH):
                chunk = members[start : start + EVAL_BATCH]
                prefix, rows = cache.group(chunk)
                hidden, _ = self.logits(prefix, rows)
                last = hidden[torch.arange(len(rows)), torch.tensor([r.target_start - 1 for r in rows])]
                scores = self.class_logits(stack.final_logits(self.model, last).float())
                for i, s in zip(chunk, scores.argmax(-1).tolist(), strict=True):
                    out[i] = int(s)
        return out


def _by_prompt(rows: Sequence[CachedRow]) -> dict[int, list[int]]:
    groups: dict[int, list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        groups[r.prompt].append(i)
    return dict(sorted(groups.items()))


def epoch_groups(
    rows: Sequence[CachedRow], group: int, rng: np.random.Generator, length_jitter: float | None = None
) -> list[list[int]]:
    """One epoch's groups of `group` rows that share a prompt, each as balanced between labels as the rows allow;
    rows regroup and groups reorder every epoch (seeded). With `length_jitter`, each label's rows are ordered by
    their length plus a random offset of up to that many tokens before they are dealt into groups, so a group's
    rows have about the same length (less padding); without it, in random order."""
    groups: list[list[int]] = []
    for members in _by_prompt(rows).values():
        by_label = [[i for i in members if rows[i].label == y] for y in (0, 1)]
        for pool in by_label:
            rng.shuffle(pool)
        if length_jitter is not None:
            by_label = [_by_length(pool, rows, length_jitter, rng) for pool in by_label]
        first = int(rng.integers(2))
        a, b = by_label[first], by_label[1 - first]
        mixed = [x for pair in zip(a, b, strict=False) for x in pair] + a[len(b) :] + b[len(a) :]
        groups += [mixed[s : s + group] for s in range(0, len(mixed), group)]
    order = rng.permutation(len(groups))
    return [groups[i] for i in order]


def _by_length(pool: list[int], rows: Sequence[CachedRow], jitter: float, rng: np.random.Generator) -> list[int]:
    """`pool` ordered by each row's length plus a uniform offset in [0, jitter) tokens (a stable sort, so rows of one
    length keep the shuffled order)."""
    offsets = rng.uniform(0.0, jitter, len(pool)) if jitter > 0 else np.zeros(len(pool))
    keys = [len(rows[i].ids) + float(o) for i, o in zip(pool, offsets, strict=True)]
    return [pool[k] for k in sorted(range(len(pool)), key=keys.__getitem__)]


def batches(groups: list[list[int]], rows_per_batch: int) -> Iterator[list[list[int]]]:
    """Consecutive groups packed into batches of about `rows_per_batch` rows."""
    batch: list[list[int]] = []
    size = 0
    for g in groups:
        batch.append(g)
        size += len(g)
        if size >= rows_per_batch:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def trainable_parameters(model: Any, first_layer: int) -> list[torch.nn.Parameter]:
    """Every weight of the layers from `first_layer` up and of the final norm; nothing else gets gradients."""
    decoder = stack.decoder_of(model)
    total = model.config.num_hidden_layers
    if not 0 < first_layer < total:
        raise UserError(f"first_layer {first_layer}: the base has {total} layers; pick 1 to {total - 1}")
    for p in model.parameters():
        p.requires_grad_(False)
    params = [p for layer in decoder.layers[first_layer:] for p in layer.parameters()] + list(decoder.norm.parameters())
    for p in params:
        p.requires_grad_(True)
    return params


def label_candidates(tokenizer: Any, task: str) -> list[list[int]]:
    return [label_token_ids(tokenizer, w) for w in label_words(task)]


def train_top_layers(
    model: Any,
    tokenizer: Any,
    train: tuple[Sequence[Example], Sequence[int], Sequence[int]],
    holdout: tuple[Sequence[Example], Sequence[int], Sequence[int]],
    recipe: TopLayersRecipe,
    label: str,
) -> tuple[Any, TopLayersLog]:
    """Train `model`'s top layers in place; `train` and `holdout` are (examples, prompt indices, labels).
    Returns the model with the best holdout step's weights, and the log."""
    torch.manual_seed(recipe.seed)
    rng = np.random.default_rng(recipe.seed)
    log = TopLayersLog()
    model.eval()  # no dropout; gradients still flow
    params = trainable_parameters(model, recipe.first_layer)
    device = next(model.parameters()).device
    t0 = time.perf_counter()
    with autocast(device, recipe.autocast):
        train_cache = cache_lower(model, *train, recipe.first_layer)
        holdout_cache = cache_lower(model, *holdout, recipe.first_layer)
    log.cache_seconds = time.perf_counter() - t0
    top = TopLayersModel(model, recipe.first_layer, label_candidates(tokenizer, recipe.task))
    metric = METRICS[metric_for(recipe.task)]
    holdout_labels = [r.label for r in holdout_cache.rows]
    optimizer = torch.optim.AdamW(params, lr=recipe.learning_rate, weight_decay=0.0)
    plan = [
        list(
            batches(
                epoch_groups(train_cache.rows, recipe.rows_per_prompt, rng, recipe.length_jitter), recipe.batch_size
            )
        )
        for _ in range(recipe.epochs)
    ]
    total = sum(len(epoch) for epoch in plan)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, recipe.warmup_steps, total))

    def evaluate(step: int, best: tuple[float, dict[str, torch.Tensor] | None]) -> tuple[float, Any]:
        with autocast(device, recipe.autocast):
            score = metric(holdout_labels, top.predict(holdout_cache))
        log.holdout.append((step, round(score, 4)))
        if best[1] is None or score > best[0]:
            log.best_step = step
            return score, {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
        return best

    best: tuple[float, dict[str, torch.Tensor] | None] = (-2.0, None)
    step = 0
    with training_progress(label, total) as advance:
        for epoch in plan:
            for batch in epoch:
                with autocast(device, recipe.autocast):
                    parts = [top.loss_sums(*train_cache.group(g)) for g in batch]
                rows = sum(len(g) for g in batch)
                lm = torch.stack([p[0] for p in parts]).sum() / sum(p[2] for p in parts)
                cls = torch.stack([p[1] for p in parts]).sum() / rows
                loss = lm + recipe.class_loss_weight * cls
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"{label}: loss became {loss.item()} at step {step}")
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                log.losses.append(round(loss.item(), 6))
                if step % recipe.eval_every == 0 or step == total:
                    best = evaluate(step, best)
                recent = log.losses[-10:]
                advance(f"{sum(recent) / len(recent):.4f}", log.holdout[-1][1] if log.holdout else None)
    if best[1] is not None:
        with torch.no_grad():
            for name, p in model.named_parameters():
                if name in best[1]:
                    p.copy_(best[1][name])
    for p in model.parameters():
        p.requires_grad_(False)
    log.seconds = time.perf_counter() - t0
    return model, log

"""LoRA fine-tuning of the base on an expert's examples, then merged into full weights."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from robustness.errors import UserError
from robustness.experts.examples import Example
from robustness.experts.progress import training_progress
from robustness.experts.recipe import LoraRecipe
from robustness.models.backend import common_prefix
from robustness.models.device import autocast
from robustness.models.kvcache import cache_argument, returned_cache

IGNORE = -100
MIN_SHARED_PREFIX = 8  # a shorter shared start is not worth a separate pass


@dataclass
class TrainLog:
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0


def collate(batch: Sequence[Example], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad a batch; labels are -100 by position (prompt and padding), never by token id."""
    width = max(len(e.input_ids) for e in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, e in enumerate(batch):
        n = len(e.input_ids)
        ids[row, :n] = torch.tensor(e.input_ids)
        mask[row, :n] = 1
        labels[row, e.target_start : n] = ids[row, e.target_start : n]
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def target_loss_sum(model: Any, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
    """Summed next-token cross-entropy over the target positions, and their number. Projects onto the vocabulary
    only where a target token is predicted (about 3 of 75 positions here; the projection onto SmolLM2's
    49,152-word vocabulary is otherwise a fifth of a training step)."""
    hidden = model.get_decoder()(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])[0]
    return _summed_target_loss(model, hidden, batch["labels"])


def _summed_target_loss(model: Any, hidden: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, int]:
    shifted = labels[:, 1:].to(hidden.device)
    where = shifted != IGNORE
    logits = model.get_output_embeddings()(hidden[:, :-1][where])
    return torch.nn.functional.cross_entropy(logits.float(), shifted[where], reduction="sum"), int(where.sum())


def target_loss(model: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean next-token cross-entropy over the target positions: what `model(**batch).loss` computes."""
    total, count = target_loss_sum(model, batch)
    return total / count


def shared_prefix_loss_sum(
    model: Any, examples: Sequence[Example], pad_id: int, device: torch.device
) -> tuple[torch.Tensor, int]:
    """`target_loss_sum` of the collated examples, running the tokens they all start with once instead of per row.

    Rows with one prompt share the chat header and the prompt's instruction: about 54 of 71 tokens for CoLA. Those
    keys and values are computed for one row (with gradients, since LoRA changes them) and broadcast to the rows;
    only each row's own tokens (sentence, answer cue, target) run per row.
    """
    ids = [list(e.input_ids) for e in examples]
    # The first target token is predicted from the token before it, which must be in the per-row part.
    limit = min(e.target_start for e in examples) - 1
    prefix = common_prefix(ids)[:limit] if len(ids) > 1 else []
    if len(prefix) < MIN_SHARED_PREFIX:
        return target_loss_sum(model, {k: v.to(device) for k, v in collate(examples, pad_id).items()})
    p = len(prefix)
    decoder = model.get_decoder()
    past = returned_cache(decoder(input_ids=torch.tensor([prefix], device=device), use_cache=True))
    n = len(examples)
    for layer in past.layers:  # broadcast the one prefix row to the batch; gradients sum back through expand
        layer.keys = layer.keys.expand(n, -1, -1, -1)
        layer.values = layer.values.expand(n, -1, -1, -1)
    suffix = collate([Example(e.input_ids[p:], e.target_start - p) for e in examples], pad_id)
    width = suffix["input_ids"].shape[1]
    mask = torch.cat([torch.ones((n, p), dtype=torch.long), suffix["attention_mask"]], dim=1)
    positions = torch.arange(p, p + width).expand(n, -1)
    hidden = decoder(
        input_ids=suffix["input_ids"].to(device),
        attention_mask=mask.to(device),
        position_ids=positions.to(device),
        use_cache=True,
        **{cache_argument(decoder): past},
    )[0]
    return _summed_target_loss(model, hidden, suffix["labels"])


def batch_loss(
    model: Any, examples: Sequence[Example], pad_id: int, device: torch.device, group: int | None = None
) -> torch.Tensor:
    """Mean target-token loss of a batch (equal to `target_loss` of the collated batch) whose consecutive runs of
    `group` rows share a prompt; each run's shared tokens are computed once. `group=None`: the whole batch."""
    group = group or len(examples)
    parts = [
        shared_prefix_loss_sum(model, examples[i : i + group], pad_id, device) for i in range(0, len(examples), group)
    ]
    return torch.stack([total for total, _ in parts]).sum() / sum(count for _, count in parts)


def lr_factor(step: int, warmup: int, total: int) -> float:
    """Linear warm-up, then linear decay to zero."""
    if step < warmup:
        return (step + 1) / warmup
    return max(0.0, (total - step) / max(1, total - warmup))


def _layers_from(model: Any, first: int | None) -> list[int] | None:
    if first is None:
        return None
    total = model.config.num_hidden_layers
    if first >= total:
        raise UserError(f"first_layer {first}: the base has {total} layers (0 to {total - 1})")
    return list(range(first, total))


def train_lora(
    model: Any, examples: Sequence[Example], recipe: LoraRecipe, pad_id: int, label: str
) -> tuple[Any, TrainLog]:
    """Train LoRA adapters on `model` (in place) and return the merged plain model and the loss log."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(recipe.seed)  # LoRA's A matrices are drawn from torch's generator
    config = LoraConfig(
        r=recipe.rank,
        lora_alpha=recipe.lora_alpha,
        lora_dropout=0.0,
        target_modules=list(recipe.target_modules),
        layers_to_transform=_layers_from(model, recipe.first_layer),
        task_type="CAUSAL_LM",
    )
    peft_model = get_peft_model(model, config)
    peft_model.train()
    device = next(model.parameters()).device
    params = [p for p in peft_model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=recipe.learning_rate, weight_decay=0.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, recipe.warmup_steps, recipe.steps))
    log = TrainLog()
    start = time.perf_counter()
    with training_progress(label, recipe.steps) as advance:
        for step in range(recipe.steps):
            batch = examples[step * recipe.batch_size : (step + 1) * recipe.batch_size]
            with autocast(device, recipe.autocast):
                loss = batch_loss(peft_model, batch, pad_id, device, recipe.rows_per_prompt)
            if not math.isfinite(loss.item()):
                raise FloatingPointError(f"{label}: loss became {loss.item()} at step {step}")
            loss.backward()
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            log.losses.append(round(loss.item(), 6))
            recent = log.losses[-10:]
            advance(f"{sum(recent) / len(recent):.4f}", None)
    log.seconds = time.perf_counter() - start
    merged = peft_model.merge_and_unload()
    merged.eval()
    return merged, log

"""LoRA fine-tuning of the base on an expert's examples, then merged into full weights."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from robustness.experts.examples import Example
from robustness.experts.recipe import ExpertRecipe

IGNORE = -100


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


def target_loss(model: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean next-token cross-entropy over the target positions: what `model(**batch).loss` computes, but projecting
    onto the vocabulary only where a target token is predicted (about 3 of 75 positions here; the projection onto
    SmolLM2's 49,152-word vocabulary is otherwise a fifth of a training step)."""
    hidden = model.get_decoder()(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])[0]
    labels = batch["labels"][:, 1:]
    where = labels != IGNORE
    logits = model.get_output_embeddings()(hidden[:, :-1][where])
    return torch.nn.functional.cross_entropy(logits.float(), labels[where])


def lr_factor(step: int, warmup: int, total: int) -> float:
    """Linear warm-up, then linear decay to zero."""
    if step < warmup:
        return (step + 1) / warmup
    return max(0.0, (total - step) / max(1, total - warmup))


def train_lora(
    model: Any, examples: Sequence[Example], recipe: ExpertRecipe, pad_id: int, label: str
) -> tuple[Any, TrainLog]:
    """Train LoRA adapters on `model` (in place) and return the merged plain model and the loss log."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(recipe.seed)  # LoRA's A matrices are drawn from torch's generator
    config = LoraConfig(
        r=recipe.rank,
        lora_alpha=recipe.lora_alpha,
        lora_dropout=0.0,
        target_modules=list(recipe.target_modules),
        task_type="CAUSAL_LM",
    )
    peft_model = get_peft_model(model, config)
    peft_model.train()
    device = next(model.parameters()).device
    use_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
    params = [p for p in peft_model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=recipe.learning_rate, weight_decay=0.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, recipe.warmup_steps, recipe.steps))
    log = TrainLog()
    start = time.perf_counter()
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True)) as progress:
        task = progress.add_task(label, total=recipe.steps, loss="-")
        for step in range(recipe.steps):
            batch = collate(examples[step * recipe.batch_size : (step + 1) * recipe.batch_size], pad_id)
            batch = {k: v.to(device) for k, v in batch.items()}
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_bf16):
                loss = target_loss(peft_model, batch)
            if not math.isfinite(loss.item()):
                raise FloatingPointError(f"{label}: loss became {loss.item()} at step {step}")
            loss.backward()
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            log.losses.append(round(loss.item(), 6))
            recent = log.losses[-10:]
            progress.update(task, advance=1, loss=f"{sum(recent) / len(recent):.4f}")
    log.seconds = time.perf_counter() - start
    merged = peft_model.merge_and_unload()
    merged.eval()
    return merged, log

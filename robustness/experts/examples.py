"""Training examples for an expert: balanced rows, prompts rotated, the label word as the only target."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from robustness.data.glue import GlueSplit
from robustness.errors import UserError
from robustness.models.chat import format_inputs
from robustness.prompts import Prompt, answer_word


@dataclass(frozen=True)
class Example:
    input_ids: tuple[int, ...]
    target_start: int  # tokens from here on are the target (label word + end of turn)


def balanced_rows(data: GlueSplit, n: int, seed: int) -> list[int]:
    """`n` row indices, half of each label (the odd one positive), drawn with `seed`, labels alternating.

    Alternating labels make every even-sized batch exactly balanced, so no batch pushes the model towards one
    label word: with shuffled rows a batch of 8 is often 6 to 2, and the class bias the expert ends with is the
    random walk of its last batches.
    """
    rng = np.random.default_rng(seed)
    labels = np.asarray(data.labels)
    picked: dict[int, list[int]] = {}
    for label, count in ((0, n // 2), (1, n - n // 2)):
        pool = np.flatnonzero(labels == label)
        if len(pool) < count:
            raise UserError(f"{data.dataset} train has {len(pool)} rows of label {label}; the recipe needs {count}")
        picked[label] = [int(i) for i in rng.choice(pool, size=count, replace=False)]
    first = int(rng.integers(2)) if n % 2 == 0 else 1  # with an odd n the extra positive row leads
    order = [picked[first], picked[1 - first]]
    return [order[k % 2][k // 2] for k in range(n)]


def data_digest(data: GlueSplit, rows: list[int], prompts: list[Prompt]) -> str:
    """Hash of the exact training rows (text and label) and prompts, so changed data means a new expert."""
    h = hashlib.sha256()
    for p in prompts:
        h.update(f"{p.name}\t{p.text}\n".encode())
    for i in rows:
        h.update(f"{data.labels[i]}\t{data.sentences[i]}\n".encode())
    return h.hexdigest()[:16]


def prompt_slot(k: int, rows_per_prompt: int, n_prompts: int) -> int:
    """The prompt row k of an expert's rows uses: prompts rotate every `rows_per_prompt` rows."""
    return (k // rows_per_prompt) % n_prompts


def build_examples(
    tokenizer: Any, data: GlueSplit, rows: list[int], prompts: list[Prompt], max_length: int, rows_per_prompt: int = 1
) -> list[Example]:
    """Row k uses prompt (k // rows_per_prompt) mod len(prompts): the prompts rotate, and each run of rows that
    shares a prompt shares its tokens (the trainer runs those once). The target is the label word as that prompt
    spells it."""
    if not prompts:
        raise UserError("an expert needs at least one training prompt")
    end = tokenizer.eos_token
    examples = []
    for k, i in enumerate(rows):
        prompt = prompts[prompt_slot(k, rows_per_prompt, len(prompts))]
        text = format_inputs(tokenizer, [prompt.format(data.sentences[i])])[0]
        source = tokenizer(text, add_special_tokens=False)["input_ids"]
        # Tokenised apart and joined, so the target boundary is exact; the end-of-turn token is part of the
        # target even though it doubles as the pad token (a collator that masks pad ids would drop it).
        target = tokenizer(answer_word(prompt, data.labels[i]) + end, add_special_tokens=False)["input_ids"]
        source = source[-(max_length - len(target)) :]
        examples.append(Example(tuple(source + target), len(source)))
    return examples

"""PromptBench's zero-shot prompts for SST-2 and CoLA, and the label words each task answers with.

The prompts are read from the data root (`promptbench/zeroshot_prompts_sst2_cola.json`): 10 task-oriented and
10 role-oriented prompts per dataset. A prompt is addressed by its index 0-19 (task-oriented first) or its
name, e.g. `task_oriented:0` or `role_oriented:3`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from robustness.data.glue import dataset_info
from robustness.errors import UserError
from robustness.paths import DATA_ENV, resolve_data_dir
from robustness.textfile import read_text

PROMPTS_FILE = Path("promptbench") / "zeroshot_prompts_sst2_cola.json"
FAMILIES = ("task_oriented", "role_oriented")
PLACEHOLDER = "{content}"


@dataclass(frozen=True)
class Prompt:
    dataset: str
    family: str
    index: int  # 0-19 over both families, task-oriented first
    text: str

    @property
    def name(self) -> str:
        return f"{self.family}:{self.index % 10}"

    def format(self, sentence: str) -> str:
        return self.text.replace(PLACEHOLDER, sentence)


def check_template(text: str) -> str:
    """A custom prompt must hold the `{content}` placeholder exactly once."""
    count = text.count(PLACEHOLDER)
    if count != 1:
        raise UserError(f"a prompt must contain the placeholder {PLACEHOLDER} exactly once (found {count}): {text!r}")
    return text


def load_prompts(dataset: str, data_dir: str | os.PathLike[str] | None = None) -> list[Prompt]:
    info = dataset_info(dataset)
    root = resolve_data_dir(data_dir)
    if root is None or not (root / PROMPTS_FILE).is_file():
        where = f"{root / PROMPTS_FILE} does not exist" if root else f"no data root is set ({DATA_ENV} or data_dir)"
        raise UserError(
            f"PromptBench prompts not found: {where}; point the data root at a folder holding {PROMPTS_FILE}"
        )
    try:
        raw = json.loads(read_text(root / PROMPTS_FILE, "PromptBench prompts file"))
    except json.JSONDecodeError as exc:
        raise UserError(f"{root / PROMPTS_FILE}: not JSON ({exc}); restore PromptBench's prompt file") from None
    prompts: list[Prompt] = []
    for family in FAMILIES:
        texts = raw.get(family, {}).get(info.name)
        if not isinstance(texts, list) or not texts:
            raise UserError(f"{root / PROMPTS_FILE}: no {family} prompts for {info.name}")
        start = len(prompts)
        prompts += [Prompt(info.name, family, start + i, check_template(t)) for i, t in enumerate(texts)]
    return prompts


def get_prompt(dataset: str, key: int | str, data_dir: str | os.PathLike[str] | None = None) -> Prompt:
    """A prompt by index (0-19, or "7") or name (`task_oriented:0`)."""
    prompts = load_prompts(dataset, data_dir)
    text_key = str(key).strip()
    if text_key.isdigit():
        i = int(text_key)
        if i >= len(prompts):
            raise UserError(f"prompt index {i} is out of range: {dataset} has prompts 0-{len(prompts) - 1}")
        return prompts[i]
    for p in prompts:
        if p.name == text_key:
            return p
    names = ", ".join(f"{f}:0-9" for f in FAMILIES)
    raise UserError(f"unknown prompt {key!r}; use an index 0-{len(prompts) - 1} or a name ({names})")


def label_words(dataset: str) -> tuple[str, ...]:
    """Label words in label-id order (sst2: negative, positive; cola: unacceptable, acceptable)."""
    return dataset_info(dataset).label_names


def answer_word(prompt: Prompt, label: int) -> str:
    """The label word as this prompt spells it: PromptBench's CoLA task prompts ask for 'Acceptable'."""
    word = label_words(prompt.dataset)[label]
    return word.capitalize() if f"'{word.capitalize()}'" in prompt.text else word

"""What an expert is trained from: a validated, hashable recipe. Its hash keys the expert cache."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from robustness.configfile import load_config

# Bump when the training code changes in a way that changes the weights it produces.
TRAINER_VERSION = 3  # 2: label-alternating batches; 3: prompts rotate by groups of rows


class ExpertRecipe(BaseModel):
    """One expert: LoRA on the base, trained on `train_rows` balanced rows of its task's train split."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    task: Literal["sst2", "cola"]
    steps: int = Field(gt=0, le=100_000)
    batch_size: int = Field(default=8, gt=0, le=1024)
    learning_rate: float = Field(default=5e-4, gt=0, lt=1)
    warmup_steps: int = Field(default=5, ge=0)
    rank: int = Field(default=8, gt=0, le=1024)
    lora_alpha: int = Field(default=16, gt=0)
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    # LoRA on the layers from this index up (None: all). Backpropagation stops below it, so a step is cheaper.
    first_layer: int | None = Field(default=None, ge=0)
    # Consecutive rows that share a prompt: the prompts rotate every `rows_per_prompt` rows, and the trainer runs
    # the tokens those rows share once. A batch holds batch_size / rows_per_prompt prompts.
    rows_per_prompt: int = Field(default=8, gt=0)
    max_length: int = Field(default=192, ge=32)
    eval_prompt: str = "task_oriented:0"  # held out of training; the clean scores use it
    seed: int = 0

    @model_validator(mode="after")
    def _whole_prompt_groups(self) -> ExpertRecipe:
        if self.batch_size % self.rows_per_prompt:
            raise ValueError(
                f"batch_size {self.batch_size} is not a multiple of rows_per_prompt {self.rows_per_prompt}; "
                "pick values so that every batch holds whole groups of rows that share a prompt"
            )
        return self

    @property
    def train_rows(self) -> int:
        return self.steps * self.batch_size

    def key(self, base_digest: str, data_digest: str) -> str:
        """Short hash of everything that determines the expert's weights."""
        payload = {
            "recipe": self.model_dump(mode="json"),
            "base": base_digest,
            "data": data_digest,
            "trainer": TRAINER_VERSION,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]


class FamilyConfig(BaseModel):
    """The whole default family: which base, which experts, how their clean scores are measured."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base: str = "smollm2-135m-instruct"
    experts: dict[str, ExpertRecipe] = Field(
        default_factory=lambda: {
            "sst2": ExpertRecipe(task="sst2", steps=90),
            # CoLA is the hard task for a 135M model: more rows, a higher rate and rank. Measured on all 1,043 dev rows:
            # this recipe's build MCC 0.063 (base -0.036); builds vary (another seed/schedule: -0.02), and neither a
            # cross-entropy on the label choice, batches of 32 nor LoRA on the top 14 layers with MLP did better in
            # 1,600-3,200 rows, although a linear probe on layer 20 of the base reaches MCC 0.32 (AUC 0.70).
            "cola": ExpertRecipe(task="cola", steps=200, learning_rate=2e-3, rank=16, lora_alpha=32),
        }
    )
    # Held-out dev rows per task (at most the split; GLUE's dev splits have 872 and 1,043). All of CoLA's: on 300
    # rows an MCC has a standard error of about 0.06, as large as the expert's margin over the base.
    eval_n: dict[str, int] = Field(default_factory=lambda: {"sst2": 872, "cola": 1043})
    eval_seed: int = 1234
    data_dir: str | None = None
    device: str = "auto"

    @model_validator(mode="after")
    def _experts_match_their_names(self) -> FamilyConfig:
        for name, recipe in self.experts.items():
            if name != recipe.task:
                raise ValueError(f"experts.{name}: task is {recipe.task!r}; name each expert after its task")
        for task, n in self.eval_n.items():
            if task not in ("sst2", "cola") or n <= 0:
                raise ValueError(f"eval_n.{task}: expected sst2 or cola with a positive row count")
        return self


def load_family_config(path: str | Path | None) -> FamilyConfig:
    """The default family, or the one described by a YAML file (validated; unknown keys are errors)."""
    return FamilyConfig() if path is None else load_config(path, FamilyConfig)

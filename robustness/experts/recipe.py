"""What an expert is trained from: a validated, hashable recipe. Its hash keys the expert cache."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from robustness.configfile import load_config

# Bump when the training code changes in a way that changes the weights it produces.
TRAINER_VERSION = 2  # 2: label-alternating batches


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
    max_length: int = Field(default=192, ge=32)
    eval_prompt: str = "task_oriented:0"  # held out of training; the clean scores use it
    seed: int = 0

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
            # CoLA is the hard task for a 135M model: more rows, a higher rate and rank. Measured: 130 steps at 5e-4
            # with MLP targets learned nothing (dev AUC 0.46); 160 steps at 2e-3 reached dev AUC 0.63, MCC 0.13; this
            # recipe's build reached only AUC 0.535, MCC -0.04: builds vary more than these changes move them.
            "cola": ExpertRecipe(task="cola", steps=200, learning_rate=2e-3, rank=16, lora_alpha=32),
        }
    )
    eval_n: dict[str, int] = Field(default_factory=lambda: {"sst2": 200, "cola": 300})
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

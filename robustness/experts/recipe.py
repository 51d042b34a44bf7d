"""What an expert is trained from: a validated, hashable recipe. Its hash keys the expert cache."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from robustness.configfile import load_config

# Bump when the training code changes in a way that changes the weights it produces.
# 2: label-alternating batches; 3: prompts rotate by groups of rows; 4: recipes name their method (top_layers added)
TRAINER_VERSION = 4

# Settings added after caches existed, with the value that reproduces the earlier behaviour: a recipe with that value
# hashes as it did before the setting existed.
BEHAVIOUR_BEFORE_SETTING: dict[str, Any] = {"autocast": "float32", "length_jitter": None}


class RecipeBase(BaseModel):
    """What every expert recipe has: its task, its inputs' shape, the held-out prompt and the seed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    task: Literal["sst2", "cola"]
    batch_size: int = Field(default=8, gt=0, le=1024)
    learning_rate: float = Field(default=5e-4, gt=0, lt=1)
    warmup_steps: int = Field(default=5, ge=0)
    # Consecutive rows that share a prompt: the prompts rotate every `rows_per_prompt` rows, and the trainer runs
    # the tokens those rows share once. A batch holds batch_size / rows_per_prompt prompts.
    rows_per_prompt: int = Field(default=8, gt=0)
    max_length: int = Field(default=192, ge=32)
    eval_prompt: str = "task_oriented:0"  # held out of training; the clean scores use it
    seed: int = 0
    # bfloat16: matrix products in bfloat16 under torch.autocast, weights and optimiser state in float32 (for a GPU;
    # on this project's 2-core CPU with AVX-512 BF16 the CoLA recipe trained only 6% faster, README);
    # float32: no autocast anywhere.
    autocast: Literal["bfloat16", "float32"] = "float32"

    @model_validator(mode="after")
    def _whole_prompt_groups(self) -> RecipeBase:
        if self.batch_size % self.rows_per_prompt:
            raise ValueError(
                f"batch_size {self.batch_size} is not a multiple of rows_per_prompt {self.rows_per_prompt}; "
                "pick values so that every batch holds whole groups of rows that share a prompt"
            )
        return self

    def key(self, base_digest: str, data_digest: str) -> str:
        """Short hash of everything that determines the expert's weights."""
        recipe = self.model_dump(mode="json")
        for name, before in BEHAVIOUR_BEFORE_SETTING.items():
            if name in recipe and recipe[name] == before:
                del recipe[name]  # the behaviour before the setting existed: earlier caches keep their keys
        payload = {
            "recipe": recipe,
            "base": base_digest,
            "data": data_digest,
            "trainer": TRAINER_VERSION,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]


class LoraRecipe(RecipeBase):
    """LoRA on the base, trained on `steps x batch_size` balanced rows of its task's train split (one pass)."""

    method: Literal["lora"] = "lora"
    steps: int = Field(gt=0, le=100_000)
    rank: int = Field(default=8, gt=0, le=1024)
    lora_alpha: int = Field(default=16, gt=0)
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    # LoRA on the layers from this index up (None: all). Backpropagation stops below it, so a step is cheaper.
    first_layer: int | None = Field(default=None, ge=0)

    @property
    def train_rows(self) -> int:
        return self.steps * self.batch_size

    @property
    def holdout_rows(self) -> int:
        return 0  # one pass, no checkpoint selection


class TopLayersRecipe(RecipeBase):
    """Every weight of the layers from `first_layer` up trained for `epochs` over `train_rows` balanced rows; the
    frozen layers below run once per row. The step with the best held-out score on `holdout_rows` other balanced
    rows of the train split is kept (the dev split is never used)."""

    method: Literal["top_layers"]
    train_rows: int = Field(gt=0, le=1_000_000)
    holdout_rows: int = Field(default=400, gt=1, le=100_000)
    epochs: int = Field(default=2, gt=0, le=1000)
    first_layer: int = Field(default=20, gt=0)
    class_loss_weight: float = Field(default=1.0, ge=0)  # weight of the two-way label cross-entropy
    eval_every: int = Field(default=25, gt=0)  # steps between held-out scores (and at the last step)
    # A step costs its longest row's length times its rows, so the rows of one prompt are grouped by length: sorted
    # by length plus a seeded random offset of up to `length_jitter` tokens (groups change every epoch, padding
    # stays small: on the CoLA recipe's rows 1.11x the real tokens with 2, against 1.44x for random groups, which
    # `null` keeps).
    length_jitter: float | None = Field(default=2.0, ge=0)

    @property
    def steps(self) -> int:
        """About how many optimiser steps (the exact count depends on how rows divide among prompts)."""
        return -(-self.train_rows * self.epochs // self.batch_size)


def _method(value: Any) -> str:
    found = value.get("method", "lora") if isinstance(value, dict) else getattr(value, "method", "lora")
    return str(found)


RECIPE_METHODS = frozenset({"lora", "top_layers"})
ExpertRecipe = Annotated[
    Annotated[LoraRecipe, Tag("lora")] | Annotated[TopLayersRecipe, Tag("top_layers")], Discriminator(_method)
]


class FamilyConfig(BaseModel):
    """The whole default family: which base, which experts, how their clean scores are measured."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    UNION_TAGS: ClassVar[frozenset[str]] = RECIPE_METHODS  # left out of the key paths that errors name

    base: str = "smollm2-135m-instruct"
    experts: dict[str, ExpertRecipe] = Field(
        default_factory=lambda: {  # type: ignore[arg-type]  # a dict of one branch of the union is one of the union
            "sst2": LoraRecipe(task="sst2", steps=90),
            # CoLA is the hard task for a 135M model: LoRA on one pass of up to 3,200 rows stayed at dev MCC -0.04 to
            # 0.13. The signal is in layer 20 (a linear probe on its answer position: dev MCC 0.28), so the top ten
            # layers are trained on it for several epochs, the layers below run once per row (README).
            "cola": TopLayersRecipe(
                task="cola",
                method="top_layers",
                train_rows=2400,
                holdout_rows=300,
                epochs=3,
                batch_size=32,
                rows_per_prompt=16,
                learning_rate=3e-4,
                warmup_steps=10,
                first_layer=20,
                eval_every=40,
            ),
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

"""The sections of a study config (models, methods, M3, eval, attacks, transfer, LiveBench): each a frozen pydantic
model that checks its own keys' types, ranges and the rules inside it. The whole config is experiment/spec/config.py.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from robustness.catalog import (
    ATTACK_SETTINGS,
    ATTACKS,
    DEFAULT_READING,
    AttackName,
    DatasetName,
    MethodName,
    ReadingName,
    SearchName,
)

Seed = Annotated[int, Field(ge=0)]  # numpy refuses negative seeds
DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")  # as robustness/models/device.py reads them, in lower case
# How a study's units run, not what they compute: left out of the config the store records (`study_config`).
EXECUTION_KEYS = frozenset({"executor", "ray_address"})
# Attack settings that are left out of the stored config while off (None), so a study that does not use them keeps
# the config (and config hash) it had before they existed.
OPTIONAL_ATTACK_KEYS = ("curve_n",)
AXIS_MARK = "@"  # a magnitude-axis setting's name: the configured method's name, "@", the scale (`task_arithmetic@0.5`)


def _each_once(cls: Any, values: list[Any], info: ValidationInfo) -> list[Any]:
    """A list field's validator: every item differs (an item is named by its field, `datasets` -> dataset)."""
    _unique(values, str(info.field_name).removesuffix("s"))
    return values


def _unique(values: Sequence[Any], what: str) -> None:
    """A value listed twice would plan the same units twice (the store refuses the second): say which."""
    seen = [v for i, v in enumerate(values) if v in values[:i]]
    if seen:
        raise ValueError(f"{seen[0]!r} is listed twice; list each {what} once")


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class ModelsConfig(Frozen):
    """Where the base and the experts come from: the built-in default family, or explicit checkpoints."""

    family: Literal["default", "explicit"] = "default"
    family_config: str | None = None  # a models YAML for the default family (configs/models.yaml shape)
    base: str | None = None  # explicit: Hub id or folder
    experts: dict[str, str] = Field(default_factory=dict)  # explicit: name -> Hub id or folder

    @model_validator(mode="after")
    def _explicit_needs_paths(self) -> ModelsConfig:
        if self.family == "explicit" and (not self.base or len(self.experts) < 2):
            raise ValueError("family 'explicit' needs base and at least two experts")
        return self


class MethodConfig(Frozen):
    """One merge method with its parameters (as in a merge config's `parameters`)."""

    method: MethodName
    parameters: dict[str, Any] = Field(default_factory=dict)
    label: str | None = None  # how tables name it; default: the method
    # The magnitude axis (README, "Magnitude: scale beside lambda"): more scalings of the task vectors this method is
    # merged at, plain and with every M3 candidate, beside its own `parameters.scaling`. They are scored for
    # selection and, where an attack sets curve_n, attacked on the curve rows; the tables keep the method's own
    # scaling. None: off (the stored config leaves the key out, as before it existed).
    scales: list[float] | None = Field(default=None, min_length=1)

    @property
    def name(self) -> str:
        return self.label or self.method

    @property
    def scaling(self) -> float:
        """The scaling the method's own setting uses (the merge library's default 1.0 where none is given)."""
        return float(self.parameters.get("scaling", 1.0))

    @field_validator("label")
    @classmethod
    def _label(cls, label: str | None) -> str | None:
        if label is not None and (AXIS_MARK in label or "/" in label or not label.strip()):
            raise ValueError(f"label {label!r}: use letters, digits, '_', '-' or '.' (no '{AXIS_MARK}' or '/')")
        return label

    @field_validator("scales")
    @classmethod
    def _scales(cls, scales: list[float] | None) -> list[float] | None:
        if scales is None:
            return None
        for s in scales:
            if not (math.isfinite(s) and s > 0):
                raise ValueError(f"each scale must be a finite number > 0 (the task vectors' scaling), got {s}")
        _unique([f"{s:g}" for s in scales], "scale (to 6 significant digits)")
        return scales

    @model_validator(mode="after")
    def _scales_apply(self) -> MethodConfig:
        if self.scales is None:
            return self
        combining = self.parameters.get("dare_method", "task_arithmetic") if self.method == "dare" else self.method
        if combining == "average":
            raise ValueError(
                f"scales: {self.name} has no scaling to vary (Average weighs the models 1/n); use scales with "
                "task_arithmetic, ties or dare"
            )
        return self

    def settings(self) -> list[MethodConfig]:
        """The method at each point of its magnitude axis: itself first (its name and scaling), then each other
        scale, named `name@scale`, with `parameters.scaling` set to it. Just itself when `scales` is off."""
        out = [self]
        for s in sorted(set(self.scales or []) - {self.scaling}):
            parameters = {**self.parameters, "scaling": s}
            label = f"{self.name}{AXIS_MARK}{s:g}"  # past the label check on purpose: the mark names an axis point
            out.append(self.model_copy(update={"parameters": parameters, "label": label, "scales": None}))
        return out


class M3Sweep(Frozen):
    alphas: list[float] = Field(default=[0.2, 0.4, 0.5, 1.0, 2.0, 3.0, 5.0], min_length=1)
    draws: int = Field(default=1, ge=1, le=100)
    seed: int = Field(default=0, ge=0)
    preserve_scale: bool = False
    per_block: bool = False

    @field_validator("alphas")
    @classmethod
    def _alphas(cls, alphas: list[float]) -> list[float]:
        for a in alphas:
            if not (math.isfinite(a) and a > 0):
                raise ValueError(f"each alpha must be a finite number > 0 (lambda ~ Beta(alpha, alpha)), got {a}")
        labels = [f"{a:g}" for a in alphas]  # how candidates' model ids name their alpha (plan.py)
        for i, label in enumerate(labels):
            if label in labels[:i]:
                raise ValueError(f"alpha {label} is listed twice (to 6 significant digits); list each alpha once")
        return alphas


class EvalConfig(Frozen):
    """Clean evaluation: rows of the GLUE validation split, divided into disjoint selection, report and (optionally)
    measurement parts."""

    datasets: list[DatasetName] = Field(default=["sst2", "cola"], min_length=1)
    prompt: str = "task_oriented:0"
    mode: Literal["score", "generate"] = "score"
    chat: bool | None = None
    selection_n: int = Field(default=100, gt=0)
    # How selection ranks M3 candidates (experiment/kinds/criterion.py): normalised_gain puts accuracy and MCC
    # on one scale, the merge's gain over the base as a share of the best expert's, averaged over the tasks;
    # worst_task takes the smallest of them (README, "Lambda selection"); mean_metric averages raw metrics.
    selection: Literal["normalised_gain", "worst_task", "mean_metric"] = "normalised_gain"
    # Also score each plain merge on the selection rows, so that the report checks every candidate against it and
    # shows how often each criterion picks a candidate below plain (README, "Lambda selection").
    selection_vs_plain: bool = False
    report_n: int = Field(default=200, gt=0)
    # Rows held out from selection and every attack search, on which each found prompt is measured (README, "Reading
    # the statistics"); None: off (found prompts are measured on the rows they were found on, as PromptBench does).
    measure_n: int | None = Field(default=None, gt=0)
    # With measure_n: each found prompt measured again in generate mode on the same held-out rows (read by
    # `reading`), beside score mode: does the prompt that score mode's search found hurt the generated answers too?
    measure_generate: bool = False
    # The held-out verdict's primary family, as method/dataset/attack (e.g. task_arithmetic/sst2/deepwordbug): Holm
    # runs over these; the other held-out comparisons are exploratory (unadjusted p). None: every one is primary.
    primary: list[str] | None = Field(default=None, min_length=1)
    split_seed: Seed = 0
    agreement_n: int = Field(default=32, ge=0)  # rows on which score and generate modes are compared
    # How a generated answer is read as a label (robustness/parsing.py): last_word is PromptBench's rule; sole_label
    # reads the one label word a chat-style answer names. The report names the rule beside every generated number.
    reading: ReadingName = DEFAULT_READING
    max_new_tokens: int = Field(default=10, gt=0)
    batch_size: int | None = Field(default=None, gt=0)

    _once = field_validator("datasets")(_each_once)

    @model_validator(mode="after")
    def _measure_generate(self) -> EvalConfig:
        if self.measure_generate and (not self.measure_n or self.mode != "score"):
            raise ValueError(
                "measure_generate: measures each found prompt in generate mode beside score mode on the held-out "
                "rows, so it needs eval.measure_n and eval.mode: score; set both or remove measure_generate"
            )
        return self


class AttackConfig(Frozen):
    attack: AttackName
    datasets: list[DatasetName] = Field(default=["sst2", "cola"], min_length=1)
    methods: list[str] = Field(default_factory=list)  # method names (labels); empty: every method
    seeds: list[Seed] = Field(default=[0], min_length=1)
    search: SearchName = "greedy"
    n: int = Field(default=50, gt=0)  # rows of the report part attacked (seeded per attack seed)
    masked_lm: str = "bert-base-uncased"
    similarity_encoder: str | None = None
    levenshtein: int = Field(default=30, gt=0)
    candidates: int = Field(default=48, gt=0)  # BERTAttack's replacement words per position (PromptBench: 48)
    # The attacked lambda curve: rows of the report part attacked per seed on EVERY M3 candidate (all alphas x
    # draws) and the plain merge of each method this attack covers (README, "The attacked lambda curve and M3
    # over draws"). None: off, no curve units (and the stored config leaves the key out, as before it existed).
    curve_n: int | None = Field(default=None, gt=0)

    _once = field_validator("datasets", "seeds")(_each_once)

    @model_validator(mode="after")
    def _settings_apply(self) -> AttackConfig:
        """A setting the attack does not read (`candidates: 16` on DeepWordBug) would be silently ignored. Only values
        other than the default count: a stored config (every field written out) validates again."""
        fields = type(self).model_fields
        changed = {k for k in ATTACK_SETTINGS if getattr(self, k) != fields[k].default}
        for key in sorted(changed - ATTACKS[self.attack].settings):
            users = [name for name, entry in ATTACKS.items() if key in entry.settings]
            raise ValueError(
                f"{key}: does not apply to attack {self.attack!r} (it is read by {' and '.join(users)}); remove it"
            )
        return self


TransferSource = Literal["experts", "plain"]


class TransferConfig(Frozen):
    """Transfer attacks (README, "Transfer attacks"): each configured attack also runs on the sources, and each
    source's found prompt is replayed unchanged on the study's merged models (and, for a plain-merge source, on the
    pair's experts). `experts`: each expert of a pair is attacked; `plain`: the plain merges' own attacks."""

    sources: list[TransferSource] = Field(default=["experts", "plain"], min_length=1)

    _once = field_validator("sources")(_each_once)


class LiveBenchConfig(Frozen):
    tasks: list[str] = Field(default_factory=list)  # e.g. instruction_following/paraphrase
    questions_dir: str | None = None
    n: int = Field(default=10, gt=0)  # questions per task
    seed: int = 0
    release_date: str | None = None
    max_new_tokens: int = Field(default=256, gt=0)
    methods: list[str] = Field(default_factory=list)

    @field_validator("tasks")
    @classmethod
    def _known_tasks(cls, tasks: list[str]) -> list[str]:
        from robustness.livebench.questions import CATEGORY_OF_TASK

        unknown = [t for t in tasks if t not in CATEGORY_OF_TASK]
        if unknown:
            raise ValueError(f"unknown LiveBench task {unknown[0]!r}; choose from: {', '.join(CATEGORY_OF_TASK)}")
        _unique(tasks, "task")
        return tasks

    @field_validator("release_date", mode="before")
    @classmethod
    def _real_date(cls, value: Any) -> Any:
        if isinstance(value, date):  # YAML reads an unquoted 2024-06-24 as a date
            return value.isoformat()
        try:
            real = isinstance(value, str) and date.fromisoformat(value).isoformat() == value
        except ValueError:
            real = False
        if value is not None and not real:
            raise ValueError(f"must be a real date written YYYY-MM-DD (e.g. 2024-06-24), got {value!r}")
        return value


def no_repeated_attack(attacks: list[AttackConfig], j: int) -> None:
    """Two entries with the same settings that share a method, dataset and seed plan the same units twice."""
    b = attacks[j]
    same = {"seeds", "datasets", "methods", "curve_n"}  # curve_n adds units of its own (keyed apart)
    for i, a in enumerate(attacks[:j]):
        methods = not a.methods or not b.methods or set(a.methods) & set(b.methods)
        if (
            methods
            and set(a.seeds) & set(b.seeds)
            and set(a.datasets) & set(b.datasets)
            and a.model_dump(exclude=same) == b.model_dump(exclude=same)
        ):
            raise ValueError(
                f"attacks[{j}]: repeats attacks[{i}] (same settings, method, dataset and seed); merge them"
            )

"""The experiment config: one YAML file describes the whole study. Validated once; immutable inside."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from robustness.catalog import DEFAULT_READING
from robustness.configfile import load_config
from robustness.experiment.spec.parts import (
    AXIS_MARK,
    DEVICE,
    EXECUTION_KEYS,
    OPTIONAL_ATTACK_KEYS,
    AttackConfig,
    EvalConfig,
    Frozen,
    LiveBenchConfig,
    M3Sweep,
    MethodConfig,
    ModelsConfig,
    TransferConfig,
    no_repeated_attack,
)

__all__ = [
    "AXIS_MARK",
    "AttackConfig",
    "EvalConfig",
    "ExperimentConfig",
    "LiveBenchConfig",
    "M3Sweep",
    "MethodConfig",
    "ModelsConfig",
    "TransferConfig",
    "load_experiment",
]


class ExperimentConfig(Frozen):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    output_dir: str = "runs"
    data_dir: str | None = None
    device: str = "auto"
    dtype: str = "auto"
    models: ModelsConfig = Field(default_factory=ModelsConfig)
    pairs: list[list[str]] = Field(default=[["sst2", "cola"]], min_length=1)
    methods: list[MethodConfig] = Field(min_length=1)
    m3: M3Sweep = Field(default_factory=M3Sweep)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    attacks: list[AttackConfig] = Field(default_factory=list)
    livebench: LiveBenchConfig = Field(default_factory=LiveBenchConfig)
    # Transfer attacks: None (absent) is off, and the stored config leaves the key out (as before it existed).
    transfer: TransferConfig | None = None
    keep_merges: bool = False
    # local: one unit after another in this process; ray: in Ray actors (README: Running a study on Ray).
    executor: Literal["local", "ray"] = "local"
    ray_address: str | None = None  # executor ray: a cluster's head (HOST:6379); none: a local Ray instance

    @field_validator("device")
    @classmethod
    def _device(cls, device: str) -> str:
        if not DEVICE.fullmatch(device):
            raise ValueError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N (in lower case)")
        return device

    @model_validator(mode="after")
    def _consistent(self) -> ExperimentConfig:
        names = [m.name for m in self.methods]
        if len(set(names)) != len(names):
            raise ValueError("methods: two methods share a name; give one a distinct label")
        wanted = [(f"attacks[{i}]", a.methods) for i, a in enumerate(self.attacks)]
        for where, methods in [*wanted, ("livebench", self.livebench.methods)]:
            unknown = set(methods) - set(names)
            if unknown:
                raise ValueError(f"{where}.methods: unknown method(s) {sorted(unknown)}; known: {names}")
        for pair in self.pairs:
            if len(pair) < 2 or len(set(pair)) != len(pair):
                raise ValueError(f"pairs: {pair} must name two or more different experts")
        if len({tuple(p) for p in self.pairs}) < len(self.pairs):
            raise ValueError("pairs: a pair is listed twice; list each pair once")
        for i, attack in enumerate(self.attacks):
            missing = [d for d in attack.datasets if d not in self.eval.datasets]
            if missing:
                raise ValueError(
                    f"attacks[{i}].datasets: {missing[0]!r} is not in eval.datasets {self.eval.datasets}; attacks use "
                    "the report rows of eval's datasets, so add it there or remove it here"
                )
            no_repeated_attack(self.attacks, i)
        for i, method in enumerate(self.methods):
            curve = [a for a in self.attacks if a.curve_n is not None and (not a.methods or method.name in a.methods)]
            if method.scales is not None and not curve:
                raise ValueError(
                    f"methods[{i}].scales: the magnitude axis is measured on the attacked lambda curve's rows; set "
                    f"curve_n on an attack that covers {method.name!r}, or remove scales"
                )
        self._primary_known()
        if self.transfer is not None and not self.attacks:
            raise ValueError("transfer: there are no attacks to transfer; add attacks, or remove transfer")
        return self

    def _primary_known(self) -> None:
        """eval.primary names the verdict's comparisons: held-out attacks as method/dataset/attack, LiveBench as
        method/livebench/category; each must be one the study makes."""
        if self.eval.primary is None:
            return
        from robustness.livebench.questions import CATEGORY_OF_TASK

        names = [m.name for m in self.methods]
        attacks = {f"{m}/{d}/{a.attack}" for a in self.attacks for m in (a.methods or names) for d in a.datasets}
        livebench = {f"{m}/livebench/{CATEGORY_OF_TASK[t]}" for m in (self.livebench.methods or names)
                     for t in self.livebench.tasks}  # fmt: skip
        known = attacks | livebench
        for entry in self.eval.primary:
            if entry not in known:
                listed = ", ".join(sorted(known)[:8]) + (" ..." if len(known) > 8 else "")
                raise ValueError(f"eval.primary: {entry!r} is not a comparison this study makes (method/dataset/"
                                 f"attack or method/livebench/category); the study makes: {listed}")  # fmt: skip
        if not self.eval.measure_n and set(self.eval.primary) & attacks:
            raise ValueError("eval.primary: held-out attack comparisons need held-out rows; set eval.measure_n too")

    @property
    def run_dir(self) -> Path:
        return Path(self.output_dir) / self.name

    def study_config(self) -> dict[str, Any]:
        """The config as the store records it (its hash is the study's identity): without the execution settings,
        so a study started with one executor resumes with the other as the same config, every unit reused, and
        without optional settings that are off or at the value they had before they existed (`OPTIONAL_ATTACK_KEYS`,
        transfer and the eval settings added since: measure_n, reading, measure_generate, selection_vs_plain,
        primary)."""
        data = self.model_dump(mode="json", exclude=set(EXECUTION_KEYS))
        for attack in data["attacks"]:
            for key in OPTIONAL_ATTACK_KEYS:
                if attack.get(key) is None:
                    attack.pop(key, None)
        if data.get("transfer") is None:
            data.pop("transfer", None)
        if data["eval"].get("measure_n") is None:
            data["eval"].pop("measure_n", None)
        if data["eval"].get("reading") == DEFAULT_READING:
            data["eval"].pop("reading", None)
        for key in ("measure_generate", "selection_vs_plain", "primary"):
            if not data["eval"].get(key):
                data["eval"].pop(key, None)
        for method in data["methods"]:
            if method.get("scales") is None:
                method.pop("scales", None)
        return data


def load_experiment(path: str | Path, overrides: dict[str, Any] | None = None) -> ExperimentConfig:
    return load_config(path, ExperimentConfig, overrides)

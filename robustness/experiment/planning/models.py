"""The models a study evaluates: the references (base and experts), the plain merge of every configured method
setting, and every M3 candidate (alpha x draw). Pure: no files, no models loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from robustness.experiment.spec.config import ExperimentConfig, MethodConfig


class ModelRef(BaseModel):
    """The model a unit works on, as its inputs name it: a merge (its merge config, with model names instead of
    paths) or a reference."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model_id: str
    merge: dict[str, Any] | None = None
    reference: str | None = None


REFERENCE = "reference"  # the base and the experts, evaluated on the report rows for the clean-score table


@dataclass(frozen=True)
class ModelSpec:
    """A model the study evaluates: a reference checkpoint, or a merge (plain or one M3 candidate)."""

    model_id: str
    method: str  # average | task_arithmetic | ties | dare | base | expert
    label: str
    pair: str
    m3: bool = False
    alpha: float | None = None
    draw: int | None = None
    merge: dict[str, Any] | None = None  # the merge config (model names, not paths), None for references
    reference: str | None = None  # name of a reference checkpoint ('base' or an expert's name)
    # A point of a method's magnitude axis at another scale than its own: the configured method's name (its label is
    # `name@scale`). Such models are merged, scored for selection and attacked on the curve rows, not reported.
    axis_of: str | None = None

    @property
    def configured(self) -> str:
        """The configured method's name (what attacks[i].methods and livebench.methods list)."""
        return self.axis_of or self.label

    @property
    def identity(self) -> ModelRef:
        return ModelRef(model_id=self.model_id, merge=self.merge, reference=self.reference)


def pair_name(pair: list[str]) -> str:
    return "+".join(pair)


def plain_model_id(pair: str, method_name: str) -> str:
    """The plain merge of one configured method (its name, not its type: a config may hold two TIES settings).

    Its M3 candidates' ids extend it, and a selection (keyed by pair and configured name) names the plain model
    its chosen candidate is reported against: this id."""
    return f"{pair}/{method_name}"


def _merge_config(
    cfg: ExperimentConfig, pair: list[str], method: MethodConfig, m3: dict[str, Any] | None
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "base_model": "base",
        "models": list(pair),
        "method": method.method,
        "parameters": dict(method.parameters),
        "seed": cfg.m3.seed,
        "dtype": "auto",  # the inputs' dtype: a bf16 13B checkpoint merges into bf16, not into twice its size
        "device": merge_device(cfg.device),
    }
    if m3 is not None:
        data["m3"] = m3
    return data


def merge_device(device: str) -> str:
    """The merge engine takes auto, cpu or cuda (its first GPU); an evaluation device such as cuda:1 maps to cuda."""
    return device if device in ("auto", "cpu") else "cuda"


def method_settings(cfg: ExperimentConfig) -> list[tuple[MethodConfig, str | None]]:
    """Every configured method, each followed by the other scales of its magnitude axis: (setting, the configured
    method's name for an axis point, None for the method itself)."""
    return [(s, None if s is m else m.name) for m in cfg.methods for s in m.settings()]


def plain_models(cfg: ExperimentConfig, axis: bool = True) -> list[ModelSpec]:
    """The plain merge of every method setting; `axis=False`: without the magnitude axis' other scales."""
    out = []
    for pair in cfg.pairs:
        for method, axis_of in method_settings(cfg):
            if axis_of is not None and not axis:
                continue
            model_id = plain_model_id(pair_name(pair), method.name)
            merge = _merge_config(cfg, pair, method, None)
            out.append(ModelSpec(model_id, method.method, method.name, pair_name(pair), merge=merge, axis_of=axis_of))
    return out


def candidate_models(cfg: ExperimentConfig) -> list[ModelSpec]:
    from merges.sampling import candidate_seed

    out = []
    for pair in cfg.pairs:
        for method, axis_of in method_settings(cfg):
            for alpha in cfg.m3.alphas:
                for draw in range(cfg.m3.draws):
                    m3 = {
                        "enabled": True,
                        "alpha": alpha,
                        "seed": candidate_seed(cfg.m3.seed, alpha, draw),
                        "preserve_scale": cfg.m3.preserve_scale,
                        "per_block": cfg.m3.per_block,
                    }
                    model_id = f"{plain_model_id(pair_name(pair), method.name)}+m3/a{alpha:g}-d{draw}"
                    merge = _merge_config(cfg, pair, method, m3)
                    spec = ModelSpec(model_id, method.method, method.name, pair_name(pair), True, alpha, draw, merge,
                                     axis_of=axis_of)  # fmt: skip
                    out.append(spec)
    return out


def reference_models(cfg: ExperimentConfig) -> list[ModelSpec]:
    names = sorted({name for pair in cfg.pairs for name in pair})
    refs = [ModelSpec("base", "base", "base", REFERENCE, reference="base")]
    return refs + [expert_model(n) for n in names]


def expert_model(name: str) -> ModelSpec:
    """The reference spec of one expert (as `reference_models` lists it)."""
    return ModelSpec(f"expert/{name}", "expert", f"expert:{name}", REFERENCE, reference=name)


def transfer_experts(cfg: ExperimentConfig) -> set[str]:
    """The experts attacked as transfer sources: every pair's, when transfer's sources include `experts`."""
    if cfg.transfer is None or "experts" not in cfg.transfer.sources:
        return set()
    return {name for pair in cfg.pairs for name in pair}

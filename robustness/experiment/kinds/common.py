"""What the kinds that work on a model share: the identity fields every model record starts with, and the prompt
evaluator a unit scores its rows with."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from merges.registry import combiner_of
from robustness import catalog

if TYPE_CHECKING:
    from robustness.data.glue import GlueSplit
    from robustness.evaluate import PromptEvaluator
    from robustness.experiment.planning.models import ModelSpec
    from robustness.experiment.spec.config import ExperimentConfig


def identity_fields(model: ModelSpec, cfg: ExperimentConfig, merge_json: dict[str, Any] | None) -> dict[str, Any]:
    lambdas = None
    if model.m3 and merge_json:
        drawn = merge_json.get("m3", {}).get("lambdas") or {}
        lambdas = [float(x) for group in sorted(drawn) for x in drawn[group]]
    convention = None
    if model.m3 and model.merge and combiner_of(model.merge).convention is not None:  # Task Arithmetic's scales
        convention = "preserve_scale" if cfg.m3.preserve_scale else "official"
    method = model.method if model.method in catalog.METHODS or model.method == "base" else "expert"
    return {
        "model_id": model.model_id,
        "method": method,
        "m3": model.m3,
        "alpha": model.alpha,
        "lambdas": lambdas,
        "draw": model.draw,
        "m3_convention": convention,
        "pair": model.pair,
    }


def evaluator(loaded: Any, cfg: ExperimentConfig, data: GlueSplit, rows: list[int], mode: str) -> PromptEvaluator:
    from robustness.evaluate import evaluator_for

    return evaluator_for(loaded, data, rows, mode=mode, chat=cfg.eval.chat,  # type: ignore[arg-type]
                         max_new_tokens=cfg.eval.max_new_tokens, batch_size=cfg.eval.batch_size)  # fmt: skip

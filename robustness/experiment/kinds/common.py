"""What the kinds that work on a model share: the identity fields every model record starts with, and what a unit
that scores a prompt on rows works with (`Scoring`: the split, the loaded model, the prompt, an evaluator)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from merges.registry import combiner_of
from robustness import catalog
from robustness.catalog import DEFAULT_READING, ReadingName
from robustness.evaluation_cache import model_scope

if TYPE_CHECKING:
    from robustness.data.glue import GlueSplit
    from robustness.evaluate import PromptEvaluator
    from robustness.experiment.kinds.base import Context, Unit
    from robustness.experiment.planning.models import ModelSpec
    from robustness.experiment.spec.config import ExperimentConfig
    from robustness.prompts import Prompt


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


def evaluator(loaded: Any, cfg: ExperimentConfig, data: GlueSplit, rows: list[int], mode: str,
              reading: ReadingName | None = None, unit: Unit | None = None,
              ctx: Context | None = None) -> PromptEvaluator:  # fmt: skip
    """`reading`: the unit's rule for reading a generated answer (None: PromptBench's last word, the default).
    With the unit and its context, rows the worker's evaluation cache holds for this model are served from it."""
    from robustness.evaluate import evaluator_for

    cache = ctx.host.evaluation_cache() if ctx is not None and ctx.host is not None else None
    scope = ""
    if cache is not None and unit is not None:
        inputs = unit.inputs.payload()
        scope = model_scope(inputs["model"], inputs["checkpoints"], str(loaded.dtype), loaded.device.type)
    return evaluator_for(loaded, data, rows, mode=mode, chat=cfg.eval.chat,  # type: ignore[arg-type]
                         max_new_tokens=cfg.eval.max_new_tokens, batch_size=cfg.eval.batch_size,
                         reading=reading or DEFAULT_READING, cache=cache if scope else None,
                         cache_scope=scope)  # fmt: skip


@dataclass(frozen=True)
class Scoring:
    """A unit's model loaded on its worker, its dataset's split, the study's prompt, and an evaluator on its rows."""

    data: GlueSplit
    loaded: Any
    prompt: Prompt
    scorer: PromptEvaluator

    def fields(self, unit: Unit, ctx: Context) -> dict[str, Any]:
        """The fields every scored record shares: the model's identity, the dataset, the prompt's name, the metric's
        name, the rows and their labels."""
        assert unit.model is not None
        return dict(
            **identity_fields(unit.model, ctx.cfg, ctx.worker.merge_json(unit.model)),
            dataset=self.data.dataset,
            prompt=self.prompt.name,
            metric_name=self.scorer.metric_name,
            indices=list(self.scorer.indices),
            labels=self.scorer.labels,
        )


def scoring(unit: Unit, ctx: Context, dataset: str, rows: list[int], mode: str, prompt: str,
            reading: ReadingName | None = None) -> Scoring:  # fmt: skip
    """Load the unit's model on the worker and set up the evaluator of `prompt` (the study's, by name) on `rows`."""
    from robustness.prompts import get_prompt

    assert unit.model is not None
    data = ctx.worker.data[dataset]
    loaded = ctx.worker.load(unit.model)
    found = get_prompt(data.dataset, prompt, ctx.cfg.data_dir)
    return Scoring(data, loaded, found, evaluator(loaded, ctx.cfg, data, rows, mode, reading, unit, ctx))


def reading_input(cfg: ExperimentConfig, reads_answers: bool) -> ReadingName | None:
    """The study's reading rule as the input of a unit that reads generated answers (`reads_answers`); None for a
    unit that reads none and at PromptBench's default, so that keys from before the setting existed stay the same
    and a rule no unit applies reruns nothing."""
    return None if cfg.eval.reading == DEFAULT_READING or not reads_answers else cfg.eval.reading

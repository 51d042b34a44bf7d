"""The clean kind: one model scored with the study's prompt on one split's rows (selection or report).

On the report rows it also measures, on `agreement_n` rows, how often score mode and generate mode agree. Work:
parameters x the tokens the model runs (score mode: each row's own tokens plus the shared prefix once; generate
mode: each row's whole text plus `max_new_tokens`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from robustness.catalog import DatasetName
from robustness.experiment.kinds.base import Context, ModelInputs, Unit, UnitKind
from robustness.experiment.kinds.common import evaluator, scoring
from robustness.records import CleanRecord

if TYPE_CHECKING:
    from robustness.experiment.planning.models import ModelSpec
    from robustness.experiment.sizing.work import Work
    from robustness.experiment.spec.config import ExperimentConfig


class CleanInputs(ModelInputs):
    dataset: DatasetName
    split: str  # selection | report
    rows: list[int]
    prompt: str
    mode: str
    chat: bool | None
    agreement_n: int
    max_new_tokens: int


class CleanKind(UnitKind, name="clean", inputs_type=CleanInputs, record_type=CleanRecord, plan_rank=1,
                builtin_rate=3.261e-11):  # fmt: skip
    def run(self, unit: Unit, ctx: Context) -> CleanRecord:
        inputs = unit.inputs_as(CleanInputs)
        s = scoring(unit, ctx, inputs.dataset, inputs.rows, inputs.mode, inputs.prompt)
        outcome = s.scorer(s.prompt.text)
        agreement = None
        if inputs.agreement_n:
            # Score mode stands in for PromptBench's generated answers only when the model answers with the label
            # word first: measure how often the two modes agree, per model.
            sub = inputs.rows[: inputs.agreement_n]
            other = "generate" if inputs.mode == "score" else "score"
            theirs = evaluator(s.loaded, ctx.cfg, s.data, sub, other)(s.prompt.text).predictions
            agreement = sum(a == b for a, b in zip(outcome.predictions, theirs, strict=False)) / len(sub)
        fields = dict(**s.fields(unit, ctx), split=inputs.split, mode=inputs.mode, metric=outcome.metric,
                      accuracy=outcome.accuracy, n=len(inputs.rows), predictions=list(outcome.predictions),
                      agreement=agreement)  # fmt: skip
        return CleanRecord.model_validate(fields)

    def work(self, inputs: CleanInputs, work: Work) -> float:
        rows = len(inputs.rows)
        tokens = work.evaluation(inputs.dataset, rows, inputs.mode, inputs.max_new_tokens)
        if inputs.agreement_n:
            other = "generate" if inputs.mode == "score" else "score"
            tokens += work.evaluation(inputs.dataset, min(inputs.agreement_n, rows), other, inputs.max_new_tokens)
        return work.parameters * tokens


KIND = CleanKind()


def clean_unit(cfg: ExperimentConfig, model: ModelSpec, dataset: str, split: str, rows: list[int],
               identities: dict[str, str]) -> Unit:  # fmt: skip
    e = cfg.eval
    inputs = CleanInputs(
        model=model.identity,
        checkpoints=identities,
        dataset=dataset,
        split=split,
        rows=rows,
        prompt=e.prompt,
        mode=e.mode,
        chat=e.chat,
        agreement_n=e.agreement_n if split == "report" else 0,
        max_new_tokens=e.max_new_tokens,
    )
    return KIND.unit(model, inputs, f"{model.model_id}/{dataset}/{split}")

"""The clean kind: one model scored with the study's prompt on one split's rows (selection or report).

On the report rows it also runs the other mode on the first `agreement_n` rows and keeps both modes' labels and the
raw generated answers (a `ModeCheck`): how often the modes agree, and what the model answers. Work:
parameters x the tokens the model runs (score mode: each row's own tokens plus the shared prefix once; generate
mode: each row's whole text plus `max_new_tokens`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from robustness.catalog import DatasetName, ReadingName
from robustness.experiment.kinds.base import Context, ModelInputs, Unit, UnitKind
from robustness.experiment.kinds.common import evaluator, reading_input, scoring
from robustness.records import CleanRecord, ModeCheck

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
    # Generate mode's rule for reading an answer; None: PromptBench's last word (keys from before it existed).
    reading: ReadingName | None = None

    def payload(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        if data["reading"] is None:
            del data["reading"]
        return data


class CleanKind(UnitKind, name="clean", inputs_type=CleanInputs, record_type=CleanRecord, plan_rank=1,
                builtin_rate=3.261e-11):  # fmt: skip
    def run(self, unit: Unit, ctx: Context) -> CleanRecord:
        inputs = unit.inputs_as(CleanInputs)
        s = scoring(unit, ctx, inputs.dataset, inputs.rows, inputs.mode, inputs.prompt, inputs.reading)
        outcome = s.scorer(s.prompt.text)
        check = None
        if inputs.agreement_n:
            # Score mode stands in for PromptBench's generated answers only when the model answers with the label
            # word: both modes on the same rows, the answers kept so that any reading rule can be applied again.
            sub = inputs.rows[: inputs.agreement_n]
            other = "generate" if inputs.mode == "score" else "score"
            theirs = evaluator(s.loaded, ctx.cfg, s.data, sub, other, inputs.reading, unit, ctx)(s.prompt.text)
            generated, scored = (theirs, outcome) if other == "generate" else (outcome, theirs)
            k = len(sub)
            check = ModeCheck(indices=sub, labels=s.scorer.labels[:k], answers=list(generated.answers[:k]),
                              reading=s.scorer.reading, generated=list(generated.predictions[:k]),
                              scored=list(scored.predictions[:k]))  # fmt: skip
        fields = dict(**s.fields(unit, ctx), split=inputs.split, mode=inputs.mode, metric=outcome.metric,
                      accuracy=outcome.accuracy, n=len(inputs.rows), predictions=list(outcome.predictions),
                      agreement=check.agreement if check else None,
                      mode_check=check)  # fmt: skip
        if inputs.mode == "generate":
            fields.update(answers=list(outcome.answers), reading=s.scorer.reading)
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
    agreement_n = e.agreement_n if split == "report" else 0
    inputs = CleanInputs(
        model=model.identity,
        checkpoints=identities,
        dataset=dataset,
        split=split,
        rows=rows,
        prompt=e.prompt,
        mode=e.mode,
        chat=e.chat,
        agreement_n=agreement_n,
        max_new_tokens=e.max_new_tokens,
        reading=reading_input(cfg, reads_answers=e.mode == "generate" or agreement_n > 0),
    )
    return KIND.unit(model, inputs, f"{model.model_id}/{dataset}/{split}")

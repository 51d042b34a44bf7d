"""The measure kind: an attack's found prompt measured on held-out rows. Each arm's search finds its prompt on the
seed's search rows (the attack unit, PromptBench's protocol, whose numbers stay the in-search ones); this unit then
scores that prompt and the clean prompt on the study's measurement rows (`eval.measure_n`), which no selection and no
search saw. What the verdict's test uses (robustness/stats/crossed.py). It is the transfer replay's measure step
(experiment/kinds/replay.py) with the model's own prompt on other rows: one code path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from robustness.experiment.kinds.attack import AttackInputs
from robustness.experiment.kinds.base import Context, Unit, UnitKind
from robustness.experiment.kinds.replay import found_prompt_work, score_found_prompt, source_record
from robustness.records import AttackRecord

if TYPE_CHECKING:
    from robustness.catalog import ReadingName
    from robustness.experiment.sizing.work import Work

HELD_OUT: Final = "held-out"  # the label part of a measurement unit


class MeasureInputs(AttackInputs):
    """The attack unit (`source`) whose found prompt is measured, its settings and seed, and the measurement rows."""

    source: str


class MeasureKind(UnitKind, name="measure", inputs_type=MeasureInputs, record_type=AttackRecord, plan_rank=4,
                  builtin_rate=3.047e-11):  # fmt: skip
    def needs(self, unit: Unit) -> list[str]:
        return [unit.inputs_as(MeasureInputs).source]

    def run(self, unit: Unit, ctx: Context) -> AttackRecord:
        inputs = unit.inputs_as(MeasureInputs)
        source = source_record(unit, ctx, inputs.source)
        if set(source.indices) & set(inputs.rows) or source.dataset != inputs.dataset:
            raise ValueError(f"unit {unit.key}: its measurement rows overlap the rows its source {inputs.source} "
                             "searched; the store does not match the plan, so rerun the study")  # fmt: skip
        return score_found_prompt(unit, ctx, source, inputs, inputs.source)

    def work(self, inputs: MeasureInputs, work: Work) -> float:
        return found_prompt_work(inputs, work)


KIND = MeasureKind()


def measure_unit(source: Unit, rows: list[int], generate: ReadingName | None = None) -> Unit:
    """Measure the prompt that `source` (an attack unit) finds, on its own model, on `rows` (held out from it).
    `generate`: in generate mode instead of the source's mode, answers read by that rule."""
    src = source.inputs_as(AttackInputs)
    assert source.model is not None
    fields = src.model_dump(exclude={"rows", "purpose"})
    if generate is not None:
        fields.update(mode="generate", reading=generate)
    inputs = MeasureInputs(rows=rows, source=source.key, **fields)
    return KIND.unit(source.model, inputs, f"{source.label}/{HELD_OUT}" + ("/generate" if generate else ""))

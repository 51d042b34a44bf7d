"""The replay kind: a transfer attack's replay, the prompt that another unit's attack found (its source) scored
unchanged on this unit's model, on the source's rows. No search: the clean and the found prompt, once each.

It needs its source's stored record, so it runs after it; its key depends on the source's key and the target
model, never on the prompt text. Its record is an attack record (filed with the attacks, `purpose: transfer`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from robustness.experiment.kinds.attack import TRANSFER, AttackInputs
from robustness.experiment.kinds.base import Context, Unit, UnitKind
from robustness.experiment.kinds.common import scoring
from robustness.records import AttackRecord

if TYPE_CHECKING:
    from robustness.experiment.planning.models import ModelSpec
    from robustness.experiment.sizing.work import Work


class TransferInputs(AttackInputs):
    """A replay's inputs: the source attack unit's key and the source's rows and settings (`purpose: transfer`)."""

    source: str  # the source attack unit's key (its purpose is always `transfer`, so AttackInputs.payload keeps it)


class ReplayKind(UnitKind, name="replay", stored_as="attack", inputs_type=TransferInputs, record_type=AttackRecord,
                 plan_rank=3, builtin_rate=3.047e-11):  # fmt: skip
    def claims(self, inputs: Mapping[str, Any]) -> bool:
        return inputs.get("purpose") == TRANSFER

    def needs(self, unit: Unit) -> list[str]:
        return [unit.inputs_as(TransferInputs).source]

    def run(self, unit: Unit, ctx: Context) -> AttackRecord:
        inputs = unit.inputs_as(TransferInputs)
        source = source_record(unit, ctx, inputs.source)
        if list(source.indices) != list(inputs.rows) or source.dataset != inputs.dataset:
            raise ValueError(
                f"unit {unit.key}: its source {inputs.source} attacked other rows ({source.dataset}); "
                "the store does not match the plan, so rerun the study to plan the replay again"
            )
        return score_found_prompt(unit, ctx, source, inputs, inputs.source)

    def work(self, inputs: TransferInputs, work: Work) -> float:
        return found_prompt_work(inputs, work)


KIND = ReplayKind()


def found_prompt_work(inputs: AttackInputs, work: Work) -> float:
    """A found prompt's measure step: the clean and the found prompt, once each, on the unit's rows."""
    return work.parameters * 2 * work.evaluation(inputs.dataset, len(inputs.rows), inputs.mode,
                                                 work.max_new_tokens)  # fmt: skip


def source_record(unit: Unit, ctx: Context, key: str) -> AttackRecord:
    """The stored record of the attack unit whose found prompt `unit` scores."""
    if key not in ctx.needed:
        raise ValueError(f"unit {unit.key} scores the prompt {key} found, whose record was not passed")
    return AttackRecord.model_validate(ctx.needed[key])


def score_found_prompt(unit: Unit, ctx: Context, source: AttackRecord, inputs: AttackInputs,
                       key: str) -> AttackRecord:  # fmt: skip
    """The clean prompt and the prompt `source` found, each scored once on this unit's model and rows: the measure
    step that a transfer replay (another model's prompt, the source's rows) and a held-out measurement (the model's
    own prompt, rows no search saw) share. Filed as an attack record naming its source; no search, one query."""
    from robustness.metrics import pdr

    s = scoring(unit, ctx, inputs.dataset, inputs.rows, inputs.mode, inputs.prompt, inputs.reading)
    clean, attacked = s.scorer(s.prompt.text), s.scorer(source.attacked_prompt)
    fields = dict(**s.fields(unit, ctx), attack=inputs.attack.attack, search=source.search, seed=inputs.seed,
                  clean_metric=clean.metric, attacked_metric=attacked.metric, pdr=pdr(clean.metric, attacked.metric),
                  attacked_prompt=source.attacked_prompt, queries=1, clean_predictions=list(clean.predictions),
                  attacked_predictions=list(attacked.predictions), generator=source.generator,
                  similarity_encoder=source.similarity_encoder, source_key=key,
                  source_model_id=source.model_id)  # fmt: skip
    if inputs.mode == "generate":
        fields.update(mode="generate", reading=s.scorer.reading, clean_answers=list(clean.answers),
                      attacked_answers=list(attacked.answers))  # fmt: skip
    return AttackRecord.model_validate(fields)


def replay_unit(source: Unit, target: ModelSpec, identities: dict[str, str]) -> Unit:
    """Score the prompt that `source` (an attack unit) finds on `target`, on the source's rows. The key depends on
    the source's key and the target's identity: the prompt is read from the source's record when the replay runs."""
    src = source.inputs_as(AttackInputs)
    assert source.model is not None
    fields = src.model_dump(exclude={"model", "checkpoints", "purpose"})
    inputs = TransferInputs(model=target.identity, checkpoints=identities, purpose=TRANSFER, source=source.key,
                            **fields)  # fmt: skip
    where = f"{src.dataset}/{src.attack.attack}/{src.seed}/{TRANSFER}/{source.model.model_id}"
    return KIND.unit(target, inputs, f"{target.model_id}/{where}")

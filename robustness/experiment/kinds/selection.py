"""The selection kind: one (pair, method)'s choice among its M3 candidates, by the config's criterion on the
candidates' selection-row scores (and, for a normalised criterion, the base's and experts' scores).

It works on no model: it runs on the driver from the stored records of the units it needs, and phase two of its
(pair, method) follows from its record. Work: 1 (it compares stored numbers).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from robustness.experiment.kinds.base import Context, Inputs, Unit, UnitKind
from robustness.experiment.kinds.common import identity_fields
from robustness.experiment.kinds.criterion import describe, rank_candidate
from robustness.records import CleanRecord, SelectionCandidate, SelectionRecord

if TYPE_CHECKING:
    from robustness.experiment.planning.models import ModelSpec
    from robustness.experiment.sizing.work import Work
    from robustness.experiment.spec.config import ExperimentConfig, MethodConfig


class SelectionInputs(Inputs):
    pair: str
    method: str  # the configured method's name (its label)
    candidates: list[str]  # keys of the candidates' selection-row scores
    criterion: str | None = None  # absent under mean_metric, whose keys predate it
    references: list[str] | None = None  # keys of the base's and experts' selection-row scores

    def payload(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)

    @property
    def criterion_name(self) -> str:
        return self.criterion or "mean_metric"


class SelectionKind(UnitKind, name="selection", inputs_type=SelectionInputs, record_type=SelectionRecord,
                    on_model=False, runs_model=False, plan_rank=2, builtin_rate=0.354):  # fmt: skip
    def needs(self, unit: Unit) -> list[str]:
        inputs = unit.inputs_as(SelectionInputs)
        return [*inputs.candidates, *(inputs.references or [])]

    def may_use(self, unit: Unit, model: ModelSpec) -> bool:
        """A candidate's merge is kept until its selection has run: it may be the one chosen."""
        from robustness.experiment.planning.models import plain_model_id

        return model.m3 and plain_model_id(model.pair, model.label) == unit.label

    def run(self, unit: Unit, ctx: Context) -> SelectionRecord:
        from robustness.experiment.planning.models import candidate_models

        inputs = unit.inputs_as(SelectionInputs)
        by_id = {m.model_id: m for m in candidate_models(ctx.cfg)}
        grouped: dict[str, list[CleanRecord]] = {}
        for key in inputs.candidates:
            record = CleanRecord.model_validate(ctx.needed[key])
            grouped.setdefault(record.model_id, []).append(record)
        references: dict[str, dict[str, float]] = {}
        for key in inputs.references or []:
            record = CleanRecord.model_validate(ctx.needed[key])
            references.setdefault(record.model_id, {})[str(record.dataset)] = record.metric
        candidates = [(by_id[mid], records) for mid, records in grouped.items()]
        return choose(unit, candidates, ctx.cfg, references)

    def work(self, inputs: SelectionInputs, work: Work) -> float:
        return 1.0


KIND = SelectionKind()


def selection_unit(pair: str, method: MethodConfig, candidates: list[Unit], references: list[Unit] | None = None,
                   criterion: str = "mean_metric") -> Unit:  # fmt: skip
    """One (pair, method)'s choice among its candidates. A criterion other than `mean_metric` is part of the key
    (and so are the reference scores it normalises by); `mean_metric` keys stay those of earlier versions."""
    inputs = SelectionInputs(pair=pair, method=method.name, candidates=[u.key for u in candidates])
    if criterion != "mean_metric":
        inputs = inputs.model_copy(update={"criterion": criterion, "references": [u.key for u in references or []]})
    return KIND.unit(None, inputs, f"{pair}/{method.name}")


def choose(
    unit: Unit,
    candidates: list[tuple[ModelSpec, list[CleanRecord]]],
    cfg: ExperimentConfig,
    references: dict[str, dict[str, float]] | None = None,
) -> SelectionRecord:
    """The candidate ranked best by the config's criterion on the selection rows (ties: first listed).

    `references` holds the base's and the pair's experts' selection-row metrics (model id -> dataset -> metric),
    which the normalised criterion scales by (experiment/kinds/criterion.py)."""
    refs = references or {}
    base = refs.get("base")
    experts = [m for mid, m in refs.items() if mid != "base"]
    rows, scores = [], []
    for model, records in candidates:
        metrics: dict[str, float] = {str(r.dataset): r.metric for r in records}
        ranked = rank_candidate(metrics, base, experts, unit.inputs_as(SelectionInputs).criterion_name)
        lambdas = records[0].lambdas if records else None
        rows.append(SelectionCandidate(model_id=model.model_id, alpha=model.alpha, lambdas=lambdas, draw=model.draw,
                                       metrics=metrics, normalised=ranked.normalised or None,
                                       score=ranked.score))  # fmt: skip
        scores.append(ranked.score)
    best = max(range(len(rows)), key=lambda i: (scores[i], -i))
    first = candidates[0][0]
    convention = identity_fields(first, cfg, None)["m3_convention"]
    inputs = unit.inputs_as(SelectionInputs)
    criterion = inputs.criterion_name
    undefined = sorted({d for r in rows for d, v in (r.normalised or {}).items() if v is None})
    return SelectionRecord.model_validate(
        dict(
            pair=inputs.pair,
            method=first.method,
            m3_convention=convention,
            criterion=describe(criterion, cfg.eval.datasets, cfg.eval.selection_n, undefined),
            criterion_name=criterion,
            references=refs or None,
            chosen_model_id=rows[best].model_id,
            candidates=rows,
        )
    )

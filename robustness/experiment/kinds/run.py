"""Executing one unit: each function takes a loaded model (or paths) and returns a store record. Never writes
the store itself (only the runner does)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from merges.config import DEFAULT_DARE_METHOD
from robustness import catalog
from robustness.data.glue import GlueSplit
from robustness.evaluate import PromptEvaluator, evaluator_for
from robustness.experiment.kinds.criterion import describe, rank_candidate
from robustness.experiment.kinds.inputs import (
    AttackInputs,
    CleanInputs,
    LiveBenchInputs,
    SelectionInputs,
    TransferInputs,
)
from robustness.experiment.planning.plan import ModelSpec, Unit
from robustness.experiment.spec.config import ExperimentConfig
from robustness.metrics import pdr
from robustness.prompts import get_prompt
from robustness.store.records import (
    AttackRecord,
    CleanRecord,
    LiveBenchRecord,
    MergeRecord,
    QuestionScore,
    SelectionCandidate,
    SelectionRecord,
)


def _combines_by_task_arithmetic(merge: dict[str, Any]) -> bool:
    """Whether a merge's combining step is Task Arithmetic (itself, or after a sparsification step such as DARE):
    the one method whose M3 weights depend on the scale convention."""
    method = str(merge["method"])
    if catalog.METHODS[method].sparsifies:
        method = str(merge.get("parameters", {}).get("dare_method") or DEFAULT_DARE_METHOD)
    return method == "task_arithmetic"


def identity_fields(model: ModelSpec, cfg: ExperimentConfig, merge_json: dict[str, Any] | None) -> dict[str, Any]:
    lambdas = None
    if model.m3 and merge_json:
        drawn = merge_json.get("m3", {}).get("lambdas") or {}
        lambdas = [float(x) for group in sorted(drawn) for x in drawn[group]]
    convention = None
    if model.m3 and model.merge and _combines_by_task_arithmetic(model.merge):
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


def run_merge(model: ModelSpec, paths: dict[str, Path], out: Path) -> dict[str, Any]:
    """Merge into `out` (atomically, by the merge engine) and return merge.json."""
    from merges import merge

    assert model.merge is not None
    data = dict(model.merge)
    data["base_model"] = str(paths[data["base_model"]])
    data["models"] = [str(paths[name]) for name in data["models"]]
    return dict(merge(data, out, overwrite=True).record)


def merge_record(model: ModelSpec, cfg: ExperimentConfig, out: Path, merge_json: dict[str, Any]) -> MergeRecord:
    return MergeRecord(**identity_fields(model, cfg, merge_json), path=str(out), merge_json=merge_json)


def _evaluator(loaded: Any, cfg: ExperimentConfig, data: GlueSplit, rows: list[int], mode: str) -> PromptEvaluator:
    return evaluator_for(loaded, data, rows, mode=mode, chat=cfg.eval.chat,  # type: ignore[arg-type]
                         max_new_tokens=cfg.eval.max_new_tokens, batch_size=cfg.eval.batch_size)  # fmt: skip


def run_clean(
    unit: Unit, loaded: Any, cfg: ExperimentConfig, data: GlueSplit, merge_json: dict[str, Any] | None
) -> CleanRecord:
    inputs = unit.inputs_as(CleanInputs)
    prompt = get_prompt(data.dataset, inputs.prompt, cfg.data_dir)
    evaluator = _evaluator(loaded, cfg, data, inputs.rows, inputs.mode)
    outcome = evaluator(prompt.text)
    agreement = None
    if inputs.agreement_n:
        # Score mode stands in for PromptBench's generated answers only when the model answers with the label
        # word first: measure how often the two modes agree, per model.
        sub = inputs.rows[: inputs.agreement_n]
        other = "generate" if inputs.mode == "score" else "score"
        theirs = _evaluator(loaded, cfg, data, sub, other)(prompt.text).predictions
        agreement = sum(a == b for a, b in zip(outcome.predictions, theirs, strict=False)) / len(sub)
    assert unit.model is not None
    return CleanRecord.model_validate(
        dict(
            **identity_fields(unit.model, cfg, merge_json),
            dataset=data.dataset,
            split=inputs.split,
            prompt=prompt.name,
            mode=inputs.mode,
            metric_name=evaluator.metric_name,
            metric=outcome.metric,
            accuracy=outcome.accuracy,
            n=len(inputs.rows),
            indices=list(inputs.rows),
            labels=evaluator.labels,
            predictions=list(outcome.predictions),
            agreement=agreement,
        )
    )


def run_selection(
    unit: Unit,
    candidates: list[tuple[ModelSpec, list[CleanRecord]]],
    cfg: ExperimentConfig,
    references: dict[str, dict[str, float]] | None = None,
) -> SelectionRecord:
    """The candidate ranked best by the config's criterion on the selection rows (ties: first listed).

    `references` holds the base's and the pair's experts' selection-row metrics (model id -> dataset -> metric),
    which the normalised criterion scales by (robustness/experiment/kinds/criterion.py)."""
    refs = references or {}
    base = refs.get("base")
    experts = [m for mid, m in refs.items() if mid != "base"]
    rows, scores = [], []
    for model, records in candidates:
        metrics: dict[str, float] = {str(r.dataset): r.metric for r in records}
        ranked = rank_candidate(metrics, base, experts)
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


def run_attack_unit(unit: Unit, loaded: Any, cfg: ExperimentConfig, data: GlueSplit, merge_json: dict[str, Any] | None,
                    bert_parts: Any = None) -> AttackRecord:  # fmt: skip
    from robustness.attacks.recipes import run_attack

    inputs = unit.inputs_as(AttackInputs)
    spec = inputs.attack
    prompt = get_prompt(data.dataset, inputs.prompt, cfg.data_dir)
    evaluator = _evaluator(loaded, cfg, data, inputs.rows, inputs.mode)
    generator, similarity = bert_parts if bert_parts else (None, None)
    result = run_attack(spec.attack, evaluator, prompt.text, seed=inputs.seed, search=spec.search,
                        generator=generator, similarity=similarity, levenshtein=spec.levenshtein,
                        candidates=spec.candidates)  # fmt: skip
    assert unit.model is not None
    return AttackRecord.model_validate(
        dict(
            **identity_fields(unit.model, cfg, merge_json),
            dataset=data.dataset,
            prompt=prompt.name,
            attack=spec.attack,
            search=result.search,
            seed=inputs.seed,
            metric_name=evaluator.metric_name,
            clean_metric=result.clean.metric,
            attacked_metric=result.attacked.metric,
            pdr=result.pdr,
            attacked_prompt=result.attacked_prompt,
            queries=result.queries,
            indices=list(inputs.rows),
            labels=evaluator.labels,
            clean_predictions=list(result.clean.predictions),
            attacked_predictions=list(result.attacked.predictions),
            generator=result.generator,
            similarity_encoder=result.similarity_encoder,
        )
    )


def run_replay(unit: Unit, loaded: Any, cfg: ExperimentConfig, data: GlueSplit, merge_json: dict[str, Any] | None,
               source: AttackRecord) -> AttackRecord:  # fmt: skip
    """A transfer attack's replay: the clean prompt and the prompt the source attack found, each scored once on
    this unit's model on the source's rows. No search: the prompt is taken unchanged."""
    inputs = unit.inputs_as(TransferInputs)
    if list(source.indices) != list(inputs.rows) or source.dataset != inputs.dataset:
        raise ValueError(f"unit {unit.key}: its source {inputs.source} attacked other rows ({source.dataset}); the "
                         "store does not match the plan, so rerun the study to plan the replay again")  # fmt: skip
    prompt = get_prompt(data.dataset, inputs.prompt, cfg.data_dir)
    evaluator = _evaluator(loaded, cfg, data, inputs.rows, inputs.mode)
    clean, attacked = evaluator(prompt.text), evaluator(source.attacked_prompt)
    assert unit.model is not None
    return AttackRecord.model_validate(
        dict(
            **identity_fields(unit.model, cfg, merge_json),
            dataset=data.dataset,
            prompt=prompt.name,
            attack=inputs.attack.attack,
            search=source.search,
            seed=inputs.seed,
            metric_name=evaluator.metric_name,
            clean_metric=clean.metric,
            attacked_metric=attacked.metric,
            pdr=pdr(clean.metric, attacked.metric),
            attacked_prompt=source.attacked_prompt,
            queries=1,
            indices=list(inputs.rows),
            labels=evaluator.labels,
            clean_predictions=list(clean.predictions),
            attacked_predictions=list(attacked.predictions),
            generator=source.generator,
            similarity_encoder=source.similarity_encoder,
            source_key=inputs.source,
            source_model_id=source.model_id,
        )
    )


def run_livebench(unit: Unit, loaded: Any, cfg: ExperimentConfig, answers_dir: Path,
                  merge_json: dict[str, Any] | None) -> LiveBenchRecord:  # fmt: skip
    from robustness.livebench.answers import read_answers
    from robustness.livebench.generate import generate_answers, model_generator
    from robustness.livebench.questions import CATEGORY_OF_TASK, load_questions, subset
    from robustness.livebench.results import score_answers

    lb, task = cfg.livebench, unit.inputs_as(LiveBenchInputs).task
    found = load_questions(lb.questions_dir, [task], lb.release_date, data_dir=cfg.data_dir)
    questions = subset(found, lb.n, lb.seed)
    # Answers go to a file beside the store first, so a killed generation resumes where it stopped.
    answers_dir.mkdir(parents=True, exist_ok=True)
    out = answers_dir / (unit.key.replace("/", "_") + ".jsonl")
    generate_answers(questions, model_generator(loaded, lb.max_new_tokens, cfg.eval.batch_size), out)
    summary = score_answers(questions, read_answers(out))
    assert unit.model is not None
    return LiveBenchRecord.model_validate(
        dict(
            **identity_fields(unit.model, cfg, merge_json),
            category=CATEGORY_OF_TASK[task],
            task=task,
            n=len(summary.per_question),
            per_question=[QuestionScore(question_id=s.question_id, score=s.score) for s in summary.per_question],
            mean=summary.overall,
        )
    )

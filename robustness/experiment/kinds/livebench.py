"""The LiveBench kind: one model's answers to one LiveBench task's questions, generated and scored (the
out-of-distribution check). Answers go to a file beside the store first, so a killed generation resumes where it
stopped. Work: parameters x questions x (question tokens + `max_new_tokens`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from robustness.experiment.kinds.base import Context, ModelInputs, Unit, UnitKind
from robustness.experiment.kinds.common import identity_fields
from robustness.records import LiveBenchRecord, QuestionScore

if TYPE_CHECKING:
    from robustness.experiment.planning.models import ModelSpec
    from robustness.experiment.sizing.work import Work
    from robustness.experiment.spec.config import ExperimentConfig

ANSWERS = "livebench-answers"  # the folder under the run folder that holds the answers being generated


class LiveBenchInputs(ModelInputs):
    task: str
    questions_dir: str | None
    n: int
    seed: int
    release_date: str | None
    max_new_tokens: int


class LiveBenchKind(UnitKind, name="livebench", inputs_type=LiveBenchInputs, record_type=LiveBenchRecord,
                    plan_rank=4, builtin_rate=5.536e-11):  # fmt: skip
    def run(self, unit: Unit, ctx: Context) -> LiveBenchRecord:
        from robustness.livebench.answers import read_answers
        from robustness.livebench.generate import generate_answers, model_generator
        from robustness.livebench.questions import CATEGORY_OF_TASK, load_questions, subset
        from robustness.livebench.results import score_answers

        assert unit.model is not None
        cfg, worker = ctx.cfg, ctx.worker
        loaded = worker.load(unit.model)
        lb, task = cfg.livebench, unit.inputs_as(LiveBenchInputs).task
        found = load_questions(lb.questions_dir, [task], lb.release_date, data_dir=cfg.data_dir)
        questions = subset(found, lb.n, lb.seed)
        answers_dir = worker.run_dir / ANSWERS
        answers_dir.mkdir(parents=True, exist_ok=True)
        out = answers_dir / (unit.key.replace("/", "_") + ".jsonl")
        generate_answers(questions, model_generator(loaded, lb.max_new_tokens, cfg.eval.batch_size), out)
        summary = score_answers(questions, read_answers(out))
        return LiveBenchRecord.model_validate(
            dict(
                **identity_fields(unit.model, cfg, worker.merge_json(unit.model)),
                category=CATEGORY_OF_TASK[task],
                task=task,
                n=len(summary.per_question),
                per_question=[QuestionScore(question_id=s.question_id, score=s.score) for s in summary.per_question],
                mean=summary.overall,
            )
        )

    def work(self, inputs: LiveBenchInputs, work: Work) -> float:
        from robustness.experiment.sizing.work import QUESTION_TOKENS

        return work.parameters * inputs.n * (QUESTION_TOKENS + inputs.max_new_tokens)


KIND = LiveBenchKind()


def livebench_units(cfg: ExperimentConfig, model: ModelSpec, identities: dict[str, str]) -> list[Unit]:
    settings = cfg.livebench.model_dump(exclude={"tasks", "methods"})
    units = []
    for task in cfg.livebench.tasks:
        inputs = LiveBenchInputs(model=model.identity, checkpoints=identities, task=task, **settings)
        units.append(KIND.unit(model, inputs, f"{model.model_id}/{task}"))
    return units

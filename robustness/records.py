"""The records a unit of work returns, as the runner writes them and the report reads them.

One schema per unit kind, shared by both sides so that a field renamed on one side fails validation at `put`
time instead of silently dropping a column from the report. Records are frozen and reject unknown fields,
NaN and infinity (JSON cannot hold them and a metric that is NaN is a bug upstream, not a result).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from robustness.catalog import AttackName, DatasetName, MetricName, ModelKind, ReadingName, RecordSearch

Convention = Literal["official", "preserve_scale"]


class Record(BaseModel):
    """Base of every record: immutable, strict about unknown fields and non-finite floats."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class ModelIdentity(Record):
    """Which model a result belongs to. `model_id` is unique per merged model (one per M3 candidate)."""

    model_id: str
    method: ModelKind
    m3: bool
    alpha: float | None = None
    lambdas: list[float] | None = None
    draw: int | None = None
    m3_convention: Convention | None = None  # how Task Arithmetic + M3 scaled the weights (merging.md)
    pair: str  # the experts merged, e.g. 'sst2+cola'


class MergeRecord(ModelIdentity):
    """A finished merge: where the checkpoint is and the contents of its merge.json."""

    path: str | None = None
    merge_json: dict[str, Any] = Field(default_factory=dict)


class ModeCheck(Record):
    """Both modes on the same rows: the raw generated answers, the labels the study's rule read from them, and
    score mode's labels. The report reads the answers again under every rule (robustness/parsing.py)."""

    indices: list[int]
    labels: list[int]
    answers: list[str]
    reading: ReadingName
    generated: list[int]  # read from `answers` by `reading`; -1: no label
    scored: list[int]

    @property
    def agreement(self) -> float:
        """Share of the rows on which both modes give the same label."""
        return sum(a == b for a, b in zip(self.generated, self.scored, strict=True)) / len(self.indices)


class CleanRecord(ModelIdentity):
    """One clean evaluation of one model on one split with one prompt, with per-sample predictions."""

    dataset: DatasetName
    split: Literal["selection", "report"]
    prompt: str
    mode: Literal["score", "generate"]
    metric_name: MetricName
    metric: float
    accuracy: float
    n: int
    indices: list[int]
    labels: list[int]
    predictions: list[int]  # -1: the answer mapped to no label (counts as wrong)
    agreement: float | None = None  # fraction of rows where score and generate modes agree
    # Generate mode: every row's raw answer and the rule that read it, so that the reading can be audited.
    answers: list[str] | None = None
    reading: ReadingName | None = None
    mode_check: ModeCheck | None = None  # score mode against generated answers on the first agreement_n rows


class AttackRecord(ModelIdentity):
    """One attack with one seed: clean and attacked predictions on the same samples, so they can be paired."""

    dataset: DatasetName
    prompt: str
    attack: AttackName
    search: RecordSearch  # brute-force: StressTest tries every suffix
    seed: int
    metric_name: MetricName
    clean_metric: float
    attacked_metric: float
    pdr: float | None  # None when clean_metric <= 0 (undefined, attacks.md)
    attacked_prompt: str
    queries: int
    indices: list[int]
    labels: list[int]
    clean_predictions: list[int]
    attacked_predictions: list[int]
    generator: str | None = None  # e.g. the masked LM behind BERTAttack's candidates
    similarity_encoder: str | None = None
    # A transfer attack's replay: the source attack unit whose found prompt was scored unchanged on this model (its
    # search is the source's, `queries` the one attacked evaluation), and the source's model. None for attacks.
    source_key: str | None = None
    source_model_id: str | None = None
    # A found prompt measured in generate mode (`eval.measure_generate`): the predictions are read from these raw
    # answers by `reading`. None: score mode, as every record from before it existed.
    mode: Literal["score", "generate"] | None = None
    reading: ReadingName | None = None
    clean_answers: list[str] | None = None
    attacked_answers: list[str] | None = None


class QuestionScore(Record):
    question_id: str
    score: float


class LiveBenchRecord(ModelIdentity):
    """One LiveBench task scored for one model (out-of-distribution evaluation)."""

    category: str
    task: str
    n: int
    per_question: list[QuestionScore]
    mean: float


class SelectionCandidate(Record):
    """One M3 candidate on the selection split: its draw and its selection metric per dataset."""

    model_id: str
    alpha: float | None = None
    lambdas: list[float] | None = None
    draw: int | None = None
    metrics: dict[str, float]  # dataset -> clean metric on the selection split
    normalised: dict[str, float | None] | None = None  # dataset -> normalised gain (criterion normalised_gain)
    score: float | None = None  # what selection ranked the candidates by
    attacked_metrics: dict[str, float] | None = None  # dataset -> attacked metric on the selection split


class SelectionRecord(Record):
    """Lambda selection for one (pair, method): the candidate carried forward and the whole curve."""

    pair: str
    method: ModelKind
    m3_convention: Convention | None = None
    split: Literal["selection"] = "selection"
    criterion: str  # how candidates were ranked, in words (e.g. 'mean clean metric over datasets')
    criterion_name: str = "mean_metric"  # the config's eval.selection
    references: dict[str, dict[str, float]] | None = None  # base and experts: dataset -> selection-row metric
    chosen_model_id: str
    candidates: list[SelectionCandidate]


# Record fields copied into indexed columns of the `units` table: what reports and the runner filter on.
INDEXED_FIELDS: tuple[str, ...] = (
    "model_id",
    "method",
    "m3",
    "pair",
    "dataset",
    "split",
    "attack",
    "seed",
    "mode",
    "category",
    "task",
)


def indexed_values(record: Record) -> dict[str, Any]:
    """The indexed columns of a record (None where the record has no such field)."""
    values = {name: getattr(record, name, None) for name in INDEXED_FIELDS}
    if isinstance(values["m3"], bool):
        values["m3"] = int(values["m3"])
    return values

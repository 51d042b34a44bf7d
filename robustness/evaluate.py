"""Evaluating a model on a GLUE split with one prompt: `score` mode (label-word log-probabilities, one forward
pass) or `generate` mode (greedy decoding, each answer read by a documented rule: robustness/parsing.py)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from robustness.data.glue import GlueSplit
from robustness.evaluation_cache import EvaluationCache, outcome_key
from robustness.metrics import METRICS, accuracy, metric_for
from robustness.models.backend import Backend
from robustness.parsing import DEFAULT_READING, ReadingName, parse_label
from robustness.prompts import Prompt, label_words

# Turns task inputs into model inputs (e.g. wraps them in the chat template).
FormatFn = Callable[[list[str]], list[str]]


@dataclass(frozen=True)
class CleanResult:
    dataset: str
    prompt: str
    metric_name: str
    metric: float
    accuracy: float
    indices: tuple[int, ...]
    labels: tuple[int, ...]
    predictions: tuple[int, ...]


def subset_indices(n_rows: int, n: int | None, seed: int) -> tuple[int, ...]:
    """A seeded sample of `n` row indices (all rows, in order, when n is None), sorted for stable output."""
    if n is None or n >= n_rows:
        return tuple(range(n_rows))
    rng = np.random.default_rng(seed)
    return tuple(sorted(int(i) for i in rng.choice(n_rows, size=n, replace=False)))


def score_predictions(backend: Backend, texts: Sequence[str], dataset: str) -> list[int]:
    """Predicted label ids: the label word with the highest next-token log-probability."""
    scores = backend.score(texts, label_words(dataset))
    return [int(i) for i in scores.argmax(dim=-1)]


def evaluate_clean(
    backend: Backend,
    data: GlueSplit,
    prompt: Prompt,
    format_texts: FormatFn,
    indices: Sequence[int],
    mode: Mode = "score",
) -> CleanResult:
    evaluator = PromptEvaluator(backend, data, indices, format_texts, mode=mode)
    outcome = evaluator(prompt.text)
    return CleanResult(
        dataset=data.dataset,
        prompt=prompt.name,
        metric_name=evaluator.metric_name,
        metric=outcome.metric,
        accuracy=outcome.accuracy,
        indices=tuple(indices),
        labels=tuple(evaluator.labels),
        predictions=outcome.predictions,
    )


Mode = Literal["score", "generate"]


def generate_answers(backend: Backend, texts: Sequence[str], max_new_tokens: int) -> list[str]:
    """The raw generated answers (what the reading rule reads; kept so that the reading can be audited)."""
    return list(backend.generate(texts, max_new_tokens))


@dataclass(frozen=True)
class Outcome:
    """One prompt evaluated on the evaluation rows."""

    prompt: str
    metric: float
    accuracy: float
    predictions: tuple[int, ...]
    answers: tuple[str, ...] = ()  # generate mode: the raw answers the predictions were read from


@dataclass
class PromptEvaluator:
    """Evaluates prompt templates on a fixed set of rows; every (prompt, rows) result is memoised.

    `queries` counts every evaluation asked for; `evaluations` counts those that reached the model.
    """

    backend: Backend
    data: GlueSplit
    indices: Sequence[int]
    format_texts: FormatFn
    mode: Mode = "score"
    max_new_tokens: int = 10
    reading: ReadingName = (
        DEFAULT_READING  # generate mode's rule for reading an answer as a label (robustness/parsing.py)
    )
    on_evaluate: Callable[[int], None] | None = None  # progress hook: called with the evaluation count
    # Row outcomes shared by a study's units (robustness/evaluation_cache.py); `cache_scope` names the model as it
    # runs (identity, dtype, device). None: every row runs.
    cache: EvaluationCache | None = None
    cache_scope: str = ""
    queries: int = 0
    evaluations: int = 0
    rows_run: int = 0
    rows_served: int = 0  # rows whose outcome came from the cache
    _memo: dict[str, Outcome] = field(default_factory=dict, repr=False)

    @property
    def labels(self) -> list[int]:
        return [self.data.labels[i] for i in self.indices]

    @property
    def metric_name(self) -> str:
        return metric_for(self.data.dataset)

    def __call__(self, prompt: str) -> Outcome:
        self.queries += 1
        if prompt in self._memo:
            return self._memo[prompt]
        self.evaluations += 1
        texts = self.format_texts([prompt.replace("{content}", self.data.sentences[i]) for i in self.indices])
        raw = self._outcomes(texts)
        answers: list[str] = []
        if self.mode == "score":
            predictions = [int(v) for v in raw]
        else:
            answers = raw
            predictions = [parse_label(a, self.data.dataset, self.reading) for a in answers]
        labels = self.labels
        outcome = Outcome(
            prompt=prompt,
            metric=METRICS[self.metric_name](labels, predictions),
            accuracy=accuracy(labels, predictions),
            predictions=tuple(predictions),
            answers=tuple(answers),
        )
        self._memo[prompt] = outcome
        if self.on_evaluate is not None:
            self.on_evaluate(self.evaluations)
        return outcome

    def _outcomes(self, texts: list[str]) -> list[str]:
        """Each text's raw outcome (score mode: the predicted label as text; generate mode: the answer), the rows
        the cache holds served from it and the others run on the model (and then kept in it)."""
        if self.cache is None:
            self.rows_run += len(texts)
            return self._run(texts)
        keys = [outcome_key(self.cache_scope, self.mode, self.max_new_tokens, t) for t in texts]
        found = self.cache.lookup(keys)
        todo = list(dict.fromkeys(k for k in keys if k not in found))
        first = {k: i for i, k in reversed(list(enumerate(keys)))}
        new = dict(zip(todo, self._run([texts[first[k]] for k in todo]), strict=True)) if todo else {}
        served = sum(k in found for k in keys)
        self.cache.record(new, served)
        self.rows_run, self.rows_served = self.rows_run + len(keys) - served, self.rows_served + served
        return [found[k] if k in found else new[k] for k in keys]

    def _run(self, texts: list[str]) -> list[str]:
        if self.mode == "score":
            return [str(p) for p in score_predictions(self.backend, texts, self.data.dataset)]
        return generate_answers(self.backend, texts, self.max_new_tokens)


def evaluator_for(
    loaded: Any,
    data: GlueSplit,
    rows: Sequence[int],
    mode: Mode = "score",
    chat: bool | None = None,
    max_new_tokens: int = 10,
    batch_size: int | None = None,
    reading: ReadingName = DEFAULT_READING,
    cache: EvaluationCache | None = None,
    cache_scope: str = "",
) -> PromptEvaluator:
    """A PromptEvaluator on a loaded model: inputs wrapped in its chat template unless `chat` is False
    (`None`: when it has one); rows `cache` holds for `cache_scope` are served from it."""
    from functools import partial

    from robustness.models.backend import HFBackend
    from robustness.models.chat import format_inputs

    use_chat = loaded.has_chat_template if chat is None else chat
    return PromptEvaluator(
        HFBackend(loaded, batch_size=batch_size),
        data,
        rows,
        partial(format_inputs, loaded.tokenizer, chat=use_chat),
        mode=mode,
        max_new_tokens=max_new_tokens,
        reading=reading,
        cache=cache,
        cache_scope=cache_scope,
    )

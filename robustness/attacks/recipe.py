"""What an attack recipe is: a goal, a transformation, constraints and a search, put together and run.

As TextAttack builds PromptBench's attacks, a recipe is assembled from four parts:

- the goal: the largest drop of the task metric from the clean prompt's (`MetricDrop`, every recipe's);
- the transformation: the candidate prompts made from the current one (`robustness.attacks.transformations`);
- the constraints: which candidates are allowed (`robustness.attacks.constraints`);
- the search: which words are visited and which candidate is kept, one of the shared searches below (`GREEDY`
  and `PAPER`, which the config's `search` picks, or a fixed one such as `BRUTE_FORCE`).

A recipe object also says what the catalog, configs and reports read: its name and display label, the attack
config's settings it reads, the searches in which its seed changes the attack and the search it records. Those are
plain data; the parts' code (numpy, the evaluator, and torch through it) is imported only inside the methods that
run an attack, so listing the attacks stays cheap (README, "Adding a dataset, a merge method or an attack").
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from robustness.attacks.constraints import MinSimilarity
    from robustness.attacks.search import Step
    from robustness.attacks.text import PromptText
    from robustness.attacks.transformations import WordGenerator
    from robustness.evaluate import Outcome, PromptEvaluator

SearchName = Literal["greedy", "paper"]  # the config's `search`: the fast default, or PromptBench's own recipe
RecordSearch = Literal["greedy", "paper", "brute-force"]  # a record's `search`: what actually ran
StressPlacement = Literal["promptbench", "end"]
# The keys of a study's attack entry that tune one attack; setting one the attack does not read is an error.
ATTACK_SETTINGS = frozenset({"search", "levenshtein", "masked_lm", "similarity_encoder", "candidates"})
PAPER_POSITIONS = 3  # the paper search's word positions, drawn with the attack seed

# Higher is a stronger attack: the clean metric minus the candidate's.
Score = Callable[[Sequence["PromptText"]], list[float]]


class Constraint(Protocol):
    """Keeps the allowed candidates (compared with the original prompt) and names itself for the record."""

    def __call__(self, candidates: Sequence[PromptText], original: PromptText) -> list[PromptText]: ...

    def describe(self) -> str: ...


class Search(Protocol):
    """Visits the prompt with a transformation and keeps the strongest allowed candidate it finds."""

    @property
    def name(self) -> str: ...  # as the record spells it

    @property
    def implied(self) -> tuple[str, ...]: ...  # the constraints the search itself enforces, for the record

    def __call__(self, original: PromptText, dataset: str, transformation: Any, constraints: Sequence[Constraint],
                 score: Score, seed: int) -> tuple[PromptText, list[Step]]: ...  # fmt: skip

    def max_evaluations(self, words: int, candidates: int) -> int: ...


@dataclass(frozen=True)
class WordSwapSearch:
    """Greedy word swap: at each visited word keep the best allowed candidate if it raises the score. `positions`
    None visits every modifiable word ranked by importance (PromptBench); k visits k modifiable positions drawn
    with the attack seed (the M3 paper)."""

    name: str
    positions: int | None = None
    implied: tuple[str, ...] = ("no-repeat", "stopwords", "protected-words")

    @property
    def seeded(self) -> bool:
        return self.positions is not None

    def __call__(self, original: PromptText, dataset: str, transformation: Any, constraints: Sequence[Constraint],
                 score: Score, seed: int) -> tuple[PromptText, list[Step]]:  # fmt: skip
        from robustness.attacks.search import greedy_word_swap, random_positions

        positions = random_positions(original, dataset, self.positions, seed) if self.positions is not None else None
        best, _, steps = greedy_word_swap(original, dataset, transformation, constraints, score, 0.0, positions)
        return best, steps

    def max_evaluations(self, words: int, candidates: int) -> int:
        """Evaluations besides the clean prompt's, at most, for `words` modifiable words and `candidates` per word:
        the importance ranking (one per word, greedy only), then each visited position's candidates."""
        if self.positions is None:
            return words + words * candidates
        return min(self.positions, words) * candidates


@dataclass(frozen=True)
class BruteForceSearch:
    """Every candidate of the whole prompt tried once; the strongest is kept even if it helps (StressTest)."""

    name: str = "brute-force"
    implied: tuple[str, ...] = ()

    def __call__(self, original: PromptText, dataset: str, transformation: Any, constraints: Sequence[Constraint],
                 score: Score, seed: int) -> tuple[PromptText, list[Step]]:  # fmt: skip
        from robustness.attacks.search import brute_force

        if constraints:
            raise ValueError("the brute-force search applies no constraints; use a word-swap search")
        best, _, steps = brute_force(original, transformation, score, 0.0)
        return best, steps

    def max_evaluations(self, words: int, candidates: int) -> int:
        return candidates


# The searches the config's `search` picks, defined once for every recipe that lets it choose.
GREEDY = WordSwapSearch("greedy")
PAPER = WordSwapSearch("paper", positions=PAPER_POSITIONS)
BRUTE_FORCE = BruteForceSearch()
WORD_SEARCHES: dict[str, WordSwapSearch] = {s.name: s for s in (GREEDY, PAPER)}
SEARCHES: tuple[str, ...] = tuple(WORD_SEARCHES)
# The searches that draw with the attack seed: a recipe whose transformation is not seeded is seeded in these only.
SEEDED_SEARCHES = frozenset(name for name, s in WORD_SEARCHES.items() if s.seeded)


@dataclass(frozen=True)
class RunSettings:
    """What one run of an attack takes besides the evaluator and the prompt: the attack seed and the attack config's
    settings. A recipe reads those it names in `settings` (and the seed); the others keep their defaults."""

    seed: int = 0
    search: str = "greedy"  # one of SEARCHES; ignored by a recipe with a fixed search
    levenshtein: int = 30  # DeepWordBug's edit-distance bound
    candidates: int = 48  # BERTAttack's replacement words per position (PromptBench: 48)
    generator: WordGenerator | None = None  # BERTAttack's word generator (robustness.attacks.generators)
    similarity: MinSimilarity | None = None  # BERTAttack's sentence-similarity constraint
    stress_placement: StressPlacement = "promptbench"


@dataclass(frozen=True)
class MetricDrop:
    """The goal: the largest drop of the task metric, scored as the clean metric minus the candidate's."""

    evaluator: PromptEvaluator
    clean: Outcome

    def __call__(self, candidates: Sequence[PromptText]) -> list[float]:
        return [self.clean.metric - self.evaluator(c.text).metric for c in candidates]


@dataclass
class AttackResult:
    attack: str
    search: str
    seed: int
    dataset: str
    metric_name: str
    original_prompt: str
    attacked_prompt: str
    clean: Outcome
    attacked: Outcome
    queries: int
    evaluations: int
    seconds: float
    steps: list[Step] = field(default_factory=list)
    constraints: list[str] = field(default_factory=list)
    generator: str | None = None
    similarity_encoder: str | None = None

    @property
    def pdr(self) -> float | None:
        from robustness.metrics import pdr

        return pdr(self.clean.metric, self.attacked.metric)

    def as_json(self, evaluator: PromptEvaluator) -> dict[str, Any]:
        return {
            "attack": self.attack,
            "search": self.search,
            "seed": self.seed,
            "dataset": self.dataset,
            "metric_name": self.metric_name,
            "prompt": self.original_prompt,
            "attacked_prompt": self.attacked_prompt,
            "clean_metric": self.clean.metric,
            "attacked_metric": self.attacked.metric,
            "metric": self.attacked.metric,
            "accuracy": self.attacked.accuracy,
            "clean_accuracy": self.clean.accuracy,
            "pdr": self.pdr,
            "absolute_drop": self.clean.metric - self.attacked.metric,
            "queries": self.queries,
            "evaluations": self.evaluations,
            "seconds": round(self.seconds, 2),
            "indices": list(evaluator.indices),
            "labels": evaluator.labels,
            "predictions": list(self.attacked.predictions),
            "clean_predictions": list(self.clean.predictions),
            "attacked_predictions": list(self.attacked.predictions),
            "steps": [s.__dict__ for s in self.steps],
            "constraints": self.constraints,
            "generator": self.generator,
            "similarity_encoder": self.similarity_encoder,
        }


@dataclass(frozen=True, kw_only=True)
class AttackRecipe(ABC):
    """One attack: what the catalog reads (the fields) and how it is assembled from its parts (the methods).

    A subclass gives the transformation and how many candidates it makes at one position; it overrides
    `constraints` when it has some and sets `fixed_search` when the config's `search` does not apply.
    """

    name: str  # as configs and records spell it
    display: str  # as reports spell it
    settings: frozenset[str] = frozenset()  # the attack config's keys of ATTACK_SETTINGS it reads
    # Searches in which the attack seed changes the attack itself, not only which rows a study attacks.
    seeded_searches: frozenset[str] = frozenset()
    fixed_search: Search | None = None  # the search it always runs, whatever the config's `search` says
    # Whether a run needs a word generator and a similarity constraint in its settings (built from the attacked
    # model, `masked_lm` and `similarity_encoder` by robustness.attacks.generators.bertattack_parts).
    needs_word_models: bool = False

    @property
    def record_search(self) -> str | None:
        """The search its records name whatever the config says, if it has a fixed one."""
        return None if self.fixed_search is None else self.fixed_search.name

    def goal(self, evaluator: PromptEvaluator, clean: Outcome) -> Score:
        return MetricDrop(evaluator, clean)

    @abstractmethod
    def transformation(self, run: RunSettings) -> Any:
        """A word transformation (called with the prompt and a word index) for a word-swap search, or the object
        its fixed search expects."""

    @abstractmethod
    def max_candidates(self, run: RunSettings) -> int:
        """Candidates the transformation makes at one word at most (a fixed search: in all), for the cost model."""

    def constraints(self, run: RunSettings) -> list[Constraint]:
        return []

    def search(self, run: RunSettings) -> Search:
        return self.fixed_search or WORD_SEARCHES[run.search]

    def describe(self, search: Search, constraints: Sequence[Constraint], run: RunSettings) -> list[str]:
        """The record's `constraints`: the search's own, then the recipe's."""
        return [*search.implied, *(c.describe() for c in constraints)]

    def word_models(self, run: RunSettings) -> tuple[str | None, str | None]:
        """The record's `generator` and `similarity_encoder`: the models the attack used besides the attacked one."""
        return None, None

    def max_evaluations(self, words: int, run: RunSettings) -> int:
        """Prompt evaluations one run makes at most on a prompt with `words` modifiable words: the clean prompt
        and the search's candidates (the final attacked prompt is one already evaluated)."""
        return 1 + self.search(run).max_evaluations(words, self.max_candidates(run))

    def run(self, evaluator: PromptEvaluator, prompt: str, run: RunSettings) -> AttackResult:
        """Attack `prompt` on the evaluator's rows: the search keeps the allowed candidate that lowers the task
        metric most."""
        from robustness.attacks.text import PromptText

        if run.search not in WORD_SEARCHES:
            raise ValueError(f"unknown search {run.search!r}; choose one of: {', '.join(SEARCHES)}")
        start = time.perf_counter()
        queries0, evals0 = evaluator.queries, evaluator.evaluations
        dataset = evaluator.data.dataset
        original = PromptText(prompt)
        clean = evaluator(prompt)
        transformation, constraints, search = self.transformation(run), self.constraints(run), self.search(run)
        best, steps = search(original, dataset, transformation, constraints, self.goal(evaluator, clean), run.seed)
        attacked = evaluator(best.text)
        generator, encoder = self.word_models(run)
        return AttackResult(
            attack=self.name,
            search=search.name,
            seed=run.seed,
            dataset=dataset,
            metric_name=evaluator.metric_name,
            original_prompt=prompt,
            attacked_prompt=best.text,
            clean=clean,
            attacked=attacked,
            queries=evaluator.queries - queries0,
            evaluations=evaluator.evaluations - evals0,
            seconds=time.perf_counter() - start,
            steps=steps,
            constraints=self.describe(search, constraints, run),
            generator=generator,
            similarity_encoder=encoder,
        )

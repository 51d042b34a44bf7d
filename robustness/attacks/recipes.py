"""The three recipes as data: which transformation, constraints and search each attack uses."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from robustness.attacks.constraints import MaxLevenshtein, MinSimilarity
from robustness.attacks.search import Filter, Step, brute_force, greedy_word_swap, random_positions
from robustness.attacks.text import PromptText
from robustness.attacks.transformations import CharEdits, LMWordSwap, StressSuffixes, WordGenerator
from robustness.catalog import ATTACKS, SEARCHES
from robustness.evaluate import Outcome, PromptEvaluator
from robustness.metrics import pdr

PAPER_POSITIONS = 3


def seed_changes_attack(attack: str, search: str) -> bool:
    """Whether the attack seed changes the attack itself, not only which rows an experiment attacks.

    DeepWordBug draws its character edits with the seed (either search); the paper search draws its word positions
    with it. Greedy BERTAttack (ranked words, a deterministic word generator) and StressTest (every suffix tried)
    ignore it: run with several seeds they give row resamples (`experiment.plan.attack_rows`), not attack seeds.
    """
    return search in ATTACKS[attack].seeded_searches


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


def run_attack(
    attack: str,
    evaluator: PromptEvaluator,
    prompt: str,
    seed: int = 0,
    search: str = "greedy",
    generator: WordGenerator | None = None,
    similarity: MinSimilarity | None = None,
    levenshtein: int = 30,
    candidates: int = 48,
    stress_placement: Literal["promptbench", "end"] = "promptbench",
) -> AttackResult:
    """Attack `prompt` on the evaluator's rows; the goal is the largest drop of the task metric.

    `candidates` is BERTAttack's number of replacement words per position (PromptBench: 48)."""
    if attack not in ATTACKS:
        raise ValueError(f"unknown attack {attack!r}; choose one of: {', '.join(ATTACKS)}")
    if search not in SEARCHES:
        raise ValueError(f"unknown search {search!r}; choose one of: {', '.join(SEARCHES)}")
    start = time.perf_counter()
    queries0, evals0 = evaluator.queries, evaluator.evaluations
    dataset = evaluator.data.dataset
    original = PromptText(prompt)
    clean = evaluator(prompt)

    def score(candidates: Sequence[PromptText]) -> list[float]:
        return [clean.metric - evaluator(c.text).metric for c in candidates]

    filters: list[Filter] = []
    generator_name = encoder_name = None
    if attack == "stresstest":
        best, _, steps = brute_force(original, StressSuffixes(stress_placement), score, 0.0)
        constraints = [f"placement={stress_placement}"]
    else:
        if attack == "deepwordbug":
            transformation: Any = CharEdits(seed)
            filters.append(MaxLevenshtein(levenshtein))
        else:
            if generator is None or similarity is None:
                raise ValueError("bertattack needs a word generator and a sentence-similarity constraint")
            transformation = LMWordSwap(generator, k=candidates)
            filters.append(similarity)
            generator_name, encoder_name = generator.name, similarity.encoder_name
        positions = random_positions(original, dataset, PAPER_POSITIONS, seed) if search == "paper" else None
        best, _, steps = greedy_word_swap(original, dataset, transformation, filters, score, 0.0, positions)
        constraints = ["no-repeat", "stopwords", "protected-words", *(f.describe() for f in filters)]  # type: ignore[attr-defined]
    attacked = evaluator(best.text)
    return AttackResult(
        attack=attack,
        search=ATTACKS[attack].record_search or search,
        seed=seed,
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
        constraints=constraints,
        generator=generator_name,
        similarity_encoder=encoder_name,
    )

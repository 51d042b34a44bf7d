"""PromptBench's three recipes as objects, each from a goal, a transformation, constraints and a search, registered
on import; and `run_attack`, the entry point by name.

DeepWordBug: character edits under a Levenshtein bound. BERTAttack: a language model's replacement words under a
sentence-similarity bound. StressTest: tautology suffixes, every one tried. The first two take the config's
`search` (`GREEDY` or `PAPER`, shared by both); StressTest always runs `BRUTE_FORCE` (README, "Attacks").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from robustness.attacks.recipe import (
    ATTACK_SETTINGS,
    BRUTE_FORCE,
    GREEDY,
    PAPER,
    PAPER_POSITIONS,
    SEARCHES,
    SEEDED_SEARCHES,
    AttackRecipe,
    AttackResult,
    BruteForceSearch,
    Constraint,
    MetricDrop,
    RecordSearch,
    RunSettings,
    Search,
    SearchName,
    StressPlacement,
    WordSwapSearch,
)
from robustness.attacks.registry import (
    ATTACKS,
    get_attack,
    register_attack,
    registered_attack,
    seed_changes_attack,
    unregister_attack,
)

if TYPE_CHECKING:
    from robustness.attacks.constraints import MinSimilarity
    from robustness.attacks.transformations import WordGenerator
    from robustness.evaluate import PromptEvaluator

__all__ = [
    "ATTACKS",
    "ATTACK_SETTINGS",
    "BERTATTACK",
    "BRUTE_FORCE",
    "DEEPWORDBUG",
    "GREEDY",
    "PAPER",
    "PAPER_POSITIONS",
    "SEARCHES",
    "STRESSTEST",
    "AttackRecipe",
    "AttackResult",
    "BertAttack",
    "BruteForceSearch",
    "Constraint",
    "DeepWordBug",
    "MetricDrop",
    "RecordSearch",
    "RunSettings",
    "Search",
    "SearchName",
    "StressPlacement",
    "StressTest",
    "WordSwapSearch",
    "get_attack",
    "register_attack",
    "registered_attack",
    "run_attack",
    "seed_changes_attack",
    "unregister_attack",
]

DEEPWORDBUG_EDITS = 4  # DeepWordBug's candidate edits per word: swap, substitute, delete, insert


class DeepWordBug(AttackRecipe):
    """Character edits seeded per word (`CharEdits`) within `levenshtein` edits of the original prompt."""

    def transformation(self, run: RunSettings) -> Any:
        from robustness.attacks.transformations import CharEdits

        return CharEdits(run.seed)

    def constraints(self, run: RunSettings) -> list[Constraint]:
        from robustness.attacks.constraints import MaxLevenshtein

        return [MaxLevenshtein(run.levenshtein)]

    def max_candidates(self, run: RunSettings) -> int:
        return DEEPWORDBUG_EDITS


class BertAttack(AttackRecipe):
    """A language model's `candidates` replacement words per word (`LMWordSwap`), kept when the sentence encoder
    finds the prompt similar enough (`MinSimilarity`); both come in the run settings."""

    def _parts(self, run: RunSettings) -> tuple[WordGenerator, MinSimilarity]:
        if run.generator is None or run.similarity is None:
            raise ValueError(f"{self.name} needs a word generator and a sentence-similarity constraint")
        return run.generator, run.similarity

    def transformation(self, run: RunSettings) -> Any:
        from robustness.attacks.transformations import LMWordSwap

        return LMWordSwap(self._parts(run)[0], k=run.candidates)

    def constraints(self, run: RunSettings) -> list[Constraint]:
        return [self._parts(run)[1]]

    def max_candidates(self, run: RunSettings) -> int:
        return run.candidates

    def word_models(self, run: RunSettings) -> tuple[str | None, str | None]:
        generator, similarity = self._parts(run)
        return generator.name, similarity.encoder_name


class StressTest(AttackRecipe):
    """Tautology suffixes (`StressSuffixes`) after the last word or the whole prompt, every one tried."""

    def transformation(self, run: RunSettings) -> Any:
        from robustness.attacks.transformations import StressSuffixes

        return StressSuffixes(run.stress_placement)

    def max_candidates(self, run: RunSettings) -> int:
        from robustness.attacks.transformations import STRESS_SUFFIXES

        return len(STRESS_SUFFIXES)

    def describe(self, search: Search, constraints: Sequence[Constraint], run: RunSettings) -> list[str]:
        return [f"placement={run.stress_placement}"]


DEEPWORDBUG = register_attack(
    DeepWordBug(
        name="deepwordbug",
        display="DeepWordBug",
        settings=frozenset({"search", "levenshtein"}),
        seeded_searches=frozenset(SEARCHES),  # its edits are drawn with the seed, whichever search
    )
)
BERTATTACK = register_attack(
    BertAttack(
        name="bertattack",
        display="BERTAttack",
        settings=frozenset({"search", "masked_lm", "similarity_encoder", "candidates"}),
        seeded_searches=SEEDED_SEARCHES,  # its word generator is deterministic: only the search draws
        needs_word_models=True,
    )
)
STRESSTEST = register_attack(StressTest(name="stresstest", display="StressTest", fixed_search=BRUTE_FORCE))


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
    stress_placement: StressPlacement = "promptbench",
) -> AttackResult:
    """Attack `prompt` on the evaluator's rows with the registered attack `attack`; the goal is the largest drop of
    the task metric. The keywords are `RunSettings`' fields: this is `get_attack(attack).run(evaluator, prompt,
    RunSettings(...))`, kept for the callers that name the settings one by one.

    `candidates` is BERTAttack's number of replacement words per position (PromptBench: 48)."""
    recipe = get_attack(attack)
    settings = RunSettings(seed=seed, search=search, levenshtein=levenshtein, candidates=candidates,
                           generator=generator, similarity=similarity, stress_placement=stress_placement)  # fmt: skip
    return recipe.run(evaluator, prompt, settings)

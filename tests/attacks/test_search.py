"""Search on a scripted model whose damage per edit is known: the expected result is worked out independently."""

import pytest

from robustness.attacks.recipes import run_attack
from robustness.attacks.text import PromptText
from robustness.attacks.transformations import CharEdits
from tests.attacks.fakes import SST2_PROMPT, evaluator

ORIGINAL = PromptText(SST2_PROMPT)


def damage_of(weights: dict[str, float]):  # type: ignore[no-untyped-def]
    """Damage = sum of the weights of original words that no longer appear intact (+ a per-spelling bonus)."""

    def damage(text: str) -> float:
        words = PromptText(text).words
        total = sum(w for word, w in weights.items() if word not in words)
        # Each misspelling damages a little more the more it differs, so candidates of one word differ.
        total += 0.001 * sum(len(word) for word in words if word not in ORIGINAL.words and word != "UNK")
        return total

    return damage


WEIGHTS = {"tone": 0.30, "statement": 0.10, "Analyze": 0.05, "respond": 0.0, "either": 0.2}


def test_clean_metric_and_memoised_queries() -> None:
    ev = evaluator(damage_of(WEIGHTS))
    assert ev(SST2_PROMPT).metric == 1.0
    ev(SST2_PROMPT)
    assert (ev.queries, ev.evaluations, ev.backend.calls) == (2, 1, 1)  # type: ignore[attr-defined]


def test_greedy_deepwordbug_finds_the_worst_prompt() -> None:
    ev = evaluator(damage_of(WEIGHTS))
    result = run_attack("deepwordbug", ev, SST2_PROMPT, seed=3, search="greedy")
    # Importance order by [UNK] damage: tone (0.30) > either (0.2) > statement > Analyze > respond (0: no gain).
    assert [s.word for s in result.steps] == ["tone", "either", "statement", "Analyze"]
    # At every accepted step the chosen edit is the worst (lowest metric) of that word's candidates.
    check = evaluator(damage_of(WEIGHTS))
    current = ORIGINAL
    for step in result.steps:
        candidates = CharEdits(3)(current, step.index)
        chosen = current.replace_word(step.index, step.replacement)
        assert chosen.text in {c.text for c in candidates}
        assert check(chosen.text).metric == min(check(c.text).metric for c in candidates)
        assert check(chosen.text).metric < check(current.text).metric
        current = chosen
    assert result.attacked_prompt == current.text
    assert result.attacked.metric == pytest.approx(1 - sum(WEIGHTS.values()), abs=0.1)
    assert result.clean.metric == 1.0
    assert result.pdr == pytest.approx(1 - result.attacked.metric)
    assert result.queries > result.evaluations > 0
    assert "{content}" in result.attacked_prompt and "'positive'" in result.attacked_prompt


def test_no_gain_leaves_the_prompt_unchanged() -> None:
    ev = evaluator(lambda text: 0.0)
    result = run_attack("deepwordbug", ev, SST2_PROMPT, seed=0)
    assert result.attacked_prompt == SST2_PROMPT and result.steps == []
    assert result.pdr == 0.0


def test_levenshtein_bound_is_enforced() -> None:
    ev = evaluator(damage_of(WEIGHTS))
    result = run_attack("deepwordbug", ev, SST2_PROMPT, seed=3, levenshtein=1)
    from rapidfuzz.distance import Levenshtein

    assert Levenshtein.distance(result.attacked_prompt, SST2_PROMPT) <= 1
    assert len(result.steps) == 1


def test_seeds_reproduce_attacks_exactly() -> None:
    a = run_attack("deepwordbug", evaluator(damage_of(WEIGHTS)), SST2_PROMPT, seed=11, search="paper")
    b = run_attack("deepwordbug", evaluator(damage_of(WEIGHTS)), SST2_PROMPT, seed=11, search="paper")
    c = run_attack("deepwordbug", evaluator(damage_of(WEIGHTS)), SST2_PROMPT, seed=12, search="paper")
    assert a.attacked_prompt == b.attacked_prompt and a.attacked.predictions == b.attacked.predictions
    assert len(a.steps) <= 3
    assert (a.attacked_prompt, [s.index for s in a.steps]) != (c.attacked_prompt, [s.index for s in c.steps])


def test_paper_search_tries_only_three_positions_without_importance_queries() -> None:
    ev = evaluator(damage_of(WEIGHTS))
    result = run_attack("deepwordbug", ev, SST2_PROMPT, seed=5, search="paper")
    greedy = run_attack("deepwordbug", evaluator(damage_of(WEIGHTS)), SST2_PROMPT, seed=5, search="greedy")
    # Paper mode: the clean prompt, at most 4 edits at each of 3 positions, and the final re-read.
    assert result.queries <= 1 + 3 * 4 + 1
    assert result.queries < greedy.queries


def test_stresstest_keeps_the_strongest_suffix() -> None:
    def damage(text: str) -> float:
        return 0.5 if "false is not true" in text else 0.1 if "true is true" in text else 0.0

    result = run_attack("stresstest", evaluator(damage), SST2_PROMPT)
    assert result.attacked_prompt.endswith("Answer  and false is not true :")
    assert result.attacked.metric == pytest.approx(0.5)
    assert result.evaluations == 4  # the clean prompt and three candidates


def test_unknown_attack_and_search() -> None:
    with pytest.raises(ValueError, match="unknown attack 'textfooler'"):
        run_attack("textfooler", evaluator(lambda t: 0.0), SST2_PROMPT)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown search 'beam'"):
        run_attack("deepwordbug", evaluator(lambda t: 0.0), SST2_PROMPT, search="beam")  # type: ignore[arg-type]


def test_stresstest_never_writes_inside_the_placeholder() -> None:
    ending = "Classify the sentiment of: {content}"
    with pytest.raises(ValueError, match="inside the \\{content\\} placeholder"):
        run_attack("stresstest", evaluator(lambda t: 0.0), ending)
    result = run_attack("stresstest", evaluator(lambda t: 0.0), ending, stress_placement="end")
    assert result.attacked_prompt.startswith(ending + " and ")


def test_bertattack_asks_the_generator_for_the_configured_number_of_candidates() -> None:
    from robustness.attacks.constraints import MinSimilarity

    asked: list[int] = []

    class Generator:
        name = "scripted"

        def candidates(self, prompt: PromptText, index: int, k: int) -> list[str]:
            asked.append(k)
            return [f"w{j}" for j in range(k)]

    similarity = MinSimilarity(lambda original, texts: [1.0] * len(texts), 0.8, "scripted")
    ev = evaluator(damage_of(WEIGHTS))
    result = run_attack("bertattack", ev, SST2_PROMPT, seed=2, search="paper", generator=Generator(),
                        similarity=similarity, candidates=5)  # fmt: skip
    assert asked and set(asked) == {5}
    # three positions of five candidates each, plus the clean prompt: no importance queries in paper search
    assert result.evaluations <= 1 + 3 * 5 + 1
    assert result.generator == "scripted"


def test_which_attacks_the_seed_changes() -> None:
    """`seed_changes_attack` says which seeds are attack seeds in the report; check it against the attacks."""
    from robustness.attacks.constraints import MinSimilarity
    from robustness.attacks.recipes import seed_changes_attack

    class Generator:
        name = "scripted"

        def candidates(self, prompt: PromptText, index: int, k: int) -> list[str]:
            return [f"{prompt.words[index]}{j}" for j in range(k)]

    similarity = MinSimilarity(lambda original, texts: [1.0] * len(texts), 0.8, "scripted")
    bert = {"generator": Generator(), "similarity": similarity, "candidates": 3}

    def attacked(attack: str, search: str, seed: int) -> tuple[str, tuple[int, ...]]:
        extra = bert if attack == "bertattack" else {}
        result = run_attack(attack, evaluator(damage_of(WEIGHTS)), SST2_PROMPT, seed=seed, search=search, **extra)  # type: ignore[arg-type]
        return result.attacked_prompt, tuple(result.attacked.predictions)

    for attack, search in [("deepwordbug", "greedy"), ("deepwordbug", "paper"), ("bertattack", "greedy"),
                           ("bertattack", "paper"), ("stresstest", "greedy")]:  # fmt: skip
        outcomes = {attacked(attack, search, seed) for seed in (1, 2, 3, 4)}
        assert (len(outcomes) > 1) == seed_changes_attack(attack, search), (attack, search)


def test_the_recipes_bound_their_evaluations_as_the_cost_model_counts() -> None:
    from typing import get_args

    from robustness.attacks.constraints import modifiable_indices
    from robustness.attacks.recipes import SEARCHES, RunSettings, SearchName, get_attack

    assert get_args(SearchName) == SEARCHES

    def bound(attack: str, search: str, words: int, candidates: int = 48) -> int:
        return get_attack(attack).max_evaluations(words, RunSettings(search=search, candidates=candidates))

    assert bound("stresstest", "greedy", 5) == bound("stresstest", "paper", 5) == 1 + 3
    assert bound("deepwordbug", "paper", 5) == 1 + 3 * 4
    assert bound("deepwordbug", "greedy", 5) == 1 + 5 + 5 * 4
    assert bound("bertattack", "paper", 7, 16) == 1 + 3 * 16
    assert bound("bertattack", "greedy", 7) == 1 + 7 + 7 * 48
    assert bound("bertattack", "paper", 2, 16) == 1 + 2 * 16
    words = len(modifiable_indices(ORIGINAL, "sst2"))
    for search in ("greedy", "paper"):
        result = run_attack("deepwordbug", evaluator(damage_of(WEIGHTS)), SST2_PROMPT, seed=3, search=search)
        assert 0 < result.evaluations <= bound("deepwordbug", search, words)

"""The toy attack (tests/toys.py's `TOY`), added through the public registry: it is built from the same parts as the
suite's own (a transformation, a constraint, the shared greedy search), runs through the same entry point, and is
listed, validated and refused like them. It is registered while this module's tests run.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from pydantic import TypeAdapter, ValidationError

from robustness import catalog
from robustness.attacks.constraints import modifiable_indices
from robustness.attacks.recipes import (
    GREEDY,
    RunSettings,
    get_attack,
    register_attack,
    registered_attack,
    run_attack,
    seed_changes_attack,
    unregister_attack,
)
from robustness.attacks.text import PromptText
from tests.attacks.fakes import SST2_PROMPT, evaluator
from tests.toys import TOY, CaseSwap, ToyCase

ORIGINAL = PromptText(SST2_PROMPT)


@pytest.fixture(scope="module", autouse=True)
def _toy_registered() -> Iterator[None]:
    """The toy is registered while this module's tests run, and gone for the tests after them."""
    if TOY.name not in catalog.ATTACKS:
        register_attack(TOY)
    yield
    if TOY.name in catalog.ATTACKS:
        unregister_attack(TOY.name)


WEIGHTS = {"tone": 0.30, "either": 0.20, "statement": 0.10}


def damage(text: str) -> float:
    """Each weighted original word lost costs its weight; each word shouted (upper case, new) costs 0.05 more."""
    words = PromptText(text).words
    lost = sum(w for word, w in WEIGHTS.items() if word not in words)
    shouted = sum(0.05 for word in words if word.isupper() and word not in ORIGINAL.words and word != "UNK")
    return lost + shouted


def test_the_toy_finds_the_prompt_that_hurts_most_and_records_its_settings() -> None:
    ev = evaluator(damage)
    result = run_attack("toycase", ev, SST2_PROMPT, seed=4, search="paper")  # a fixed search ignores `search`
    # Every prompt the toy may reach: up to two modifiable words, each in one of its case forms; the worst of them
    # is worked out by trying them all on a fresh evaluator.
    check = evaluator(damage)
    indices = modifiable_indices(ORIGINAL, "sst2")
    reachable = [ORIGINAL]
    for k in (1, 2):
        for chosen in itertools.combinations(indices, k):
            prompts = [ORIGINAL]
            for index in chosen:
                prompts = [c for p in prompts for c in CaseSwap()(p, index)]
            reachable += prompts
    worst = min(check(p.text).metric for p in reachable)
    assert result.attacked.metric == worst < result.clean.metric == 1.0
    assert result.attacked_prompt == SST2_PROMPT.replace("tone", "TONE").replace("either", "EITHER")
    assert [(s.word, s.replacement) for s in result.steps] == [("tone", "TONE"), ("either", "EITHER")]
    assert (result.attack, result.search, result.seed, result.dataset) == ("toycase", "greedy", 4, "sst2")
    assert result.constraints == ["no-repeat", "stopwords", "protected-words", "changed-words<=2"]
    assert (result.generator, result.similarity_encoder) == (None, None)
    record = result.as_json(ev)
    assert (record["attack"], record["search"], record["constraints"]) == ("toycase", "greedy", result.constraints)
    assert 0 < result.evaluations <= TOY.max_evaluations(len(indices), RunSettings()) == 1 + 5 + 5 * 3


def test_the_entry_points_agree() -> None:
    by_name = run_attack("toycase", evaluator(damage), SST2_PROMPT)
    by_recipe = get_attack("toycase").run(evaluator(damage), SST2_PROMPT, RunSettings())
    assert get_attack("toycase") is TOY and TOY.search(RunSettings(search="paper")) is GREEDY
    assert (by_name.attacked_prompt, by_name.steps, by_name.queries, by_name.evaluations) == (
        by_recipe.attacked_prompt, by_recipe.steps, by_recipe.queries, by_recipe.evaluations)  # fmt: skip
    assert not seed_changes_attack("toycase", "greedy") and not seed_changes_attack("toycase", "paper")
    other_seed = run_attack("toycase", evaluator(damage), SST2_PROMPT, seed=9)
    assert (other_seed.attacked_prompt, other_seed.steps) == (by_name.attacked_prompt, by_name.steps)


def test_the_catalog_lists_and_validates_the_toy_while_it_is_registered() -> None:
    assert catalog.ATTACKS["toycase"] is TOY and "toycase" in catalog.attack_order()
    assert TypeAdapter(catalog.AttackName).validate_python("toycase") == "toycase"


def test_a_removed_toy_is_refused_like_any_unknown_attack() -> None:
    adapter = TypeAdapter(catalog.AttackName)
    assert unregister_attack("toycase") is TOY
    try:
        assert "toycase" not in catalog.ATTACKS and "toycase" not in catalog.attack_order()
        with pytest.raises(ValidationError) as removed:
            adapter.validate_python("toycase")
        with pytest.raises(ValidationError) as unknown:
            adapter.validate_python("textfooler")
        message = removed.value.errors()[0]["msg"]
        assert message == unknown.value.errors()[0]["msg"].replace("'textfooler'", "'toycase'")
        assert message.endswith("unknown attack 'toycase'; use one of deepwordbug, bertattack, stresstest")
        with pytest.raises(ValueError) as by_name:
            run_attack("toycase", evaluator(damage), SST2_PROMPT)
        assert str(by_name.value) == "unknown attack 'toycase'; choose one of: deepwordbug, bertattack, stresstest"
        with pytest.raises(ValueError) as again:
            unregister_attack("toycase")
        assert str(again.value) == str(by_name.value)
    finally:
        register_attack(TOY)
    assert get_attack("toycase") is TOY


def test_registration_refuses_clashes_and_unknown_settings_and_can_be_scoped() -> None:
    assert register_attack(ToyCase(name="toycase", display="ToyCase", fixed_search=GREEDY)) is TOY  # equal: kept
    with pytest.raises(ValueError, match="'toycase' is already registered"):
        register_attack(ToyCase(name="toycase", display="ToyCase", max_changed=1))
    with pytest.raises(ValueError, match="reads unknown settings placement"):
        register_attack(ToyCase(name="toy2", display="Toy2", settings=frozenset({"placement"})))
    with registered_attack(ToyCase(name="toy1", display="Toy1", max_changed=1)) as toy1:
        assert catalog.ATTACKS["toy1"] is toy1
        result = run_attack("toy1", evaluator(damage), SST2_PROMPT)
        assert [s.word for s in result.steps] == ["tone"] and result.constraints[-1] == "changed-words<=1"
    assert "toy1" not in catalog.ATTACKS and "toy2" not in catalog.ATTACKS

"""The one place attacks are defined: a registry of recipe objects, read when it is asked.

`robustness.attacks.recipes` registers the suite's recipes on import (the catalog imports it, so every reader of
attack names sees them); a test or a plugin adds its own with `register_attack` and removes it with
`unregister_attack`, or for a while with `registered_attack`. Everything that lists or validates attack names (the
catalog's `ATTACKS` and `AttackName`, configs, the CLI, the cost model) reads the registry when it is called, so a
registered attack is accepted everywhere (README, "Adding a dataset, a merge method or an attack").
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType

from robustness.attacks.recipe import ATTACK_SETTINGS, SEARCHES, AttackRecipe

_RECIPES: dict[str, AttackRecipe] = {}
# A read-only view that follows the registry: what it holds now, in registration order.
ATTACKS: Mapping[str, AttackRecipe] = MappingProxyType(_RECIPES)


def register_attack(recipe: AttackRecipe) -> AttackRecipe:
    """Add `recipe` under its name and return the registered recipe. Registering an equal recipe again changes nothing
    and returns the one registered first (a module that registers at import may be imported twice); another recipe
    under a taken name is an error."""
    if not isinstance(recipe, AttackRecipe):
        raise TypeError(f"an attack is an AttackRecipe, not {type(recipe).__name__}")
    if not recipe.name or not recipe.display:
        raise ValueError("an attack needs a name and a display label")
    if unknown := sorted(recipe.settings - ATTACK_SETTINGS):
        raise ValueError(f"attack {recipe.name!r} reads unknown settings {', '.join(unknown)}; "
                         f"the attack config has {', '.join(sorted(ATTACK_SETTINGS))}")  # fmt: skip
    if unknown := sorted(recipe.seeded_searches - set(SEARCHES)):
        raise ValueError(f"attack {recipe.name!r}: unknown seeded searches {', '.join(unknown)}")
    existing = _RECIPES.setdefault(recipe.name, recipe)
    if existing != recipe:
        raise ValueError(f"attack {recipe.name!r} is already registered; unregister it first")
    return existing


def get_attack(name: str) -> AttackRecipe:
    try:
        return _RECIPES[name]
    except KeyError:
        raise ValueError(f"unknown attack {name!r}; choose one of: {', '.join(_RECIPES)}") from None


def unregister_attack(name: str) -> AttackRecipe:
    """Remove the attack `name` and return its recipe."""
    recipe = get_attack(name)
    del _RECIPES[name]
    return recipe


@contextmanager
def registered_attack(recipe: AttackRecipe) -> Iterator[AttackRecipe]:
    """`recipe` registered inside the block, removed after it (unless it was registered before)."""
    before = recipe.name in _RECIPES
    register_attack(recipe)
    try:
        yield recipe
    finally:
        if not before:
            _RECIPES.pop(recipe.name, None)


def seed_changes_attack(attack: str, search: str) -> bool:
    """Whether the attack seed changes the attack itself, not only which rows an experiment attacks.

    DeepWordBug draws its character edits with the seed (either search); the paper search draws its word positions
    with it. Greedy BERTAttack (ranked words, a deterministic word generator) and StressTest (every suffix tried)
    ignore it: run with several seeds they give row resamples (`experiment.plan.attack_rows`), not attack seeds.
    """
    return search in ATTACKS[attack].seeded_searches

"""Prompt attacks in four parts (goal function, constraints, transformation, search), after PromptBench.

Recipes: DeepWordBug (character edits), BERTAttack (masked-LM word swaps) and StressTest (tautology suffixes). Each
attack is a recipe object (`recipe.AttackRecipe`) in the attack registry (`registry`); `recipes` registers the
three on import and holds `run_attack`, the entry point by name.
"""

"""How much work a unit holds, in units that scale with the model and the settings: what `m3r plan` multiplies by a
rate per kind (experiment/sizing/costs.py). Each kind counts its own (`UnitKind.work`, experiment/kinds/):

- merge: parameters x checkpoints read and written (the base, each expert, the merged model);
- clean: parameters x tokens the model runs. Score mode runs each row's own tokens (the prefix every row shares,
  chat template and instruction, once per evaluation); generate mode runs each row's whole text plus
  `max_new_tokens`. On the report rows score mode also generates on `agreement_n` rows;
- attack: one evaluation's tokens (as clean) x the prompt evaluations its search makes (the recipe's count);
- livebench: parameters x questions x (question tokens + `max_new_tokens`);
- selection: 1 (it compares stored scores on the driver).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RowTokens:
    """A dataset's rows in tokens, as the evaluator feeds them: the prefix every row shares (chat template and the
    prompt's instruction) and the mean of what follows it (the sentence, the answer cue, the template's end)."""

    shared: int
    own: float


# Measured 2026-12-02 with the SmolLM2-135M-Instruct tokenizer and chat template, prompt task_oriented:0, on every
# row of each validation split. Other tokenizers and prompts are assumed to give the same counts.
ROW_TOKENS: dict[str, RowTokens] = {
    "sst2": RowTokens(shared=45, own=34.28),  # 872 rows
    "cola": RowTokens(shared=52, own=18.75),  # 1,043 rows
}
# Modifiable words (not protected, not stopwords) of prompt task_oriented:0: the count an attack's greedy search
# ranks and visits, used when the prompt itself cannot be read (no local data root).
PROMPT_WORDS: dict[str, int] = {"sst2": 5, "cola": 7}
# Mean question length in tokens of the four instruction-following LiveBench tasks (the data root's 400 questions,
# SmolLM2 tokenizer and chat template), assumed for every task.
QUESTION_TOKENS = 449


@dataclass(frozen=True)
class Work:
    """How much work a unit holds, for one study's model size and prompt."""

    parameters: float
    words: Mapping[str, int] = field(default_factory=lambda: dict(PROMPT_WORDS))
    max_new_tokens: int = 10  # eval.max_new_tokens: generate mode's budget (attacks in generate mode too)

    def evaluation(self, dataset: str, rows: int, mode: str, max_new_tokens: int) -> float:
        """Tokens the model runs for one prompt evaluated on `rows` rows."""
        t = row_tokens(dataset)
        if mode == "score":
            return rows * t.own + t.shared
        return rows * (t.shared + t.own + max_new_tokens)


def row_tokens(dataset: str) -> RowTokens:
    if dataset not in ROW_TOKENS:
        raise ValueError(f"no token counts for dataset {dataset!r}: measure them and add them to ROW_TOKENS")
    return ROW_TOKENS[dataset]

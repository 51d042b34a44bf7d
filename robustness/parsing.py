"""Reading a generated answer as a label id. Two documented rules (README, "Score mode and generated answers"):

- `last_word` (PromptBench's, the default): lower-case, drop <pad> and </s>, strip punctuation, take the last
  word, map it to a label id; anything else is -1 (counted as wrong).
- `sole_label`: the label words that occur in the answer as whole words; when exactly one label is named it is
  the answer, when none or several are, -1. It reads a chat-style answer ("The tone of this statement is
  positive, as it") that the last-word rule counts as wrong, and never guesses between two named labels.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from robustness.metrics import UNKNOWN
from robustness.prompts import label_words
from robustness.readings import DEFAULT_READING, READINGS, ReadingName

STRIP = ",._\"'-+=!?()&^%$#@:\\|{}[]<>/`\n\t\r\v\f "

__all__ = ["DEFAULT_READING", "READINGS", "ReadingName", "last_word", "parse_label"]

_WORD = re.compile(r"[a-z]+")


def _clean(raw: str) -> str:
    return raw.lower().replace("<pad>", "").replace("</s>", "")


def last_word(raw: str) -> str:
    return _clean(raw).strip(STRIP).split(" ")[-1]


def read_last_word(raw: str, dataset: str) -> int:
    """PromptBench's rule; comparing lower-cased, so 'Acceptable' (PromptBench's CoLA prompts ask for it
    capitalised) maps to acceptable."""
    word = last_word(raw)
    for label, name in enumerate(label_words(dataset)):
        if word == name:
            return label
    return UNKNOWN


def read_sole_label(raw: str, dataset: str) -> int:
    """The one label named as a whole word ('unacceptable' does not name 'acceptable'); none or two: -1."""
    words = set(_WORD.findall(_clean(raw)))
    named = [label for label, name in enumerate(label_words(dataset)) if name in words]
    return named[0] if len(named) == 1 else UNKNOWN


RULES: dict[str, Callable[[str, str], int]] = {"last_word": read_last_word, "sole_label": read_sole_label}


def parse_label(raw: str, dataset: str, reading: str = DEFAULT_READING) -> int:
    """Label id for a generated answer under `reading` (-1: the answer maps to no label)."""
    return RULES[reading](raw, dataset)

"""The names of the rules that read a generated answer as a label (robustness/parsing.py implements them): below
the catalog, so that the parser, the config schema and the records share them without an import cycle."""

from __future__ import annotations

from typing import Literal, get_args

ReadingName = Literal["last_word", "sole_label"]  # PromptBench's last word; the one label word the answer names
READINGS: tuple[str, ...] = get_args(ReadingName)
DEFAULT_READING: ReadingName = "last_word"

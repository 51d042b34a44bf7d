"""What a model folder must hold besides its weights to be loadable, checked before a merge or a load reads any
weight (no torch here: commands that only check their inputs stay light)."""

from __future__ import annotations

from pathlib import Path

# The files a tokenizer loads from: one of these makes a folder loadable by AutoTokenizer (tokenizer_config.json
# alone, or a config.json, does not).
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "spiece.model", "vocab.json", "vocab.txt")


def has_tokenizer(folder: Path) -> bool:
    """Whether `folder` holds the files of a tokenizer (see TOKENIZER_FILES)."""
    return any((folder / name).is_file() for name in TOKENIZER_FILES)

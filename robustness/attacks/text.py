"""A prompt as words with their character spans, segmented the way TextAttack (and so PromptBench) does.

A word is a run of word characters, apostrophes, hyphens, underscores, asterisks and at signs that does not
start with one of those five; so `'positive'` is the word `positive'` (hence PromptBench's label forms with a
trailing apostrophe) and `{content}` holds the word `content`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_WORD = re.compile(r"[\w'\-_*@]+")
_LEADING = "'-_*@"


def word_spans(text: str) -> tuple[tuple[int, int], ...]:
    spans = []
    for m in _WORD.finditer(text):
        word = m.group()
        stripped = word.lstrip(_LEADING)
        if stripped:
            spans.append((m.start() + len(word) - len(stripped), m.end()))
    return tuple(spans)


@dataclass(frozen=True)
class PromptText:
    """Immutable prompt text; `modified` holds the indices of words an attack has already changed."""

    text: str
    spans: tuple[tuple[int, int], ...] = field(default=(), compare=False)
    modified: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        if not self.spans:
            object.__setattr__(self, "spans", word_spans(self.text))

    @property
    def words(self) -> list[str]:
        return [self.text[s:e] for s, e in self.spans]

    def __len__(self) -> int:
        return len(self.spans)

    def replace_word(self, index: int, new: str) -> PromptText:
        """Replace word `index` by `new` (which may hold several words, or none) and mark it modified."""
        start, end = self.spans[index]
        text = self.text[:start] + new + self.text[end:]
        added = len(word_spans(new))
        shift = added - 1
        modified = {i if i < index else i + shift for i in self.modified if i != index}
        modified |= set(range(index, index + added))
        return PromptText(text, modified=frozenset(modified))

    def insert_after_word(self, index: int, addition: str) -> PromptText:
        """Insert text after word `index` as TextAttack's insert_text_after_word_index does: the word, one space,
        then the text (StressTest's suffixes start with a space, so PromptBench writes two)."""
        start, end = self.spans[index]
        return self.replace_word(index, self.text[start:end] + " " + addition)

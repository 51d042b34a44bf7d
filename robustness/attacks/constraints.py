"""Which words may change, and which candidate prompts are allowed (the constraints of PromptBench's recipes)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources

from rapidfuzz.distance import Levenshtein

from robustness.attacks.text import PromptText
from robustness.datasets import DATASETS, DatasetEntry
from robustness.prompts import PLACEHOLDER


def _protected(entry: DatasetEntry) -> frozenset[str]:
    words = (*entry.label_words, *entry.attack_protected)
    return frozenset(words) | frozenset(f"{w}'" for w in words)


# PromptBench's protected label words (with the trailing-apostrophe forms its segmentation produces), plus the
# words of the prompt pattern and the placeholder's name.
PROTECTED: dict[str, frozenset[str]] = {name: _protected(entry) for name, entry in DATASETS.items()}
PATTERN_WORDS = frozenset({"content", "question", "answer", "content'", "question'", "answer'"})


@cache
def stopwords() -> frozenset[str]:
    """NLTK's 179-word English stopword list, shipped with the suite (no download)."""
    text = resources.files("robustness.attacks").joinpath("stopwords_en.txt").read_text()
    return frozenset(w.strip() for w in text.splitlines() if w.strip())


def modifiable_indices(prompt: PromptText, dataset: str, use_stopwords: bool = True) -> list[int]:
    """Words an attack may change: not protected (compared lower-cased), not a stopword, not changed before."""
    protected = PROTECTED.get(dataset, frozenset()) | PATTERN_WORDS
    stop = stopwords() if use_stopwords else frozenset()
    out = []
    for i, word in enumerate(prompt.words):
        w = word.lower()
        if i in prompt.modified or w in protected or w in stop:
            continue
        out.append(i)
    return out


def keeps_placeholder(candidate: PromptText) -> bool:
    return candidate.text.count(PLACEHOLDER) == 1


@dataclass(frozen=True)
class MaxLevenshtein:
    """Character edit distance of the whole prompt to the original at most `limit` (DeepWordBug: 30)."""

    limit: int = 30

    def __call__(self, candidates: Sequence[PromptText], original: PromptText) -> list[PromptText]:
        return [c for c in candidates if Levenshtein.distance(c.text, original.text) <= self.limit]

    def describe(self) -> str:
        return f"levenshtein<={self.limit}"


@dataclass(frozen=True)
class MinSimilarity:
    """Sentence-encoder cosine similarity to the original prompt at least `threshold` (BERTAttack: 0.8)."""

    similarity: Callable[[str, Sequence[str]], Sequence[float]]
    threshold: float = 0.8
    encoder_name: str = ""

    def __call__(self, candidates: Sequence[PromptText], original: PromptText) -> list[PromptText]:
        if not candidates:
            return []
        sims = self.similarity(original.text, [c.text for c in candidates])
        return [c for c, s in zip(candidates, sims, strict=True) if s >= self.threshold]

    def describe(self) -> str:
        return f"cosine({self.encoder_name})>={self.threshold}"

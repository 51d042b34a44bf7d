"""The datasets the suite knows: each task's labels in label-id order, the metric its tables report and the words
attacks leave alone. Adding a dataset is one entry here (README, "Adding a dataset, a method or an attack"); the
catalog (robustness/catalog.py) lists it with the methods and attacks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MetricName = Literal["accuracy", "mcc"]


@dataclass(frozen=True)
class DatasetEntry:
    """A classification task: its labels in label-id order and the metric its tables report."""

    name: str  # as configs and records spell it
    display: str  # as reports spell it
    metric: MetricName
    label_words: tuple[str, ...]  # index = label id; what prompts ask for and score mode compares
    attack_protected: tuple[str, ...] = ()  # words attacks leave alone besides the label words (PromptBench's)


DATASETS: dict[str, DatasetEntry] = {
    e.name: e
    for e in (
        DatasetEntry("sst2", "SST-2", "accuracy", ("negative", "positive"), attack_protected=("0", "1")),
        DatasetEntry("cola", "CoLA", "mcc", ("unacceptable", "acceptable")),
    )
}

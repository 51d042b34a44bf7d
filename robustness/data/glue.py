"""GLUE SST-2 and CoLA: from a local data root in GLUE's file layout, else from the Hugging Face Hub.

Local layout (relative to the data root; the first existing file of each list is read):

    glue/SST-2/train.tsv, dev.tsv                  header `sentence<TAB>label`
    glue/CoLA/in_domain_train.tsv | train.tsv      no header: source, label, original mark, sentence
    glue/CoLA/dev_glue_style.tsv | dev.tsv         (or in_domain_dev.tsv + out_of_domain_dev.tsv)
"""

from __future__ import annotations

import csv
import io
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robustness.datasets import DATASETS
from robustness.errors import UserError
from robustness.paths import DATA_ENV, resolve_data_dir
from robustness.textfile import read_text

HUB_ID = "nyu-mll/glue"


@dataclass(frozen=True)
class DatasetInfo:
    """How one GLUE task of the catalog is stored (its labels' meaning is the catalog's)."""

    name: str
    folder: str
    header: bool
    files: dict[str, tuple[tuple[str, ...], ...]]  # split -> alternatives, each a tuple of files to concatenate

    @property
    def label_names(self) -> tuple[str, ...]:
        """Label words, index = label id (robustness.catalog)."""
        return DATASETS[self.name].label_words


LAYOUTS: dict[str, DatasetInfo] = {
    "sst2": DatasetInfo(
        name="sst2",
        folder="SST-2",
        header=True,
        files={"train": (("train.tsv",),), "validation": (("dev.tsv",),)},
    ),
    "cola": DatasetInfo(
        name="cola",
        folder="CoLA",
        header=False,
        files={
            "train": (("in_domain_train.tsv",), ("train.tsv",)),
            "validation": (
                ("dev_glue_style.tsv",),
                ("dev.tsv",),
                ("in_domain_dev.tsv", "out_of_domain_dev.tsv"),
            ),
        },
    ),
}
SPLITS = ("train", "validation")


@dataclass(frozen=True)
class GlueSplit:
    """One split of one task: sentences and integer labels in file order, and where they came from."""

    dataset: str
    split: str
    sentences: tuple[str, ...]
    labels: tuple[int, ...]
    origin: str

    def __len__(self) -> int:
        return len(self.sentences)

    def label_counts(self) -> dict[int, int]:
        return dict(sorted(Counter(self.labels).items()))

    @property
    def label_names(self) -> tuple[str, ...]:
        return DATASETS[self.dataset].label_words


def dataset_info(name: str) -> DatasetInfo:
    key = name.strip().lower().replace("-", "")
    if key not in DATASETS:
        raise UserError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")
    if key not in LAYOUTS:
        raise UserError(f"dataset {name!r} has no GLUE file layout; add one to LAYOUTS in robustness/data/glue.py")
    return LAYOUTS[key]


def load_glue(name: str, split: str = "validation", data_dir: str | os.PathLike[str] | None = None) -> GlueSplit:
    """Load `split` of `name` (sst2 | cola) from the local data root if one is named, else from the Hub."""
    info = dataset_info(name)
    if split not in SPLITS:
        raise UserError(f"unknown split {split!r} for {info.name}; choose one of: {', '.join(SPLITS)}")
    root = resolve_data_dir(data_dir)
    if root is not None:
        return _load_local(info, split, root)
    return _load_hub(info, split)


def _load_local(info: DatasetInfo, split: str, root: Path) -> GlueSplit:
    folder = root / "glue" / info.folder
    for files in info.files[split]:
        paths = [folder / f for f in files]
        if all(p.is_file() for p in paths):
            sentences: list[str] = []
            labels: list[int] = []
            for path in paths:
                s, y = _read_tsv(path, info)
                sentences += s
                labels += y
            origin = " + ".join(str(p) for p in paths)
            return GlueSplit(info.name, split, tuple(sentences), tuple(labels), origin)
    wanted = " or ".join("+".join(files) for files in info.files[split])
    raise UserError(
        f"no {info.name} {split} file in {folder}: expected {wanted}; fix the data root "
        f"({DATA_ENV} or data_dir) or unset it to use the Hugging Face Hub"
    )


def _read_tsv(path: Path, info: DatasetInfo) -> tuple[list[str], list[int]]:
    sentences: list[str] = []
    labels: list[int] = []
    text = read_text(path, f"{info.name} data file")
    with io.StringIO(text, newline="") as fh:
        # GLUE's files are not CSV-quoted: a sentence may hold a bare double quote.
        rows = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        if info.header:
            header = next(rows, None)
            if header is None or header[:2] != ["sentence", "label"]:
                raise UserError(f"{path}: expected a header 'sentence<TAB>label', found {header!r}")
        for lineno, row in enumerate(rows, start=2 if info.header else 1):
            if not row:
                continue
            try:
                sentence, label = (row[0], row[1]) if info.header else (row[3], row[1])
                value = int(label)
            except (IndexError, ValueError):
                raise UserError(f"{path}:{lineno}: cannot read a sentence and a 0/1 label from {row!r}") from None
            if value not in (0, 1):
                raise UserError(f"{path}:{lineno}: label {value} is not 0 or 1")
            sentences.append(sentence)
            labels.append(value)
    return sentences, labels


def _load_hub(info: DatasetInfo, split: str) -> GlueSplit:
    import datasets

    try:
        ds: Any = datasets.load_dataset(HUB_ID, info.name, split=split)
    except Exception as exc:  # the Hub client raises many types (ConnectionError, OSError, HfHubHTTPError...)
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(
            f"could not load {info.name} {split} from the Hugging Face Hub ({HUB_ID}): {reason}. "
            f"Offline, set {DATA_ENV} (or the config key data_dir) to a folder holding glue/{info.folder}/"
        ) from exc
    return GlueSplit(
        info.name,
        split,
        tuple(str(s) for s in ds["sentence"]),
        tuple(int(y) for y in ds["label"]),
        f"hf://{HUB_ID}/{info.name}/{split}",
    )

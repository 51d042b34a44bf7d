"""LiveBench questions: from a local folder in LiveBench's layout, or from the Hugging Face Hub.

LiveBench's own scripts write `<root>/<category>/<task>/question.jsonl`; the Hub holds one dataset per category
(`livebench/instruction_following`, `livebench/coding`, `livebench/language`) with the same fields. A question
keeps every field of its row (`raw`), so scorers read exactly what LiveBench's scorers read.

Releases: a question belongs to release R when `livebench_release_date <= R` and it was not removed by then
(`livebench_removal_date` empty or later than R), which is how LiveBench selects a release.
"""

from __future__ import annotations

import base64
import io
import json
import os
import pickle
import random
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from robustness.errors import UserError
from robustness.paths import DATA_ENV, require, resolve_data_dir
from robustness.textfile import read_text

HUB_DATASETS: dict[str, str] = {
    "instruction_following": "livebench/instruction_following",
    "coding": "livebench/coding",
    "language": "livebench/language",
}
# The tasks this suite scores, by category (the language category's other tasks need other scorers).
TASKS: dict[str, tuple[str, ...]] = {
    "instruction_following": ("paraphrase", "simplify", "story_generation", "summarize"),
    "coding": ("LCB_generation", "coding_completion"),
    "language": ("typos",),
}
CATEGORY_OF_TASK: dict[str, str] = {task: cat for cat, tasks in TASKS.items() for task in tasks}
QUESTION_FILE = "question.jsonl"
# Under the suite's data root (M3R_DATA_DIR), LiveBench's layout sits in this folder.
DATA_SUBDIR = "livebench"

GET_QUESTIONS_HINT = (
    "on a networked machine run 'm3r livebench download --out DIR' (it writes the Hub questions as "
    "DIR/<category>/<task>/question.jsonl), then pass --questions DIR or put them under $M3R_DATA_DIR/livebench"
)


@dataclass(frozen=True)
class Question:
    """One LiveBench question: the fields the suite uses, plus the whole row for the scorers."""

    question_id: str
    category: str
    task: str
    prompt: str
    release_date: str
    removal_date: str
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    def live_at(self, release: str) -> bool:
        """Whether LiveBench release `release` (YYYY-MM-DD) contains this question."""
        return self.release_date <= release and (not self.removal_date or self.removal_date > release)


def normalise_date(value: Any) -> str:
    """LiveBench dates as YYYY-MM-DD: the jsonl files hold strings, the Hub may give timestamps."""
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.strftime("%Y-%m-%d")
    return str(value).strip()[:10]


def question_from_row(row: Mapping[str, Any], category: str | None = None, task: str | None = None) -> Question:
    """Build a `Question` from one row of a question file or Hub dataset."""
    turns = row.get("turns") or []
    if "question_id" not in row or not turns:
        raise ValueError("a LiveBench question needs 'question_id' and a non-empty 'turns'")
    return Question(
        question_id=str(row["question_id"]),
        category=str(row.get("category") or category or ""),
        task=str(row.get("task") or task or ""),
        prompt=str(turns[0]),
        release_date=normalise_date(row.get("livebench_release_date")),
        removal_date=normalise_date(row.get("livebench_removal_date")),
        raw=dict(row),
    )


def find_question_files(root: Path) -> list[tuple[str, str, Path]]:
    """(category, task, file) for every question file under `root`.

    `root` may be a LiveBench root (`<category>/<task>/question.jsonl`), a category folder
    (`<task>/question.jsonl`) or a task folder (`question.jsonl`).
    """
    if (root / QUESTION_FILE).is_file():
        return [(root.parent.name, root.name, root / QUESTION_FILE)]
    found = []
    for path in sorted(root.glob(f"*/*/{QUESTION_FILE}")):
        found.append((path.parent.parent.name, path.parent.name, path))
    for path in sorted(root.glob(f"*/{QUESTION_FILE}")):
        found.append((root.name, path.parent.name, path))
    return found


def read_question_file(path: Path, category: str = "", task: str = "") -> list[Question]:
    questions = []
    for number, line in enumerate(read_text(path, "LiveBench question file").split("\n"), 1):
        if not line.strip():
            continue
        try:
            questions.append(question_from_row(json.loads(line), category, task))
        except (json.JSONDecodeError, ValueError) as exc:
            raise UserError(f"{path}:{number}: not a LiveBench question ({exc})") from None
    return questions


def load_local(root: str | os.PathLike[str]) -> list[Question]:
    """Every question under a local folder in LiveBench's layout."""
    path = require(Path(root).expanduser(), "folder", "questions folder", GET_QUESTIONS_HINT)
    questions: list[Question] = []
    for category, task, file in find_question_files(path):
        questions += read_question_file(file, category, task)
    return questions


def load_hub(categories: Iterable[str]) -> list[Question]:
    """Every question of the named categories from the Hugging Face Hub (or its local cache)."""
    import datasets

    questions: list[Question] = []
    for category in categories:
        try:
            rows = datasets.load_dataset(HUB_DATASETS[category], split="test")
        except Exception as exc:  # offline, missing cache, no access: all mean "no questions here"
            raise UserError(
                f"could not load {HUB_DATASETS[category]!r} from the Hugging Face Hub ({type(exc).__name__}); "
                f"{GET_QUESTIONS_HINT}"
            ) from exc
        questions += [question_from_row(row, category) for row in rows]
    return questions


def resolve_questions_dir(
    questions_dir: str | os.PathLike[str] | None, data_dir: str | os.PathLike[str] | None = None
) -> Path | None:
    """The folder to read questions from: the explicit one, else `livebench/` under the data root (`data_dir`, else
    $M3R_DATA_DIR), else None (Hub)."""
    if questions_dir is not None and str(questions_dir) != "":
        return Path(questions_dir).expanduser()
    root = resolve_data_dir(data_dir)
    if root is not None and (root / DATA_SUBDIR).is_dir():
        return root / DATA_SUBDIR
    return None


def load_questions(
    questions_dir: str | os.PathLike[str] | None = None,
    tasks: Sequence[str] | None = None,
    release: str | None = None,
    hub: bool = False,
    data_dir: str | os.PathLike[str] | None = None,
) -> list[Question]:
    """Questions of the given tasks (default: every task this suite scores), live at `release` if given.

    Reads `questions_dir`, else `livebench/` under the data root (`data_dir`, else $M3R_DATA_DIR), else (or with
    `hub`) the Hugging Face Hub. Raises `UserError` saying where to get questions when none are found.
    """
    wanted = list(tasks) if tasks else list(CATEGORY_OF_TASK)
    unknown = [t for t in wanted if t not in CATEGORY_OF_TASK]
    if unknown:
        raise UserError(f"unknown LiveBench task(s) {', '.join(unknown)}; choose from: {', '.join(CATEGORY_OF_TASK)}")
    folder = None if hub else resolve_questions_dir(questions_dir, data_dir)
    if folder is not None:
        questions, origin = load_local(folder), str(folder)
    else:
        categories = dict.fromkeys(CATEGORY_OF_TASK[t] for t in wanted)
        questions, origin = load_hub(categories), "the Hugging Face Hub"
    selected = [q for q in questions if q.task in wanted]
    if release:
        selected = [q for q in selected if q.live_at(release)]
    if not selected:
        where = f"release {release} of " if release else ""
        raise UserError(
            f"no LiveBench questions for {where}task(s) {', '.join(wanted)} in {origin}"
            f"{'' if folder is None else f' (or ${DATA_ENV}/{DATA_SUBDIR})'}; {GET_QUESTIONS_HINT}"
        )
    return selected


def subset(questions: Sequence[Question], n: int | None, seed: int) -> list[Question]:
    """At most `n` questions per task, drawn with `seed`; independent of file order, in question-id order."""
    if n is None:
        return sorted(questions, key=lambda q: (q.task, q.question_id))
    if n < 1:
        raise UserError(f"--n must be at least 1, got {n}")
    by_task: dict[str, list[Question]] = {}
    for q in sorted(questions, key=lambda q: q.question_id):
        by_task.setdefault(q.task, []).append(q)
    rng = random.Random(seed)
    chosen: list[Question] = []
    for task in sorted(by_task):
        pool = by_task[task]
        picked = rng.sample(pool, n) if n < len(pool) else pool
        chosen += sorted(picked, key=lambda q: q.question_id)
    return chosen


class _PlainDataUnpickler(pickle.Unpickler):
    """An unpickler that refuses every class and function, so only plain data (str, bytes, numbers,
    lists, dicts) comes back: LiveBench's private test cases are a pickled JSON string, and a question file
    from elsewhere must not be able to run code through pickle."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"test cases may hold plain data only, not {module}.{name}")


def decode_test_cases(value: str | list[Any] | None) -> list[dict[str, Any]]:
    """LiveBench test cases from a question field: JSON, or base64 of a zlib-compressed pickle of JSON."""
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return value
    try:
        cases = json.loads(value)
    except json.JSONDecodeError:
        payload = _PlainDataUnpickler(io.BytesIO(zlib.decompress(base64.b64decode(value.encode("utf-8"))))).load()
        cases = json.loads(payload) if isinstance(payload, str | bytes) else payload
    if not isinstance(cases, list):
        raise ValueError("test cases must decode to a list")
    return cases


def encode_private_test_cases(cases: Sequence[Mapping[str, Any]]) -> str:
    """The Hub's encoding of private test cases (base64 of zlib of a pickled JSON string); for fixtures and tests."""
    return base64.b64encode(zlib.compress(pickle.dumps(json.dumps(list(cases))))).decode("ascii")


def func_name(question: Question) -> str | None:
    """The function name of a functional (call-based) coding question, from `original_json.metadata`."""
    original = question.raw.get("original_json") or {}
    if isinstance(original, str):
        original = json.loads(original)
    metadata = original.get("metadata") or {}
    if isinstance(metadata, str):
        metadata = json.loads(metadata) if metadata.strip() else {}
    name = metadata.get("func_name")
    return str(name) if name else None

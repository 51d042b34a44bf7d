"""The answers file: one JSON object per line, `{"question_id": ..., "answer": ...}` plus provenance.

Answers are stored with their question id, so scores can be recomputed later without the model. Generation
appends one line per finished answer and flushes it, so a killed run keeps what it finished; a line cut off
by the kill is ignored on the next read (and cut off on the next append), and that question is generated again.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from robustness.errors import UserError
from robustness.paths import require
from robustness.textfile import read_text

log = logging.getLogger(__name__)


def read_answers(path: str | os.PathLike[str], missing_ok: bool = False) -> dict[str, str]:
    """question id -> answer text. One answer per question: an id on two lines is an error naming both lines
    (keeping either one silently would score an answer the user may not mean). `missing_ok`: a file that does not
    exist yet has no answers (generation starts it); a folder there is still an error."""
    file = Path(path).expanduser()
    if missing_ok and not file.exists():
        return {}
    require(file, "file", "answers file")
    text = read_text(file, "answers file")
    if text.lstrip("\ufeff").lstrip().startswith("["):  # else read as lines: an unfinished last line, then no answers
        raise UserError(
            f'{file}: the file is one JSON array; expected JSON lines, one {{"question_id": ..., "answer": ...}} '
            "object per line (jq -c '.[]' converts an array)"
        )
    answers: dict[str, str] = {}
    line_of: dict[str, int] = {}
    lines = text.split("\n")
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            qid, answer = str(record["question_id"]), record["answer"]
        except (json.JSONDecodeError, KeyError, TypeError):
            if number >= len(lines) - 1:  # the last line of a killed run
                log.warning("%s: ignoring an unfinished last line", file)
                continue
            raise UserError(f'{file}:{number}: expected {{"question_id": ..., "answer": ...}} on every line') from None
        if not isinstance(answer, str):
            raise UserError(f"{file}:{number}: 'answer' must be a string")
        if qid in answers:
            raise UserError(
                f"{file}: question id {qid!r} has two answers, on lines {line_of[qid]} and {number}; "
                "keep one line per question id"
            )
        answers[qid] = answer
        line_of[qid] = number
    return answers


def append_answers(path: str | os.PathLike[str], records: Iterable[Mapping[str, Any]]) -> None:
    """Append records as JSON lines and push them to disk before returning.

    A line left unfinished by a killed run is cut off first, so the file stays one record per line.
    """
    file = Path(path).expanduser()
    file.parent.mkdir(parents=True, exist_ok=True)
    _drop_unfinished_line(file)
    with file.open("a", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(dict(record), ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def _drop_unfinished_line(file: Path) -> None:
    if not file.is_file() or file.stat().st_size == 0:
        return
    data = file.read_bytes()
    if data.endswith(b"\n"):
        return
    with file.open("r+b") as fh:
        fh.truncate(data.rfind(b"\n") + 1)

"""Reading the text files users give the suite (data, prompts, LiveBench questions and answers, configs) as UTF-8,
with one error for every reader: the file, the byte offset and line of the first byte that is not UTF-8, and what
to do. A file from another tool in Latin-1 or cp1252 then stops the command with that line, not a traceback."""

from __future__ import annotations

import os
from pathlib import Path

from robustness.errors import UserError


def read_text(path: str | os.PathLike[str], what: str) -> str:
    """The file's text (UTF-8, a leading byte-order mark kept as the file has it); `what` names it in errors."""
    file = Path(path)
    try:
        data = file.read_bytes()
    except IsADirectoryError:
        raise UserError(f"{what} {file} is a folder, not a file; give the file") from None
    except OSError as exc:
        raise UserError(f"{what} {file} cannot be read: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise UserError(
            f"{what} {file}: byte {exc.start} (line {line}, 0x{data[exc.start]:02x}) is not UTF-8 text ({exc.reason}); "
            "save the file as UTF-8"
        ) from None

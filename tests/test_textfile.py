"""Every text file a user gives is read as UTF-8 by one reader (robustness/textfile.py): a file in Latin-1 stops the
command with the file, the byte offset and line, and what to do, whichever reader meets it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from robustness.data.glue import load_glue
from robustness.errors import UserError
from robustness.livebench.answers import read_answers
from robustness.livebench.questions import read_question_file
from robustness.prompts import load_prompts
from robustness.textfile import read_text

LATIN1 = "café".encode("latin-1")  # the 0xe9 after "caf" is not UTF-8


def bad_byte(prefix: bytes) -> int:
    return len(prefix) + len(b"caf")


def test_the_reader_names_the_byte_and_line(tmp_path: Path) -> None:
    file = tmp_path / "x.txt"
    file.write_bytes(b"line one\n" + LATIN1)
    with pytest.raises(
        UserError, match=r"x\.txt: byte 12 \(line 2, 0xe9\) is not UTF-8 text .* save the file as UTF-8"
    ):
        read_text(file, "notes file")
    with pytest.raises(UserError, match="is a folder, not a file"):
        read_text(tmp_path, "answers file")


def test_each_reader_refuses_latin1_by_name(tmp_path: Path, data_dir: Path) -> None:
    root = tmp_path / "data"
    shutil.copytree(data_dir / "glue" / "SST-2", root / "glue" / "SST-2")
    shutil.copytree(data_dir / "promptbench", root / "promptbench")
    dev = root / "glue" / "SST-2" / "dev.tsv"
    dev.write_bytes(dev.read_bytes() + LATIN1 + b"\t1\n")
    with pytest.raises(UserError, match=r"sst2 data file .*dev\.tsv: byte \d+ \(line 874, 0xe9\) is not UTF-8"):
        load_glue("sst2", "validation", root)
    prompts = root / "promptbench" / "zeroshot_prompts_sst2_cola.json"
    prompts.write_bytes(prompts.read_bytes().replace(b"sentence", LATIN1, 1))
    with pytest.raises(UserError, match=r"PromptBench prompts file .*: byte \d+ \(line \d+, 0xe9\) is not UTF-8"):
        load_prompts("sst2", root)
    for name, prefix, reader, what in [
        ("question.jsonl", b'{"question_id": "1", "turns": ["', read_question_file, "LiveBench question file"),
        ("answers.jsonl", b'{"question_id": "1", "answer": "', read_answers, "answers file"),
    ]:
        file = tmp_path / name
        file.write_bytes(prefix + LATIN1 + b'"}\n')
        with pytest.raises(UserError, match=rf"{what} .*{name}: byte {bad_byte(prefix)} \(line 1, 0xe9\)"):
            reader(file)

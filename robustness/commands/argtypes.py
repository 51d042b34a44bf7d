"""Argument types for the command line: each number, date and text is checked as it is parsed, before any work.

argparse reports a failed type as `argument --batch-size: must be a positive integer (1, 2, ...), got '-3'`, so
the message names the flag, the value and what to give instead (see `cli.Parser` for the one-line format).
"""

from __future__ import annotations

import argparse
from datetime import date


def _integer(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None


def _at_least(text: str, minimum: int, what: str) -> int:
    value = _integer(text, what)
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """A count or a size: 1, 2, ... (a batch of 0 or -3 rows means nothing)."""
    return _at_least(text, 1, "a positive integer (1, 2, ...)")


def seed(text: str) -> int:
    """A random seed: 0, 1, 2, ... (numpy refuses negative seeds)."""
    return _at_least(text, 0, "a seed: an integer >= 0")


def positive_number(text: str) -> float:
    """A factor or a size: a finite number > 0, written 2.5, 13e9 or 1000."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (value > 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"must be a number > 0 (e.g. 2.5 or 13e9), got {text!r}")
    return value


def counts(text: str) -> list[int]:
    """One positive integer or several, comma-separated (`1,8,64`), in the order given without repeats."""
    parts = [p.strip() for p in text.split(",")]
    try:
        values = [int(p) for p in parts]
    except ValueError:
        values = []
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"must be positive integers separated by commas (e.g. 1,8,64), got {text!r}")
    return list(dict.fromkeys(values))


def iso_date(text: str) -> str:
    """A calendar date written YYYY-MM-DD, returned in that form (it is compared as text with the data's dates)."""
    try:
        parsed = date.fromisoformat(text)
    except ValueError:
        parsed = None
    if parsed is None or parsed.isoformat() != text:
        raise argparse.ArgumentTypeError(f"must be a real date written YYYY-MM-DD (e.g. 2024-06-24), got {text!r}")
    return text


def utf8_text(text: str) -> str:
    """Text that is UTF-8. Bytes of another encoding in argv (a Latin-1 terminal's é) reach Python as lone surrogates
    (U+DC80-U+DCFF, one per byte), which no tokenizer takes: refused here, with the position of the first one."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        code = ord(text[exc.start])
        what = f"the byte 0x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"a lone surrogate U+{code:04X}"
        raise argparse.ArgumentTypeError(
            f"is not UTF-8 text: character {exc.start + 1} is {what}; "
            "give it as UTF-8 (e.g. from a terminal with LANG=C.UTF-8)"
        ) from None
    return text

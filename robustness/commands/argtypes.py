"""Argument types for the command line: each number and date is checked as it is parsed, before any work.

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


def iso_date(text: str) -> str:
    """A calendar date written YYYY-MM-DD, returned in that form (it is compared as text with the data's dates)."""
    try:
        parsed = date.fromisoformat(text)
    except ValueError:
        parsed = None
    if parsed is None or parsed.isoformat() != text:
        raise argparse.ArgumentTypeError(f"must be a real date written YYYY-MM-DD (e.g. 2024-06-24), got {text!r}")
    return text

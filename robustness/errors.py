"""The one exception type a user is meant to read.

Anything raised as `UserError` is a problem with the user's input (a path, a name, a value) and
is reported by the command line as a single line, without a traceback, with a non-zero exit code.
"""


class UserError(Exception):
    """Bad input: the message names what was wrong and how to fix it."""


LINE_LIMIT = 2000  # characters of one error line: enough for any problem, short of a value echoed whole


def one_line(message: str, limit: int = LINE_LIMIT) -> str:
    """The message on one line and at most about `limit` characters: a value echoed whole (a YAML alias bomb, ten
    thousand bad seeds) keeps its beginning and its end, with how much was left out between them."""
    text = " ".join(message.split("\n"))
    if len(text) <= limit:
        return text
    head, tail = text[: limit * 3 // 4], text[-(limit // 4) :]
    return f"{head} … ({len(text) - len(head) - len(tail):,} characters left out) … {tail}"

"""The error type of the merge engine.

`merges/` is the lower layer and knows nothing of the command line; everything it rejects (a bad config
value, a broken or mismatched checkpoint) is a `MergeError` whose message names the key or the tensor at
fault, so that the CLI shell can print it as one line and a caller can catch it without parsing text.
"""


class MergeError(ValueError):
    """A merge that cannot go ahead: the message names the config key or the tensor that is wrong.

    A config problem also carries the key (`parameters.keep`) and the problem without it, so that a caller that
    builds merge configs from its own file (a study's methods) can name its own key instead."""

    def __init__(self, message: str, *, key: str | None = None, problem: str | None = None) -> None:
        super().__init__(message)
        self.key = key
        self.problem = problem

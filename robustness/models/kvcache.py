"""Passing and reading a model's key/value cache under the name its transformers version uses.

transformers 5.x renames the cache argument and output field from `past_key_values` to `cache` (the old name
still works for now, with a FutureWarning on every forward call). A model whose forward takes `cache` gets it
under that name; one that does not (an older transformers, a model not yet converted) gets `past_key_values`.
"""

from __future__ import annotations

import inspect
from functools import cache as memoised
from typing import Any


@memoised
def _argument_of(forward: Any) -> str:
    return "cache" if "cache" in inspect.signature(forward).parameters else "past_key_values"


def cache_argument(module: Any) -> str:
    """The keyword `module`'s forward takes its key/value cache under: `cache`, else `past_key_values`."""
    return _argument_of(type(module).forward)


def returned_cache(output: Any) -> Any:
    """The key/value cache a forward pass returned (`output.cache`, else the older `past_key_values`)."""
    found = getattr(output, "cache", None)
    return found if found is not None else output.past_key_values

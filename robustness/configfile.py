"""Reading a YAML config file into a validated pydantic model, with errors that name the file and the key."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from merges.yamlfile import DuplicateKeyError, load_yaml
from robustness.errors import UserError
from robustness.paths import require
from robustness.textfile import read_text

M = TypeVar("M", bound=BaseModel)
MAX_PROBLEMS = 8  # problems one error line names (a list of 10,000 bad seeds has 10,000)


def format_validation_error(exc: ValidationError, tags: frozenset[str] = frozenset()) -> str:
    """One clause per problem, each naming the key path as YAML spells it: `experts.cola.steps: Input should be
    greater than 0`, `methods[1].method: Input should be ...`.

    `tags` are the names of a tagged union's branches, which pydantic puts in the path although the user never
    wrote them (`experts.cola.top_layers.rank`); they are left out. A check between keys names its own keys in its
    message (`attacks[0].methods: unknown method(s) ...`), so a top-level one is given as it is."""
    parts = []
    errors = exc.errors()
    for err in errors[:MAX_PROBLEMS]:
        where = key_path(err["loc"], tags)
        message = str(err["msg"]).removeprefix("Value error, ")
        parts.append(message if not where and err["type"] == "value_error" else f"{where or '(top level)'}: {message}")
    if len(errors) > MAX_PROBLEMS:
        parts.append(f"and {len(errors) - MAX_PROBLEMS:,} more problem(s) of the same config")
    return "; ".join(parts)


def key_path(loc: tuple[int | str, ...], tags: frozenset[str] = frozenset()) -> str:
    """`('methods', 1, 'parameters')` -> `methods[1].parameters`: list positions in brackets, as YAML users say."""
    parts: list[str] = []
    for item in loc:
        if item in tags:
            continue
        if isinstance(item, int):
            parts[-1:] = [f"{parts[-1] if parts else ''}[{item}]"]
        else:
            parts.append(str(item))
    return ".".join(parts)


def yaml_problem(exc: yaml.YAMLError) -> str:
    """A YAML syntax error in one line: `line 3, column 14: expected ',' or ']', but got '<stream end>'`."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return f"{where}{' '.join(str(problem).split())}"


def read_yaml(path: str | Path, what: str = "config file") -> Any:
    """The data in a YAML file, or `UserError` naming the file (and the line and column of a syntax error)."""
    file = require(Path(path).expanduser(), "file", what, "check the path")
    text = read_text(file, what)
    try:
        return load_yaml(text)
    except DuplicateKeyError as exc:
        raise UserError(f"{file}: {yaml_problem(exc)}; keep one of them") from None
    except yaml.YAMLError as exc:
        raise UserError(
            f"{file}: not valid YAML: {yaml_problem(exc)}; fix the brackets, quotes or indentation there"
        ) from None


def load_config(path: str | Path, model: type[M], overrides: Mapping[str, Any] | None = None) -> M:
    """Validate the YAML mapping in `path` (with non-None `overrides` applied on top) as `model`."""
    file = Path(path)
    raw: Any = read_yaml(file) or {}
    if not isinstance(raw, dict):
        raise UserError(f"{file}: expected a mapping of keys at the top level")
    raw.update({k: v for k, v in (overrides or {}).items() if v is not None})
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        tags = frozenset(getattr(model, "UNION_TAGS", ()))
        raise UserError(f"{file}: {format_validation_error(exc, tags)}") from None

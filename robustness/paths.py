"""Where the suite keeps its cache and where it looks for local data, and the check that an input path is the kind of
thing (a file, a folder) the command reads there."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from robustness.errors import UserError

CACHE_ENV = "M3R_CACHE_DIR"
DATA_ENV = "M3R_DATA_DIR"


def cache_dir() -> Path:
    """The suite's cache root: $M3R_CACHE_DIR, else $XDG_CACHE_HOME/m3r, else ~/.cache/m3r."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    root = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return root / "m3r"


def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path | None:
    """The local data root: the explicit `data_dir` (config key), else $M3R_DATA_DIR, else None (use the Hub).

    A root that is named but missing is an error rather than a silent fall back to the network.
    """
    if data_dir is not None and str(data_dir) != "":
        origin, raw = "data_dir", str(data_dir)
    elif os.environ.get(DATA_ENV):
        origin, raw = DATA_ENV, os.environ[DATA_ENV]
    else:
        return None
    path = Path(raw).expanduser()
    problem = path_problem(path, "folder")
    if problem:
        raise UserError(
            f"data directory {raw!r} (from {origin}) {problem}; "
            f"point {origin} at a folder holding glue/SST-2 and glue/CoLA, or unset it to use the Hugging Face Hub"
        )
    return path.resolve()


def path_problem(path: str | os.PathLike[str], expected: Literal["file", "folder"]) -> str | None:
    """Why `path` is not the `expected` kind of input, as the end of a sentence that names it (`does not exist`, `is a
    folder, expected a file`), or None when it is one. A folder given for a file (or the other way round) is then
    reported as what it is, not as missing."""
    file = Path(path)
    try:
        if file.is_dir():
            return None if expected == "folder" else "is a folder, expected a file"
        if file.is_file():
            return None if expected == "file" else "is a file, expected a folder"
        if file.exists():
            return f"is not a regular {expected} (a device, pipe or socket), expected a {expected}"
    except (OSError, ValueError) as exc:  # a folder on the way that cannot be searched, a NUL in the path
        return f"cannot be looked at ({getattr(exc, 'strerror', None) or exc})"
    return "does not exist"


def require(path: str | os.PathLike[str], expected: Literal["file", "folder"], what: str, hint: str = "") -> Path:
    """`path` when it is the `expected` kind of input; else `UserError` naming it as `what`, with `hint` after."""
    problem = path_problem(path, expected)
    if problem:
        raise UserError(f"{what} {str(path)!r} {problem}" + (f"; {hint}" if hint else ""))
    return Path(path)

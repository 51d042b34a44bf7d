"""The report's sections in the order it prints them, and the public way to add or remove one.

`build_report` walks `registered_sections()` in order. The built-in sections (`reports.sections.BUILTIN`) come
first; `register_section` places a new one explicitly, right after or right before a named section (at the end
when neither is given), and `remove_section` takes one out by name.
"""

from __future__ import annotations

from typing import Any

from reports.section import Section
from reports.sections import BUILTIN

_sections: list[Section[Any]] = list(BUILTIN)


def registered_sections() -> tuple[Section[Any], ...]:
    """Every section of the report, in the order the report prints them."""
    return tuple(_sections)


def section_names() -> list[str]:
    return [s.name for s in _sections]


def _index(name: str) -> int:
    names = section_names()
    if name not in names:
        raise KeyError(f"no report section named {name!r}; the sections are {', '.join(names)}")
    return names.index(name)


def register_section(section: Section[Any], *, after: str | None = None, before: str | None = None) -> None:
    """Add `section` to the report right after the section named `after`, or right before `before`, or last."""
    if section.name in section_names():
        raise ValueError(f"a report section named {section.name!r} is already registered")
    if after is not None and before is not None:
        raise ValueError("give `after` or `before`, not both")
    if after is not None:
        position = _index(after) + 1
    elif before is not None:
        position = _index(before)
    else:
        position = len(_sections)
    _sections.insert(position, section)


def remove_section(name: str) -> Section[Any]:
    """Take the section named `name` out of the report; returns it (register it again to put it back)."""
    return _sections.pop(_index(name))

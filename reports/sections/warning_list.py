"""Every warning of the report, as a list under its own heading (none: no section)."""

from __future__ import annotations

from reports.document import Block, Bullets, Heading
from reports.section import Section
from reports.shared import WARNINGS


def _render(warnings: list[str]) -> list[Block]:
    return [Heading("Warnings"), Bullets(warnings)] if warnings else []


SECTION = Section(name="warnings", uses=(WARNINGS,), compute=lambda inputs: inputs.get(WARNINGS), render=_render)

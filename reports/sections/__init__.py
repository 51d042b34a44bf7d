"""The report's built-in sections, one module each, in the order the report prints them (`reports.registry` starts
from this order)."""

from __future__ import annotations

from typing import Any

from reports.section import Section
from reports.sections import (
    agreement,
    attack_curve,
    clean,
    draws,
    effects,
    heldout,
    livebench,
    magnitude,
    provenance,
    sample_sizes,
    selection,
    summary,
    table3,
    transfer,
    warning_list,
)

BUILTIN: tuple[Section[Any], ...] = (
    summary.SECTION,
    warning_list.SECTION,
    sample_sizes.SECTION,
    table3.SECTION,
    effects.SECTION,
    heldout.SECTION,
    clean.SECTION,
    selection.SECTION,
    attack_curve.SECTION,
    magnitude.SECTION,
    draws.SECTION,
    transfer.SECTION,
    livebench.SECTION,
    agreement.SECTION,
    provenance.SECTION,
)

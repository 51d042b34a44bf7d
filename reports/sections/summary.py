"""The opening line: run name, config hash, suite version, the unit count per kind, and the configs the folder ran."""

from __future__ import annotations

from reports import transfer
from reports.document import Block, Paragraph
from reports.load import ATTACK, CLEAN, LIVEBENCH, MERGE, SELECTION, RunData
from reports.section import Inputs, Section
from reports.shared import SPLIT_CURVE

COUNTED = (MERGE, CLEAN, ATTACK, LIVEBENCH, SELECTION)  # the built-in kinds, in the order the line counts them


def config_history(run: RunData) -> str:
    """A sentence for a folder that has run more than one config: which ones, and what is left out."""
    if len(run.history) < 2:
        return ""
    earlier = ", ".join(f"{e.config_hash[:12]} (first run {e.first_run_at[:16]})" for e in run.history[:-1])
    left_out = (
        f" The store also holds {run.unplanned} finished unit(s) that this config does not plan; they are not in "
        "this report."
        if run.unplanned
        else ""
    )
    return (
        f" This folder has run {len(run.history)} configs; earlier: {earlier}. Only the units the current config "
        f"plans are reported (units of earlier configs with unchanged inputs were reused).{left_out}"
    )


def _curve_count(inputs: Inputs) -> str:
    curve = inputs.get(SPLIT_CURVE)[1]
    moved = transfer.replays(inputs.frame(ATTACK))
    parts = [f"{len(curve)} of the attack units for the attacked lambda curve"] if len(curve) else []
    parts += [f"{len(moved)} transfer replays"] if len(moved) else []
    return f" ({'; '.join(parts)})" if parts else ""


def _summary(inputs: Inputs) -> str:
    run = inputs.run
    meta = run.meta
    return (
        f"Run {run.name}: config hash {meta.get('config_hash', '')[:12]}, written by suite version "
        f"{meta.get('suite_version', '?')}. Units: "
        + ", ".join(f"{len(inputs.frame(k))} {k}" for k in COUNTED)
        + _curve_count(inputs)
        + ". Every table's csv (tables/) carries the unit keys of the store rows behind each number."
        + config_history(run)
    )


def _render(text: str) -> list[Block]:
    return [Paragraph(text)]


SECTION = Section(name="summary", reads=COUNTED, uses=(SPLIT_CURVE,), compute=_summary, render=_render)

"""The data that several report sections read, each computed once per report (`reports.section.Shared`).

The split of the attack frame into the tables' rows and the attacked lambda curve's, the rows of the models the
report shows (references, plain merges and the M3 candidates that lambda selection carried forward), the curve's
points, the effects, the score/generate agreement, the selection/report split overlap, and the warnings about all
of them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd

from reports import attack_curve, effects, heldout, livebench_compare, modes, selection_check, transfer
from reports import clean as clean_mod
from reports.load import ATTACK, CLEAN, LIVEBENCH, MEASURE, SELECTION
from reports.section import Inputs, Shared
from reports.variants import Choice, carried_forward, chosen_models
from robustness.experiment.spec.config import AXIS_MARK


def _split_curve(inputs: Inputs) -> tuple[pd.DataFrame, pd.DataFrame]:
    return attack_curve.split_curve(inputs.frame(ATTACK))


SPLIT_CURVE = Shared(name="split_curve", reads=(ATTACK,), compute=_split_curve)
"""(the tables' attack rows, the attacked lambda curve's attack rows) of the run's attack frame."""

TABLE_ATTACKS = Shared(
    name="table_attacks",
    uses=(SPLIT_CURVE,),
    compute=lambda inputs: transfer.table_attacks(inputs.get(SPLIT_CURVE)[0]),
)
"""The attack rows the tables read: not the curve's, not the transfer replays, not the references' own attacks."""


@dataclass(frozen=True)
class Rows:
    """The attack, clean and LiveBench rows of the models the report shows: references, plain merges and the M3
    candidates that lambda selection carried forward; and the attacked lambda curve's attack rows (every candidate
    and plain merge on the curve rows), which stay out of every other table. `warnings`: what was left out."""

    attacks: pd.DataFrame
    clean: pd.DataFrame
    ood: pd.DataFrame
    curve: pd.DataFrame
    warnings: list[str]


def _carried_choices(inputs: Inputs) -> list[Choice]:
    # A magnitude-axis point's choice is not carried into phase two: its candidate has selection scores only.
    return [c for c in chosen_models(inputs.frame(SELECTION)) if AXIS_MARK not in (c.setting or "")]


CHOSEN = Shared(name="chosen", reads=(SELECTION,), compute=_carried_choices)
"""The M3 candidate each selection carried into phase two (the magnitude axis' other scales left out)."""


def _carried_rows(inputs: Inputs) -> Rows:
    """The rows of the references, the plain merges and the chosen M3 candidates (what is dropped, in warnings)."""
    warnings: list[str] = []
    chosen = inputs.get(CHOSEN)
    return Rows(
        attacks=carried_forward(inputs.get(TABLE_ATTACKS), chosen, warnings),
        clean=carried_forward(inputs.frame(CLEAN), chosen, warnings),
        ood=carried_forward(inputs.frame(LIVEBENCH), chosen, warnings),
        curve=inputs.get(SPLIT_CURVE)[1],
        warnings=warnings,
    )


ROWS = Shared(
    name="rows",
    reads=(CLEAN, LIVEBENCH),
    uses=(SPLIT_CURVE, TABLE_ATTACKS, CHOSEN),
    compute=_carried_rows,
)

CURVE_POINTS = Shared(
    name="curve_points",
    reads=(SELECTION,),
    uses=(ROWS,),
    compute=lambda inputs: attack_curve.curve_points(
        inputs.get(ROWS).curve, inputs.frame(SELECTION), inputs.settings.resamples, inputs.settings.seed
    ),
)
"""The attacked lambda curve: one point per model and cell, with its intervals (none without curve units)."""


@dataclass(frozen=True)
class Effects:
    """Every M3 comparison with its interval and tests (`reports.effects`), and the warnings its matching gave."""

    frame: pd.DataFrame
    warnings: list[str]


def _effects(inputs: Inputs) -> Effects:
    warnings: list[str] = []
    settings = inputs.settings
    frame = effects.effects_frame(
        inputs.get(ROWS).attacks, settings.resamples, settings.seed, settings.permutations, warnings
    )
    return Effects(frame, warnings)


EFFECTS = Shared(name="effects", uses=(ROWS,), compute=_effects)

AGREEMENT = Shared(
    name="agreement", reads=(CLEAN,), compute=lambda inputs: clean_mod.agreement_frame(inputs.frame(CLEAN))
)
"""Score/generate agreement per model, dataset and split (every model, M3 candidates included)."""

OVERLAP = Shared(name="overlap", reads=(CLEAN,), compute=lambda inputs: clean_mod.split_overlap(inputs.frame(CLEAN)))
"""Per dataset: the samples in both the selection and the report split (should be none)."""


def _data_warnings(inputs: Inputs, effect_frame: pd.DataFrame) -> list[str]:
    """Shared samples between the splits, failed units, undefined PDR comparisons and withheld intervals."""
    warnings = [
        f"{dataset}: {count} samples are in both the selection and the report split"
        for dataset, count in inputs.get(OVERLAP).items()
        if count
    ]
    for kind, count in sorted(inputs.run.failed.items()):
        warnings.append(f"{count} {kind} unit(s) failed and are missing from the tables")
    undefined = (
        effect_frame[(effect_frame.quantity == "pdr") & effect_frame.estimate.isna()]
        if len(effect_frame)
        else effect_frame
    )
    if len(undefined):
        warnings.append(f"{len(undefined)} PDR comparison(s) undefined: a clean metric <= 0 on some seed")
    withheld = int((effect_frame.estimate.notna() & effect_frame.ci_low.isna()).sum()) if len(effect_frame) else 0
    if withheld:
        warnings.append(
            f"{withheld} interval(s) withheld: the quantity is undefined in more than 2.5% of the resamples "
            "(a clean metric near 0); see the effects tables' notes"
        )
    return warnings


def _warnings(inputs: Inputs) -> list[str]:
    """Every warning of the report, in this order: models left out, ambiguous effect matches, low agreement, chosen
    M3 merges below their plain merge, then the data checks."""
    found = inputs.get(EFFECTS)
    settings = inputs.settings
    choices: list[Choice] = inputs.get(CHOSEN)
    below = selection_check.chosen_below_plain(inputs.frame(CLEAN), choices, settings.resamples, settings.seed)
    return [
        *inputs.get(ROWS).warnings,
        *found.warnings,
        *clean_mod.agreement_warnings(inputs.get(AGREEMENT)),
        *below,
        *_data_warnings(inputs, found.frame),
    ]


WARNINGS = Shared(name="warnings", reads=(CLEAN,), uses=(ROWS, EFFECTS, AGREEMENT, OVERLAP, CHOSEN),
                  compute=_warnings)  # fmt: skip


@dataclass(frozen=True)
class Verdict:
    """The primary family's two parts, Holm over both: the held-out attack comparisons and LiveBench's."""

    heldout: pd.DataFrame  # `reports.heldout.heldout_rows`
    livebench: pd.DataFrame  # `reports.livebench_compare.compare_livebench`


def _verdict(inputs: Inputs) -> Verdict:
    primary = json.loads(inputs.run.meta.get("config") or "{}").get("eval", {}).get("primary")
    rows = inputs.get(ROWS)
    choices: list[Choice] = inputs.get(CHOSEN)
    measures = carried_forward(modes.in_mode(inputs.frame(MEASURE), "score"), choices)

    def in_family(frame: pd.DataFrame) -> list[float | None]:
        return [p for p, f in zip(frame["p"], frame["primary"], strict=True) if f]

    # A comparison's own p-value does not depend on the family, only its adjusted one: the cheap LiveBench t-tests
    # run twice, the held-out crossed tests once.
    alone = livebench_compare.compare_livebench(rows.ood, primary)
    held = heldout.heldout_rows(measures, rows.attacks, primary, in_family(alone))
    return Verdict(held, livebench_compare.compare_livebench(rows.ood, primary, in_family(held)))


VERDICT = Shared(name="verdict", reads=(MEASURE,), uses=(CHOSEN, ROWS), compute=_verdict)
"""The verdict's primary family (the config's eval.primary): held-out attacks and LiveBench, Holm over both."""

"""Expanding a study config into units of work with deterministic keys. Pure: no files, no models.

Phase 1 merges every model (plain and each M3 candidate) and scores the candidates on the selection rows; where an
attack sets `curve_n` (the attacked lambda curve), it also attacks every candidate and the plain merge on `curve_n`
report rows per seed, right after the model's merge. Phase 2 (planned once selection has picked a candidate per
method) scores the chosen and plain models on the report rows, attacks them (with `eval.measure_n`, each found prompt
then measured on held-out rows) and runs LiveBench; with `transfer` on, it also attacks the pairs' experts and,
last, replays each source attack's found prompt on the other models (`transfer_units`). A method's magnitude axis
(`methods[i].scales`) adds a setting per other scale: merged, scored and attacked on the curve in phase one like the
method itself, and not carried into phase two. Keys depend only on the inputs, so a rerun finds its finished units
again and a changed setting makes new ones.

`plan_study` is the one entry: every unit whose inputs are known, given what the store holds (phase two's units
follow from the stored selections). Each unit is made by its kind's module (experiment/kinds/).
"""

from __future__ import annotations

from collections.abc import Mapping

from robustness.experiment.kinds.attack import attack_units
from robustness.experiment.kinds.base import Unit
from robustness.experiment.kinds.clean import clean_unit
from robustness.experiment.kinds.criterion import NORMALISED
from robustness.experiment.kinds.livebench import livebench_units
from robustness.experiment.kinds.measure import measure_unit
from robustness.experiment.kinds.merge import merge_unit
from robustness.experiment.kinds.registry import kinds
from robustness.experiment.kinds.replay import replay_unit
from robustness.experiment.kinds.selection import SelectionInputs, selection_unit
from robustness.experiment.planning.models import (
    REFERENCE,
    ModelSpec,
    candidate_models,
    expert_model,
    method_settings,
    pair_name,
    plain_model_id,
    plain_models,
    reference_models,
    transfer_experts,
)
from robustness.experiment.spec.config import ExperimentConfig
from robustness.records import Record, SelectionRecord

Rows = Mapping[str, tuple[list[int], ...]]  # dataset -> (selection rows, report rows[, measurement rows])


def plan_study(
    cfg: ExperimentConfig, rows: Rows, identities: dict[str, str], stored: Mapping[str, Record]
) -> list[Unit]:
    """Every unit whose inputs are known: phase one, then phase two for each (pair, method) whose selection
    `stored` holds (finished units' records by key), and the units that need no selection (references, plain
    merges, their replays)."""
    first = phase_one(cfg, rows, identities)
    return first + phase_two(cfg, rows, chosen_candidates(cfg, first, stored), identities, partial=True)


def chosen_candidates(cfg: ExperimentConfig, units: list[Unit], stored: Mapping[str, Record]) -> dict[str, ModelSpec]:
    """`pair/method` -> the candidate that the stored selection among `units` chose (selections not stored yet are
    left out)."""
    by_id = {m.model_id: m for m in candidate_models(cfg)}
    out = {}
    for unit in units:
        if isinstance(unit.inputs, SelectionInputs) and unit.key in stored:
            record = SelectionRecord.model_validate(stored[unit.key])
            out[plain_model_id(record.pair, unit.inputs.method)] = by_id[record.chosen_model_id]
    return out


def curve_units(cfg: ExperimentConfig, model: ModelSpec, rows: Rows,
                identities: dict[str, str]) -> list[Unit]:  # fmt: skip
    """The attacked lambda curve's units of one merge (an M3 candidate or a plain merge): each attack that sets
    `curve_n` and covers the model's method, on each of its datasets and seeds. None when the curve is off."""
    units: list[Unit] = []
    for spec in cfg.attacks:
        if spec.curve_n is None or (spec.methods and model.configured not in spec.methods):
            continue
        for dataset in spec.datasets:
            units += attack_units(cfg, spec, model, dataset, rows[dataset][1], identities, curve=True)
    return units


def phase_one(cfg: ExperimentConfig, rows: Rows,
              identities: dict[str, str]) -> list[Unit]:  # fmt: skip
    """Merges of every model, candidates' selection scores, one selection per (pair, method); with the attacked
    lambda curve on, each merge's curve attacks right after its merge (and a candidate's selection scores)."""
    units: list[Unit] = []
    criterion = cfg.eval.selection
    references: dict[str, list[Unit]] = {}  # model id -> its selection-row scores (normalised criteria only)
    if criterion in NORMALISED:
        for ref in reference_models(cfg):
            references[ref.model_id] = [
                clean_unit(cfg, ref, d, "selection", rows[d][0], identities) for d in cfg.eval.datasets
            ]
            units += references[ref.model_id]
    candidates = candidate_models(cfg)
    for model in plain_models(cfg):
        units.append(merge_unit(model, identities))
        if cfg.eval.selection_vs_plain:  # the plain merge on the selection rows: what candidates are checked against
            units += [clean_unit(cfg, model, d, "selection", rows[d][0], identities) for d in cfg.eval.datasets]
        units += curve_units(cfg, model, rows, identities)
    for pair in cfg.pairs:
        mine_refs = [u for mid in ("base", *(f"expert/{n}" for n in pair)) for u in references.get(mid, [])]
        for method, _ in method_settings(cfg):
            mine = [c for c in candidates if c.pair == pair_name(pair) and c.label == method.name]
            evals = []
            for c in mine:
                units.append(merge_unit(c, identities))
                for dataset in cfg.eval.datasets:
                    evals.append(clean_unit(cfg, c, dataset, "selection", rows[dataset][0], identities))
                    units.append(evals[-1])
                units += curve_units(cfg, c, rows, identities)
            units.append(selection_unit(pair_name(pair), method, evals, mine_refs, criterion))
    return units


def phase_two(cfg: ExperimentConfig, rows: Rows, chosen: dict[str, ModelSpec],
              identities: dict[str, str], *, partial: bool = False) -> list[Unit]:  # fmt: skip
    """Report-row scores, attacks and LiveBench for the references, the plain merges and the chosen candidates (of
    each configured method's own setting: the magnitude axis' other scales stop at phase one).

    `chosen` maps `pair/method` to the candidate that selection carried forward. Units are grouped by model so a
    model is loaded once. `partial`: `chosen` may lack methods whose selection has not run yet; their candidate's
    units are left out (the units known so far, e.g. to count what a rerun reuses)."""
    units: list[Unit] = []
    merged: list[tuple[ModelSpec, bool]] = []  # (a merged model, whether it is the plain merge of its method)
    for plain in plain_models(cfg, axis=False):
        merged.append((plain, True))
        if not partial or plain.model_id in chosen:
            merged.append((chosen[plain.model_id], False))
    attacked_experts = transfer_experts(cfg)
    for model in [*reference_models(cfg), *(m for m, _ in merged)]:
        for dataset in cfg.eval.datasets:
            units.append(clean_unit(cfg, model, dataset, "report", rows[dataset][1], identities))
        if model.pair == REFERENCE:
            if model.reference in attacked_experts:  # a transfer source: every attack, on its datasets and seeds
                mine: dict[str, Unit] = {}  # by key: two entries that split one attack's methods plan it twice
                for spec in cfg.attacks:
                    for dataset in spec.datasets:
                        for unit in attack_units(cfg, spec, model, dataset, rows[dataset][1], identities):
                            mine.setdefault(unit.key, unit)
                units += mine.values()
            units += extension_units(cfg, model, rows, identities)
            continue
        for spec in cfg.attacks:
            if spec.methods and model.label not in spec.methods:
                continue
            for dataset in spec.datasets:
                attacks = attack_units(cfg, spec, model, dataset, rows[dataset][1], identities)
                units += attacks
                if cfg.eval.measure_n:  # each found prompt measured on the held-out rows, right after its search
                    units += [measure_unit(a, rows[dataset][2]) for a in attacks]
                if cfg.eval.measure_generate:  # and again in generate mode, read by the study's rule
                    units += [measure_unit(a, rows[dataset][2], generate=cfg.eval.reading) for a in attacks]
        if not cfg.livebench.methods or model.label in cfg.livebench.methods:
            units += livebench_units(cfg, model, identities)
        units += extension_units(cfg, model, rows, identities)
    return units + transfer_units(cfg, rows, merged, identities)


def extension_units(cfg: ExperimentConfig, model: ModelSpec, rows: Rows, identities: dict[str, str]) -> list[Unit]:
    """The units that registered kinds outside the built-in phases plan for one model of phase two (none for the
    built-in kinds, which the phases above plan)."""
    return [u for kind in kinds() for u in kind.units_for(cfg, model, rows, identities)]


def transfer_units(cfg: ExperimentConfig, rows: Rows,
                   merged: list[tuple[ModelSpec, bool]], identities: dict[str, str]) -> list[Unit]:  # fmt: skip
    """Replays of each transfer source's attacks (dataset x attack x seed): an expert's on every merged model of its
    pair that the attack covers (plain and chosen M3 of each method); a plain merge's on those models but itself
    and on the pair's experts. Grouped by target model, after every source unit of phase two, so a local run meets
    each source before its replays and loads each target once more. Empty when transfer is off."""
    if cfg.transfer is None:
        return []
    by_target: dict[str, list[Unit]] = {}
    for pair in cfg.pairs:
        name = pair_name(pair)
        mine = [(m, is_plain) for m, is_plain in merged if m.pair == name]
        for spec in cfg.attacks:
            covered = [(m, is_plain) for m, is_plain in mine if not spec.methods or m.label in spec.methods]
            sources: list[tuple[ModelSpec, list[ModelSpec]]] = []
            if "experts" in cfg.transfer.sources:
                sources += [(expert_model(e), [m for m, _ in covered]) for e in pair]
            if "plain" in cfg.transfer.sources:
                experts = [expert_model(e) for e in pair]
                for plain in [m for m, is_plain in covered if is_plain]:
                    others = [m for m, is_plain in covered if not (is_plain and m.model_id == plain.model_id)]
                    sources.append((plain, others + experts))
            for source, targets in sources:
                for dataset in spec.datasets:
                    for attack in attack_units(cfg, spec, source, dataset, rows[dataset][1], identities):
                        for target in targets:
                            by_target.setdefault(target.model_id, []).append(replay_unit(attack, target, identities))
    return [u for units in by_target.values() for u in units]

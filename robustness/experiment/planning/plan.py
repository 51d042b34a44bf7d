"""Expanding an experiment config into units of work with deterministic keys. Pure: no files, no models.

Phase 1 merges every model (plain and each M3 candidate) and scores the candidates on the selection rows; where an
attack sets `curve_n` (the attacked lambda curve), it also attacks every candidate and the plain merge on `curve_n`
report rows per seed, right after the model's merge. Phase 2 (planned once selection has picked a candidate per
method) scores the chosen and plain models on the report rows, attacks them and runs LiveBench; with `transfer` on,
it also attacks the pairs' experts and, last, replays each source attack's found prompt on the other models
(`transfer_units`). A method's magnitude axis (`methods[i].scales`) adds a setting per other scale: merged, scored
and attacked on the curve in phase one like the method itself, and not carried into phase two. Keys depend only on
the inputs, so a rerun finds its finished units again and a changed setting makes new ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from robustness.experiment.kinds.inputs import (
    CURVE,
    TRANSFER,
    AttackInputs,
    AttackSettings,
    CleanInputs,
    Inputs,
    LiveBenchInputs,
    MergeInputs,
    ModelRef,
    SelectionInputs,
    TransferInputs,
    UnitInputs,
)
from robustness.experiment.spec.config import AttackConfig, ExperimentConfig, MethodConfig
from robustness.store.keys import unit_key

InputsT = TypeVar("InputsT", bound=Inputs)

REFERENCE = "reference"  # the base and the experts, evaluated on the report rows for the clean-score table


@dataclass(frozen=True)
class ModelSpec:
    """A model the study evaluates: a reference checkpoint, or a merge (plain or one M3 candidate)."""

    model_id: str
    method: str  # average | task_arithmetic | ties | dare | base | expert
    label: str
    pair: str
    m3: bool = False
    alpha: float | None = None
    draw: int | None = None
    merge: dict[str, Any] | None = None  # the merge config (model names, not paths), None for references
    reference: str | None = None  # name of a reference checkpoint ('base' or an expert's name)
    # A point of a method's magnitude axis at another scale than its own: the configured method's name (its label is
    # `name@scale`). Such models are merged, scored for selection and attacked on the curve rows, not reported.
    axis_of: str | None = None

    @property
    def configured(self) -> str:
        """The configured method's name (what attacks[i].methods and livebench.methods list)."""
        return self.axis_of or self.label

    @property
    def identity(self) -> ModelRef:
        return ModelRef(model_id=self.model_id, merge=self.merge, reference=self.reference)


@dataclass(frozen=True)
class Unit:
    key: str
    kind: str  # merge | clean | selection | attack | livebench
    model: ModelSpec | None
    inputs: UnitInputs
    label: str = ""

    def inputs_as(self, kind: type[InputsT]) -> InputsT:
        """The inputs as the type this unit's kind has (a mismatch is a bug in the plan)."""
        if not isinstance(self.inputs, kind):
            raise TypeError(f"unit {self.key}: inputs are {type(self.inputs).__name__}, not {kind.__name__}")
        return self.inputs


def row_parts(n_rows: int, selection_n: int, report_n: int, seed: int) -> tuple[list[int], list[int]]:
    """Disjoint selection and report rows of a validation split, drawn with one seed."""
    if selection_n + report_n > n_rows:
        raise ValueError(f"selection_n + report_n = {selection_n + report_n} exceeds the split's {n_rows} rows")
    perm = np.random.default_rng(seed).permutation(n_rows)
    return sorted(int(i) for i in perm[:selection_n]), sorted(
        int(i) for i in perm[selection_n : selection_n + report_n]
    )


def attack_rows(report: list[int], n: int, seed: int) -> list[int]:
    """The rows one attack seed uses: a seeded sample of the report rows (the same for every model)."""
    if n >= len(report):
        return list(report)
    picked = np.random.default_rng(seed).choice(len(report), size=n, replace=False)
    return sorted(report[int(i)] for i in picked)


def pair_name(pair: list[str]) -> str:
    return "+".join(pair)


def plain_model_id(pair: str, method_name: str) -> str:
    """The plain merge of one configured method (its name, not its type: a config may hold two TIES settings).

    Its M3 candidates' ids extend it, and a selection (keyed by pair and configured name) names the plain model
    its chosen candidate is reported against: this id."""
    return f"{pair}/{method_name}"


def _merge_config(
    cfg: ExperimentConfig, pair: list[str], method: MethodConfig, m3: dict[str, Any] | None
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "base_model": "base",
        "models": list(pair),
        "method": method.method,
        "parameters": dict(method.parameters),
        "seed": cfg.m3.seed,
        "dtype": "auto",  # the inputs' dtype: a bf16 13B checkpoint merges into bf16, not into twice its size
        "device": merge_device(cfg.device),
    }
    if m3 is not None:
        data["m3"] = m3
    return data


def merge_device(device: str) -> str:
    """The merge engine takes auto, cpu or cuda (its first GPU); an evaluation device such as cuda:1 maps to cuda."""
    return device if device in ("auto", "cpu") else "cuda"


def method_settings(cfg: ExperimentConfig) -> list[tuple[MethodConfig, str | None]]:
    """Every configured method, each followed by the other scales of its magnitude axis: (setting, the configured
    method's name for an axis point, None for the method itself)."""
    return [(s, None if s is m else m.name) for m in cfg.methods for s in m.settings()]


def plain_models(cfg: ExperimentConfig, axis: bool = True) -> list[ModelSpec]:
    """The plain merge of every method setting; `axis=False`: without the magnitude axis' other scales."""
    out = []
    for pair in cfg.pairs:
        for method, axis_of in method_settings(cfg):
            if axis_of is not None and not axis:
                continue
            model_id = plain_model_id(pair_name(pair), method.name)
            merge = _merge_config(cfg, pair, method, None)
            out.append(ModelSpec(model_id, method.method, method.name, pair_name(pair), merge=merge, axis_of=axis_of))
    return out


def candidate_models(cfg: ExperimentConfig) -> list[ModelSpec]:
    from merges.sampling import candidate_seed

    out = []
    for pair in cfg.pairs:
        for method, axis_of in method_settings(cfg):
            for alpha in cfg.m3.alphas:
                for draw in range(cfg.m3.draws):
                    m3 = {
                        "enabled": True,
                        "alpha": alpha,
                        "seed": candidate_seed(cfg.m3.seed, alpha, draw),
                        "preserve_scale": cfg.m3.preserve_scale,
                        "per_block": cfg.m3.per_block,
                    }
                    model_id = f"{plain_model_id(pair_name(pair), method.name)}+m3/a{alpha:g}-d{draw}"
                    merge = _merge_config(cfg, pair, method, m3)
                    spec = ModelSpec(model_id, method.method, method.name, pair_name(pair), True, alpha, draw, merge,
                                     axis_of=axis_of)  # fmt: skip
                    out.append(spec)
    return out


def reference_models(cfg: ExperimentConfig) -> list[ModelSpec]:
    names = sorted({name for pair in cfg.pairs for name in pair})
    refs = [ModelSpec("base", "base", "base", REFERENCE, reference="base")]
    return refs + [expert_model(n) for n in names]


def model_unit(kind: str, model: ModelSpec, inputs: UnitInputs, where: str) -> Unit:
    """A unit that works on one model: its inputs name the model and every checkpoint's identity (so a changed
    checkpoint changes the key), its label is the model id followed by `where` (dataset, attack, task...)."""
    label = f"{model.model_id}/{where}" if where else model.model_id
    return Unit(unit_key(kind, inputs.payload(), label), kind, model, inputs, label)


def merge_unit(model: ModelSpec, identities: dict[str, str]) -> Unit:
    return model_unit("merge", model, MergeInputs(model=model.identity, checkpoints=identities), "")


def clean_unit(cfg: ExperimentConfig, model: ModelSpec, dataset: str, split: str, rows: list[int],
               identities: dict[str, str]) -> Unit:  # fmt: skip
    e = cfg.eval
    inputs = CleanInputs(
        model=model.identity,
        checkpoints=identities,
        dataset=dataset,
        split=split,
        rows=rows,
        prompt=e.prompt,
        mode=e.mode,
        chat=e.chat,
        agreement_n=e.agreement_n if split == "report" else 0,
        max_new_tokens=e.max_new_tokens,
    )
    return model_unit("clean", model, inputs, f"{dataset}/{split}")


def selection_unit(pair: str, method: MethodConfig, candidates: list[Unit], references: list[Unit] | None = None,
                   criterion: str = "mean_metric") -> Unit:  # fmt: skip
    """One (pair, method)'s choice among its candidates. A criterion other than `mean_metric` is part of the key
    (and so are the reference scores it normalises by); `mean_metric` keys stay those of earlier versions."""
    inputs = SelectionInputs(pair=pair, method=method.name, candidates=[u.key for u in candidates])
    if criterion != "mean_metric":
        inputs = inputs.model_copy(update={"criterion": criterion, "references": [u.key for u in references or []]})
    label = f"{pair}/{method.name}"
    return Unit(unit_key("selection", inputs.payload(), label), "selection", None, inputs, label)


def attack_units(cfg: ExperimentConfig, spec: AttackConfig, model: ModelSpec, dataset: str, report: list[int],
                 identities: dict[str, str], *, curve: bool = False) -> list[Unit]:  # fmt: skip
    """One attack unit per seed. `curve`: the attacked lambda curve's units, on `spec.curve_n` rows per seed
    (drawn as the tables' attacks draw theirs, so the same rows for every model) and keyed apart from them."""
    settings = AttackSettings(**spec.model_dump(mode="json", exclude={"seeds", "datasets", "methods", "n", "curve_n"}))
    n = spec.curve_n if curve and spec.curve_n is not None else spec.n
    return [
        model_unit(
            "attack",
            model,
            AttackInputs(
                model=model.identity,
                checkpoints=identities,
                dataset=dataset,
                rows=attack_rows(report, n, seed),
                prompt=cfg.eval.prompt,
                mode=cfg.eval.mode,
                chat=cfg.eval.chat,
                attack=settings,
                seed=seed,
                purpose=CURVE if curve else None,
            ),
            f"{dataset}/{spec.attack}/{seed}" + (f"/{CURVE}" if curve else ""),
        )
        for seed in spec.seeds
    ]


def curve_units(cfg: ExperimentConfig, model: ModelSpec, rows: dict[str, tuple[list[int], list[int]]],
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


def livebench_units(cfg: ExperimentConfig, model: ModelSpec, identities: dict[str, str]) -> list[Unit]:
    settings = cfg.livebench.model_dump(exclude={"tasks", "methods"})
    return [
        model_unit(
            "livebench",
            model,
            LiveBenchInputs(model=model.identity, checkpoints=identities, task=task, **settings),
            task,
        )
        for task in cfg.livebench.tasks
    ]


def phase_one(cfg: ExperimentConfig, rows: dict[str, tuple[list[int], list[int]]],
              identities: dict[str, str]) -> list[Unit]:  # fmt: skip
    """Merges of every model, candidates' selection scores, one selection per (pair, method); with the attacked
    lambda curve on, each merge's curve attacks right after its merge (and a candidate's selection scores)."""
    units: list[Unit] = []
    criterion = cfg.eval.selection
    references: dict[str, list[Unit]] = {}  # model id -> its selection-row scores (normalised criteria only)
    if criterion != "mean_metric":
        for ref in reference_models(cfg):
            references[ref.model_id] = [
                clean_unit(cfg, ref, d, "selection", rows[d][0], identities) for d in cfg.eval.datasets
            ]
            units += references[ref.model_id]
    candidates = candidate_models(cfg)
    for model in plain_models(cfg):
        units.append(merge_unit(model, identities))
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


def phase_two(cfg: ExperimentConfig, rows: dict[str, tuple[list[int], list[int]]], chosen: dict[str, ModelSpec],
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
            continue
        for spec in cfg.attacks:
            if spec.methods and model.label not in spec.methods:
                continue
            for dataset in spec.datasets:
                units += attack_units(cfg, spec, model, dataset, rows[dataset][1], identities)
        if not cfg.livebench.methods or model.label in cfg.livebench.methods:
            units += livebench_units(cfg, model, identities)
    return units + transfer_units(cfg, rows, merged, identities)


def expert_model(name: str) -> ModelSpec:
    """The reference spec of one expert (as `reference_models` lists it)."""
    return ModelSpec(f"expert/{name}", "expert", f"expert:{name}", REFERENCE, reference=name)


def transfer_experts(cfg: ExperimentConfig) -> set[str]:
    """The experts attacked as transfer sources: every pair's, when transfer's sources include `experts`."""
    if cfg.transfer is None or "experts" not in cfg.transfer.sources:
        return set()
    return {name for pair in cfg.pairs for name in pair}


def replay_unit(source: Unit, target: ModelSpec, identities: dict[str, str]) -> Unit:
    """Score the prompt that `source` (an attack unit) finds on `target`, on the source's rows. The key depends on
    the source's key and the target's identity: the prompt is read from the source's record when the replay runs."""
    src = source.inputs_as(AttackInputs)
    assert source.model is not None
    fields = src.model_dump(exclude={"model", "checkpoints", "purpose"})
    inputs = TransferInputs(model=target.identity, checkpoints=identities, purpose=TRANSFER, source=source.key,
                            **fields)  # fmt: skip
    where = f"{src.dataset}/{src.attack.attack}/{src.seed}/{TRANSFER}/{source.model.model_id}"
    return model_unit("attack", target, inputs, where)


def transfer_units(cfg: ExperimentConfig, rows: dict[str, tuple[list[int], list[int]]],
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

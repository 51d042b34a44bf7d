"""A study checked whole before any work: what its keys refer to (README, "The experiment").

`load_experiment` checks each key's type and range and the rules between keys (config.py). `validate_study` checks
what needs more than the config itself: each method's merge parameters through the merge library, the experts the
pairs name, local checkpoint folders (their files only), the data (split sizes, the prompt), LiveBench's questions,
the device and dtype, the output folder and an earlier run's store there. Each problem is a `UserError` whose
message starts with the key as YAML spells it (`methods[1].parameters.keep: ...`) and says what to change. Nothing
is created or written, and no model is loaded.
"""

from __future__ import annotations

from robustness.errors import UserError
from robustness.experiment.spec.config import ExperimentConfig
from robustness.experiment.spec.files import (
    check_checkpoints,
    check_data,
    check_livebench,
    check_output_dir,
    check_store,
)


def validate_study(cfg: ExperimentConfig) -> None:
    """Raise `UserError` naming the first key that would make `m3r run` fail after it started; else return."""
    check_attack_rows(cfg)
    check_models_block(cfg)
    check_methods(cfg)
    check_device(cfg)
    check_output_dir(cfg)
    check_store(cfg)
    where, experts = expert_names(cfg)
    check_pairs(cfg, where, experts)
    check_checkpoints(cfg)
    check_data(cfg)
    check_livebench(cfg)


def validate_shape(cfg: ExperimentConfig) -> None:
    """The checks that need nothing but the config (and its family config): what `m3r plan` checks, so that a study
    can be sized on a machine without its data, checkpoints or device."""
    check_attack_rows(cfg)
    check_models_block(cfg)
    check_methods(cfg)
    where, experts = expert_names(cfg)
    check_pairs(cfg, where, experts)


def check_attack_rows(cfg: ExperimentConfig) -> None:
    """An attack draws its rows from the report part; more than it holds would silently attack fewer. (Checked here
    rather than in config.py so that the stored config of a run made before this check still validates for
    `m3r report`.)"""
    report_n = cfg.eval.report_n
    for i, attack in enumerate(cfg.attacks):
        for key, n in (("n", attack.n), ("curve_n", attack.curve_n)):
            if n is not None and n > report_n:
                raise UserError(
                    f"attacks[{i}].{key}: {n} is more rows than the report part holds (eval.report_n = {report_n}), "
                    f"which the attack draws its rows from; lower {key} to at most {report_n} or raise eval.report_n"
                )


def check_models_block(cfg: ExperimentConfig) -> None:
    """Keys of one family that the other ignores, and an expert called like the base."""
    m = cfg.models
    if m.family == "default":
        given = [key for key, value in (("models.base", m.base), ("models.experts", m.experts)) if value]
        if given:
            raise UserError(
                f"{given[0]}: is read only with 'models.family: explicit' (the default family's checkpoints come "
                "from models.family_config); set family: explicit, or remove it"
            )
        return
    if m.family_config is not None:
        raise UserError(
            "models.family_config: is read only with 'models.family: default'; remove it, or set family: default"
        )
    if "base" in m.experts:
        raise UserError("models.experts.base: 'base' names the base model (models.base); give this expert another name")


def check_methods(cfg: ExperimentConfig) -> None:
    """Every merge the plan makes (plain and each M3 candidate) is a valid merge config for the merge library."""
    from merges.config import validate_config
    from merges.errors import MergeError
    from robustness.experiment.planning.models import candidate_models, pair_name, plain_models

    index = {m.name: i for i, m in enumerate(cfg.methods)}
    pairs = {pair_name(p): k for k, p in enumerate(cfg.pairs)}
    for model in [*plain_models(cfg), *candidate_models(cfg)]:
        try:
            validate_config(model.merge)
        except MergeError as exc:
            key = study_key(exc.key or "", index[model.configured], pairs[model.pair], cfg.m3.alphas, model.alpha)
            raise UserError(f"{key}: {exc.problem or exc}") from None


def study_key(merge_key: str, method: int, pair: int, alphas: list[float], alpha: float | None) -> str:
    """The study key behind a key of the merge config that the plan built from it (experiment/planning/plan.py)."""
    section, _, rest = merge_key.partition(".")
    if section in ("parameters", "method"):
        return f"methods[{method}].{merge_key}"
    if merge_key in ("seed", "m3.seed"):
        return "m3.seed"
    if merge_key == "m3.alpha" and alpha is not None:
        return f"m3.alphas[{alphas.index(alpha)}]"
    if section == "m3":
        return f"m3.{rest}"
    if section.startswith("models"):
        return f"pairs[{pair}]"
    return f"methods[{method}] ({merge_key})"


def check_device(cfg: ExperimentConfig) -> None:
    """The device exists on this machine (`cuda` needs CUDA) and the dtype is one the loader knows. On a Ray
    cluster the devices are the workers': the Ray executor checks them when it starts."""
    import torch

    from robustness.models.device import resolve_device, resolve_dtype

    try:
        on_cluster = cfg.executor == "ray" and cfg.ray_address is not None
        device = torch.device("cpu") if on_cluster else resolve_device(cfg.device)
    except UserError as exc:
        raise UserError(f"device: {exc}") from None
    try:
        resolve_dtype(cfg.dtype, device)
    except UserError as exc:
        raise UserError(f"dtype: {exc}") from None


def expert_names(cfg: ExperimentConfig) -> tuple[str, list[str]]:
    """Where the study's experts come from (for messages) and their names."""
    m = cfg.models
    if m.family == "explicit":
        return "models.experts", list(m.experts)
    from robustness.experts.recipe import load_family_config

    try:
        family = load_family_config(m.family_config)
    except UserError as exc:
        raise UserError(f"models.family_config: {exc}") from None
    where = f"models.family_config ({m.family_config})" if m.family_config else "the default family"
    return where, list(family.experts)


def check_pairs(cfg: ExperimentConfig, where: str, experts: list[str]) -> None:
    for k, pair in enumerate(cfg.pairs):
        unknown = [name for name in pair if name not in experts]
        if unknown:
            raise UserError(
                f"pairs[{k}]: unknown expert {unknown[0]!r}; the experts of {where} are {', '.join(experts)}: "
                "name two or more of them"
            )

"""A study checked whole before any work: what its keys refer to (README, "The experiment").

`load_experiment` checks each key's type and range and the rules between keys (config.py). `validate_study` checks
what needs more than the config itself: each method's merge parameters through the merge library, the experts the
pairs name, local checkpoint folders (their files only), the data (split sizes, the prompt), LiveBench's questions,
the device and dtype, the output folder and an earlier run's store there. Each problem is a `UserError` whose
message starts with the key as YAML spells it (`methods[1].parameters.keep: ...`) and says what to change. Nothing
is created or written, and no model is loaded.
"""

from __future__ import annotations

import os
from pathlib import Path

from robustness.errors import UserError
from robustness.experiment.spec.config import ExperimentConfig

# What makes a local folder a checkpoint the merge engine and the loader can use (weights are never opened here).
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "tokenizer_config.json")
WEIGHT_PATTERNS = ("*.safetensors", "*.bin")


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
    from robustness.experiment.planning.plan import candidate_models, pair_name, plain_models

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


def check_output_dir(cfg: ExperimentConfig) -> None:
    """The run folder (output_dir/name) is a writable folder, or can be made in one. Creates nothing."""
    run_dir = cfg.run_dir
    try:
        if run_dir.exists():
            if not run_dir.is_dir():
                raise UserError(
                    f"output_dir: the run folder {str(run_dir)!r} (output_dir/name) is a file; choose another "
                    "output_dir (or --output-dir) or another name"
                )
            parent = run_dir
        else:
            parent = next(p for p in run_dir.absolute().parents if p.exists())
            if not parent.is_dir():
                raise UserError(
                    f"output_dir: the run folder {str(run_dir)!r} cannot be created below {str(parent)!r}, which is "
                    "a file; choose an output_dir (or --output-dir) inside a folder"
                )
        if not os.access(parent, os.W_OK | os.X_OK):
            raise UserError(
                f"output_dir: {str(parent)!r} is not writable, so the run folder {str(run_dir)!r} cannot be written; "
                "choose a writable output_dir (or --output-dir)"
            )
    except (OSError, ValueError) as exc:  # an unreadable parent, a NUL in the path
        raise UserError(f"output_dir: {cfg.output_dir!r} cannot be used ({exc}); choose another folder") from None


def check_store(cfg: ExperimentConfig) -> None:
    """A run folder that already holds a store must hold a readable store of this study (the same `name`); a
    changed config then reuses the stored units whose keys it still plans (README)."""
    from robustness.store.sqlite import Store, store_path

    if not store_path(cfg.run_dir).is_file():
        return
    try:
        with Store.open_readonly(cfg.run_dir) as store:
            stored = store.config().get("name")
    except UserError as exc:  # not a store of this suite, another schema version
        raise UserError(f"name: {exc}") from None
    if stored is not None and stored != cfg.name:
        raise UserError(
            f"name: the run folder {str(cfg.run_dir)!r} holds study {stored!r}; set name: {stored} to continue "
            "that study, or use another output_dir for a new one"
        )


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


def check_checkpoints(cfg: ExperimentConfig) -> None:
    """Explicit family: each local folder holds config.json, a tokenizer and weights (Hub ids are left to loading)."""
    m = cfg.models
    if m.family != "explicit":
        return
    refs = {"models.base": m.base or "", **{f"models.experts.{name}": ref for name, ref in m.experts.items()}}
    for key, ref in refs.items():
        problem = checkpoint_problem(ref)
        if problem:
            raise UserError(f"{key}: {problem}")


def checkpoint_problem(ref: str) -> str | None:
    """What keeps `ref` from being merged and loaded, judged from file names; None when it is fine or a Hub id."""
    from robustness.models.source import resolve_source

    folder = Path(ref).expanduser()
    try:
        if not folder.is_dir():
            source = resolve_source(ref)  # a missing path or a non-GGUF file is a UserError here
            if source.kind == "hub":
                return None
            return (
                f"{ref!r} is a GGUF model ({source.describe()}), which the merge cannot read; convert it to a folder "
                "('m3r convert') and give that folder"
            )
        missing = []
        if not (folder / "config.json").is_file():
            missing.append("config.json")
        if not any((folder / name).is_file() for name in TOKENIZER_FILES):
            missing.append(f"tokenizer files ({', '.join(TOKENIZER_FILES)})")
        if not any(next(folder.glob(pattern), None) for pattern in WEIGHT_PATTERNS):
            missing.append(f"weight files ({', '.join(WEIGHT_PATTERNS)})")
    except UserError as exc:
        return str(exc)
    except OSError as exc:
        return f"model folder {ref!r} cannot be read ({exc.strerror or exc})"
    if not missing:
        return None
    return (
        f"model folder {ref!r} has no {' and no '.join(missing)}; give a Hugging Face model folder (config.json, "
        "tokenizer files and weights) or a Hub id"
    )


def check_data(cfg: ExperimentConfig) -> None:
    """Each validation split holds selection_n + report_n rows and the prompt exists (the config's types already
    refused dataset names outside the catalog)."""
    from robustness.data.glue import load_glue
    from robustness.paths import resolve_data_dir
    from robustness.prompts import get_prompt

    resolve_data_dir(cfg.data_dir)  # a named root that is missing names data_dir or M3R_DATA_DIR
    e = cfg.eval
    for dataset in e.datasets:
        try:
            rows = len(load_glue(dataset, "validation", cfg.data_dir))
        except UserError as exc:
            raise UserError(f"eval.datasets: {exc}") from None
        if e.selection_n + e.report_n > rows:
            raise UserError(
                f"eval.selection_n + eval.report_n: {e.selection_n} + {e.report_n} = {e.selection_n + e.report_n} "
                f"rows, more than {dataset}'s validation split holds ({rows}); lower them to {rows} or fewer in all"
            )
        try:
            get_prompt(dataset, e.prompt, cfg.data_dir)
        except UserError as exc:
            raise UserError(f"eval.prompt: {exc}") from None


def check_livebench(cfg: ExperimentConfig) -> None:
    """Every LiveBench task has questions (live at release_date, if given) where the runner will read them."""
    from robustness.livebench.questions import (
        CATEGORY_OF_TASK,
        DATA_SUBDIR,
        load_hub,
        load_local,
        resolve_questions_dir,
    )

    lb = cfg.livebench
    if not lb.tasks:
        return
    get = "('m3r livebench download --out DIR' writes one on a networked machine)"
    if lb.questions_dir and not Path(lb.questions_dir).expanduser().is_dir():
        raise UserError(
            f"livebench.questions_dir: {lb.questions_dir!r} is not a folder; give a folder holding "
            f"<category>/<task>/question.jsonl {get}, or remove the key to read {DATA_SUBDIR}/ under the data root"
        )
    folder = resolve_questions_dir(lb.questions_dir, cfg.data_dir)
    if folder is None:
        try:
            questions = load_hub(dict.fromkeys(CATEGORY_OF_TASK[t] for t in lb.tasks))
        except UserError:
            raise UserError(
                f"livebench.questions_dir: not set, the data root (data_dir or M3R_DATA_DIR) has no {DATA_SUBDIR}/ "
                f"folder, and the Hugging Face Hub could not be read; set livebench.questions_dir to a folder of "
                f"questions {get}, or put them under the data root's {DATA_SUBDIR}/"
            ) from None
        origin = "the Hugging Face Hub"
    else:
        try:
            questions = load_local(folder)
        except UserError as exc:
            raise UserError(f"livebench.questions_dir: {exc}") from None
        origin = str(folder)
    for task in lb.tasks:
        mine = [q for q in questions if q.task == task]
        if not mine:
            raise UserError(
                f"livebench.tasks: no {task!r} questions in {origin}; add {CATEGORY_OF_TASK[task]}/{task}/"
                f"question.jsonl there {get}, point livebench.questions_dir at a folder that has them, or drop the task"
            )
        if lb.release_date and not any(q.live_at(lb.release_date) for q in mine):
            first = min(q.release_date for q in mine)
            raise UserError(
                f"livebench.release_date: no {task!r} question in {origin} is live at {lb.release_date} (the first "
                f"was released {first}); choose a later date, or remove the key"
            )

"""The study checks that read the file system (the output folder, an earlier run's store, local checkpoint folders,
the data root, LiveBench's questions): what `validate_study` adds to the checks of the config alone
(experiment/spec/validate.py). Nothing is created or written, and no model is loaded.
"""

from __future__ import annotations

import os
from pathlib import Path

from robustness.errors import UserError
from robustness.experiment.spec.config import ExperimentConfig

# What makes a local folder a checkpoint the merge engine and the loader can use (weights are never opened here).
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "tokenizer_config.json")
WEIGHT_PATTERNS = ("*.safetensors", "*.bin")


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
    """Each validation split holds selection_n + report_n (+ measure_n) rows and the prompt exists (the config's
    types already refused dataset names outside the catalog)."""
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
        if e.measure_n and e.selection_n + e.report_n + e.measure_n > rows:
            total = e.selection_n + e.report_n + e.measure_n
            raise UserError(
                f"eval.measure_n: {e.selection_n} + {e.report_n} + {e.measure_n} = {total} rows with the selection and "
                f"report parts, more than {dataset}'s validation split holds ({rows}); lower measure_n to "
                f"{rows - e.selection_n - e.report_n} or fewer, or the other parts"
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

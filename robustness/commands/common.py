"""Options and checks shared by the commands that evaluate a model on a task (`eval`, `attack`)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from robustness import catalog
from robustness.commands.argtypes import positive_int, seed, utf8_text
from robustness.errors import UserError


def add_task_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="Hub id, local folder, .gguf file, or smollm2-135m-instruct")
    p.add_argument("--dataset", required=True, help=" or ".join(catalog.DATASETS))
    p.add_argument("--prompt", default="0", help="PromptBench prompt: index 0-19 or name, e.g. role_oriented:3")
    p.add_argument("--prompt-text", type=utf8_text, help="a custom prompt instead; must contain {content} once")
    p.add_argument("--split", default="validation", help="train or validation (default: validation)")
    p.add_argument("--n", type=positive_int, help="evaluate a seeded sample of N rows (default: the whole split)")
    p.add_argument("--sample-seed", type=seed, help="seed of the row sample (default: --seed)")
    p.add_argument("--mode", default="score", choices=("score", "generate"), help="score (default) or generate")
    p.add_argument("--max-new-tokens", type=positive_int, default=10, help="generate mode's budget (default 10)")
    p.add_argument("--reading", default=catalog.DEFAULT_READING, choices=catalog.READINGS,
                   help="generate mode's rule for reading an answer: last_word (PromptBench's, default) or "
                        "sole_label (the one label word the answer names)")  # fmt: skip
    p.add_argument("--chat", action=argparse.BooleanOptionalAction, default=None,
                   help="wrap inputs in the chat template (default: when the model has one)")  # fmt: skip
    p.add_argument("--batch-size", type=positive_int, help="rows per forward pass (default: 16 on CPU, 64 on GPU)")
    p.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:N")
    p.add_argument("--dtype", default="auto", help="auto (bf16 on capable GPUs, fp32 on CPU), float32, ...")
    p.add_argument("--data-dir", help="local data root (default: $M3R_DATA_DIR, else the Hugging Face Hub)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout (progress goes to stderr)")


@dataclass
class Task:
    """Everything checked before a model is loaded: data, prompt, rows."""

    data: Any
    prompt_name: str
    prompt_text: str
    indices: tuple[int, ...]
    seed: int


def prepare_task(args: argparse.Namespace, seed: int) -> Task:
    from robustness.data.glue import load_glue
    from robustness.evaluate import subset_indices
    from robustness.models.source import resolve_source
    from robustness.prompts import check_template, get_prompt

    resolve_source(args.model)  # a bad model path fails before any data or weights are read
    data = load_glue(args.dataset, args.split, args.data_dir)
    if args.prompt_text is not None:
        name, text = "custom", check_template(args.prompt_text)
    else:
        prompt = get_prompt(data.dataset, args.prompt, args.data_dir)
        name, text = prompt.name, prompt.text
    if args.n is not None and args.n > len(data):
        raise UserError(
            f"--n {args.n} is out of range: {data.dataset} {data.split} has {len(data)} rows; "
            f"give at most {len(data)}, or leave --n out for every row"
        )
    sample_seed = seed if args.sample_seed is None else args.sample_seed
    return Task(data, name, text, subset_indices(len(data), args.n, sample_seed), sample_seed)


def load_evaluator(args: argparse.Namespace, task: Task) -> tuple[Any, Any]:
    """(loaded model, PromptEvaluator) for the task."""
    from robustness.evaluate import evaluator_for
    from robustness.models import load_model

    loaded = load_model(args.model, device=args.device, dtype=args.dtype)
    if args.chat and not loaded.has_chat_template:
        raise UserError(f"--chat was asked for but {args.model!r} has no chat template")
    evaluator = evaluator_for(loaded, task.data, task.indices, mode=args.mode, chat=args.chat,
                              max_new_tokens=args.max_new_tokens, batch_size=args.batch_size,
                              reading=args.reading)  # fmt: skip
    return loaded, evaluator


def common_json(args: argparse.Namespace, task: Task, loaded: Any, evaluator: Any) -> dict[str, Any]:
    return {
        "model": str(args.model),
        "dataset": task.data.dataset,
        "split": task.data.split,
        "prompt_name": task.prompt_name,
        "mode": evaluator.mode,
        **({"reading": evaluator.reading} if evaluator.mode == "generate" else {}),
        "chat": args.chat if args.chat is not None else bool(loaded.has_chat_template),
        "n": len(task.indices),
        "sample_seed": task.seed,
        "device": str(loaded.device),
        "dtype": str(loaded.dtype).removeprefix("torch."),
    }

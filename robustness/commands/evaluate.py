"""`m3r eval`: a model's clean metric on SST-2 or CoLA with one prompt."""

from __future__ import annotations

import argparse
import json
from typing import Any

from robustness import catalog
from robustness.commands.argtypes import seed
from robustness.commands.common import add_task_options, common_json, load_evaluator, prepare_task


def register(sub: argparse._SubParsersAction) -> None:
    names = " or ".join(catalog.DATASETS)
    p = sub.add_parser("eval", help=f"evaluate a model on {names} with one PromptBench prompt")
    add_task_options(p)
    p.add_argument("--seed", type=seed, default=0, help="seed of the row sample (default 0)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    task = prepare_task(args, args.seed)
    loaded, evaluator = load_evaluator(args, task)
    outcome = evaluator(task.prompt_text)
    result = {
        **common_json(args, task, loaded, evaluator),
        "prompt": task.prompt_text,
        "metric_name": evaluator.metric_name,
        "metric": outcome.metric,
        "accuracy": outcome.accuracy,
        "indices": list(task.indices),
        "labels": evaluator.labels,
        "predictions": list(outcome.predictions),
    }
    if evaluator.mode == "generate":
        result["answers"] = list(outcome.answers)  # the raw answers, so that the reading can be audited
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{task.data.dataset} {task.prompt_name} ({_mode(evaluator)}, n={len(task.indices)}): "
            f"{evaluator.metric_name} {outcome.metric:.4f}, accuracy {outcome.accuracy:.4f}"
        )
    return 0


def _mode(evaluator: Any) -> str:
    return f"generate, read by {evaluator.reading}" if evaluator.mode == "generate" else evaluator.mode

"""`m3r attack`: attack a model's prompt with DeepWordBug, BERTAttack or StressTest and report the drop."""

from __future__ import annotations

import argparse
import json

from robustness import catalog
from robustness.commands.argtypes import positive_int, seed
from robustness.commands.common import add_task_options, common_json, load_evaluator, prepare_task
from robustness.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("attack", help=f"attack a prompt ({', '.join(catalog.ATTACKS)}) and report PDR")
    add_task_options(p)
    p.add_argument("--attack", required=True, help=" or ".join(catalog.ATTACKS))
    p.add_argument("--search", default="greedy", help="greedy (PromptBench: every word by importance) or paper "
                   "(the M3 paper: three seeded random positions)")  # fmt: skip
    p.add_argument("--seed", type=seed, default=0, help="attack seed; also the row sample's unless --sample-seed")
    p.add_argument(
        "--levenshtein", type=positive_int, default=30, help="DeepWordBug's edit-distance bound (default 30)"
    )
    p.add_argument("--candidates", type=positive_int, default=48,
                   help="BERTAttack's replacement words per position (default 48, as PromptBench)")  # fmt: skip
    p.add_argument("--masked-lm", default="bert-base-uncased",
                   help="BERTAttack's word generator: a masked LM id or folder (default bert-base-uncased); when "
                   "it cannot be loaded, the attacked model's causal LM is used and named in the result")  # fmt: skip
    p.add_argument("--similarity-encoder", help="sentence encoder for BERTAttack's 0.8 similarity bound "
                   "(default: all-MiniLM-L6-v2 from its PyPI package)")  # fmt: skip
    p.add_argument("--stress-placement", default="promptbench", choices=("promptbench", "end"),
                   help="StressTest: after the last word as PromptBench does, or after the whole prompt")  # fmt: skip
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from robustness.attacks.recipes import RunSettings, get_attack
    from robustness.catalog import ATTACKS, SEARCHES

    if args.attack not in ATTACKS:
        raise UserError(f"unknown attack {args.attack!r}; choose one of: {', '.join(ATTACKS)}")
    if args.search not in SEARCHES:
        raise UserError(f"unknown search {args.search!r}; choose one of: {', '.join(SEARCHES)}")
    task = prepare_task(args, args.seed)
    loaded, evaluator = load_evaluator(args, task)
    generator = similarity = None
    if get_attack(args.attack).needs_word_models:
        from robustness.attacks.generators import bertattack_parts

        generator, similarity = bertattack_parts(loaded, str(args.model), args.masked_lm, args.similarity_encoder)
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(), TextColumn("{task.description}: {task.completed} prompt evaluations"), TimeElapsedColumn(),
        console=Console(stderr=True), transient=args.json,
    ) as progress:  # fmt: skip
        bar = progress.add_task(f"{args.attack} on {task.data.dataset}", total=None)
        evaluator.on_evaluate = lambda count: progress.update(bar, completed=count)
        settings = RunSettings(
            seed=args.seed, search=args.search, generator=generator, similarity=similarity,
            levenshtein=args.levenshtein, candidates=args.candidates, stress_placement=args.stress_placement,
        )  # fmt: skip
        result = get_attack(args.attack).run(evaluator, task.prompt_text, settings)
    out = {**common_json(args, task, loaded, evaluator), **result.as_json(evaluator)}
    if args.json:
        print(json.dumps(out))
    else:
        pdr = "undefined (clean metric <= 0)" if result.pdr is None else f"{result.pdr:.4f}"
        print(f"{result.metric_name}: {result.clean.metric:.4f} -> {result.attacked.metric:.4f}, PDR {pdr}, "
              f"{result.queries} queries ({result.evaluations} evaluated), {result.seconds:.1f} s")  # fmt: skip
        print(f"attacked prompt: {result.attacked_prompt!r}")
    return 0

"""`m3r models`: build (or find) the default base and its SST-2 and CoLA experts, and show their clean scores."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "models",
        help="build the default base model and its two experts (cached), and show their clean scores",
        description="Convert the built-in SmolLM2-135M-Instruct to safetensors and fine-tune two experts from it "
        "(SST-2 with LoRA merged into full weights, CoLA by training its top layers; see configs/models.yaml), "
        "then score the three models on the held-out dev rows. Everything is cached by a hash of its recipe; "
        "a second call reuses it.",
    )
    p.add_argument("--config", help="YAML family config (default: the built-in recipe, see configs/models.yaml)")
    p.add_argument("--data-dir", help="local data root (default: $M3R_DATA_DIR, else the Hugging Face Hub)")
    p.add_argument("--device", help="auto, cpu, cuda, cuda:N (default: the config's, auto)")
    p.add_argument("--rebuild", action="store_true", help="train the experts again even when cached")
    p.add_argument("--no-eval", action="store_true", help="skip the clean scores")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout (progress goes to stderr)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from robustness.experts.build import build_family
    from robustness.experts.recipe import load_family_config

    config = load_family_config(args.config)
    updates = {k: v for k, v in (("data_dir", args.data_dir), ("device", args.device)) if v is not None}
    if updates:
        config = config.model_copy(update=updates)
    family = build_family(config, rebuild=args.rebuild, evaluate=not args.no_eval)
    if args.json:
        print(json.dumps(family.as_json()))
        return 0
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(
        title="default model family (clean scores on held-out dev rows, held-out prompt; 95% bootstrap interval)"
    )
    table.add_column("model")
    table.add_column("path", overflow="fold")
    tasks = sorted({t for s in family.scores.values() for t in s})
    for task in tasks:
        table.add_column(task, justify="right")
    for name, path in {"base": family.base, **family.experts}.items():
        cells = []
        for task in tasks:
            s = family.scores.get(name, {}).get(task)
            cells.append(_score_cell(s) if s else "-")
        table.add_row(name, str(path), *cells)
    console.print(table)
    built = ", ".join(family.built) or "nothing (all cached)"
    console.print(f"built: {built}; took {sum(family.seconds.values()):.0f} s")
    return 0


def _score_cell(score: dict[str, object]) -> str:
    """`mcc 0.300 [0.243, 0.357] (n=1043)`: the metric, its 95% bootstrap interval over rows, the row count."""
    interval = score.get("ci95")
    shown = f" [{interval[0]:.3f}, {interval[1]:.3f}]" if isinstance(interval, list) else ""
    return f"{score['metric_name']} {score['metric']:.3f}{shown} (n={score['n']})"

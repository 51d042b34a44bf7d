"""`m3r data`: load a GLUE split and show its size, label counts and origin."""

from __future__ import annotations

import argparse
import json

from robustness import catalog


def register(sub: argparse._SubParsersAction) -> None:
    names = ", ".join(catalog.DATASETS)
    p = sub.add_parser("data", help=f"load a GLUE split ({names}) and show its rows and label counts")
    p.add_argument("dataset", help=names)
    p.add_argument("--split", default="validation", help="train or validation (default: validation)")
    p.add_argument("--data-dir", help="local data root (default: $M3R_DATA_DIR, else the Hugging Face Hub)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from robustness.data.glue import load_glue

    data = load_glue(args.dataset, args.split, args.data_dir)
    counts = {data.label_names[k]: v for k, v in data.label_counts().items()}
    if args.json:
        print(
            json.dumps(
                {
                    "dataset": data.dataset,
                    "split": data.split,
                    "rows": len(data),
                    "labels": counts,
                    "origin": data.origin,
                }
            )
        )
    else:
        parts = ", ".join(f"{k} {v}" for k, v in counts.items())
        print(f"{data.dataset} {data.split}: {len(data)} rows ({parts}) from {data.origin}")
    return 0

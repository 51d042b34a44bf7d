"""`m3r report RUN_DIR`: render a run's tables and figures from its result store (never runs a model)."""

from __future__ import annotations

import argparse

from robustness.commands.argtypes import seed


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="render report.md, report.html, tables/ and figures/ from a run's results.sqlite",
        description="Read RUN_DIR/results.sqlite (read-only) and write the report: Table 3 (metric and PDR with and "
        "without M3), M3 effects with paired-bootstrap intervals and Holm-adjusted p-values, M3 vs DARE, clean "
        "scores, lambda curves, LiveBench scores and score/generate agreement. Rendering the same store twice gives "
        "byte-identical files.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="run directory holding results.sqlite (e.g. runs/NAME)")
    p.add_argument(
        "--out", metavar="DIR", help="output folder (default: RUN_DIR/report); its tables/ and figures/ are replaced"
    )
    p.add_argument(
        "--bootstrap",
        type=int,
        default=2000,
        metavar="B",
        help="paired bootstrap resamples per comparison (default: 2000)",
    )
    p.add_argument("--seed", type=seed, default=0, help="seed of the bootstrap (default: 0)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from reports.build import write_report
    from robustness.errors import UserError

    if args.bootstrap < 100:
        raise UserError(f"--bootstrap {args.bootstrap} is too few resamples for a 95% interval; use at least 100")
    written = write_report(args.run_dir, args.out, resamples=args.bootstrap, seed=args.seed)
    err = Console(stderr=True, highlight=False)
    for warning in written.warnings:
        err.print(f"[yellow]warning:[/yellow] {warning}")
    tables = sum(1 for f in written.files if f.startswith("tables/"))
    figures = sum(1 for f in written.files if f.startswith("figures/"))
    err.print(f"{tables} table files, {figures} figures")
    print(written.out_dir / "report.md")
    print(written.out_dir / "report.html")
    return 0

"""`m3r report RUN_DIR`: render a run's tables and figures from its result store (never runs a model)."""

from __future__ import annotations

import argparse
import sys

from robustness.commands.argtypes import seed

# `m3r report` on a run that has not finished every planned unit: the report is written, with a notice at its
# top, and the exit code says it is not final (unless --allow-incomplete). Bad input stays 2.
EXIT_INCOMPLETE = 3


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="render report.md, report.html, tables/ and figures/ from a run's results.sqlite",
        description="Read RUN_DIR/results.sqlite (read-only) and write the report: Table 3 (metric and PDR with and "
        "without M3), M3 effects with paired-bootstrap intervals and Holm-adjusted p-values, M3 vs DARE, clean "
        "scores, lambda curves, LiveBench scores and score/generate agreement. Rendering the same store twice gives "
        "byte-identical files. A run that has not finished every planned unit gets a notice at the top of "
        f"report.md and report.html, a line on stderr and exit code {EXIT_INCOMPLETE} (0 with --allow-incomplete).",
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
    p.add_argument(
        "--allow-incomplete",
        action="store_true",
        help=f"exit 0 for a run that has not finished every planned unit (default: exit {EXIT_INCOMPLETE}; the "
        "report is written either way and says at its top that the run is incomplete)",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from reports.write import write_report
    from robustness.errors import UserError

    if args.bootstrap < 100:
        raise UserError(f"--bootstrap {args.bootstrap} is too few resamples for a 95% interval; use at least 100")
    written = write_report(args.run_dir, args.out, resamples=args.bootstrap, seed=args.seed)
    err = Console(stderr=True, highlight=False)
    status = written.completeness
    refuse = status is not None and status.incomplete and not args.allow_incomplete
    if status is not None and status.incomplete:
        tail = f"; exit code {EXIT_INCOMPLETE} (--allow-incomplete accepts it)" if refuse else ""
        print(f"m3r report: {status.summary()}; the report says so at its top{tail}", file=sys.stderr)
    elif status is not None and status.planned is None:
        err.print(f"[yellow]warning:[/yellow] {status.summary()}", soft_wrap=True)
    for warning in written.warnings:
        err.print(f"[yellow]warning:[/yellow] {warning}")
    tables = sum(1 for f in written.files if f.startswith("tables/"))
    figures = sum(1 for f in written.files if f.startswith("figures/"))
    err.print(f"{tables} table files, {figures} figures")
    print(written.out_dir / "report.md")
    print(written.out_dir / "report.html")
    return EXIT_INCOMPLETE if refuse else 0

"""`m3r run CONFIG`: run (or resume) an experiment, then render its report."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="run or resume an experiment config (merges, clean scores, attacks, LiveBench), then report",
        description="Run every unit of the experiment that is not yet in runs/<name>/results.sqlite; a killed run "
        "resumes where it stopped, and a rerun with a changed config reuses every stored unit whose inputs did not "
        "change (the report shows the current config's units only). Then render runs/<name>/report/.",
    )
    p.add_argument("config", help="experiment YAML, e.g. configs/default.yaml")
    p.add_argument("--output-dir", help="where run folders go (default: the config's output_dir, runs)")
    p.add_argument("--data-dir", help="local data root (default: the config's data_dir, $M3R_DATA_DIR, the Hub)")
    p.add_argument("--device", help="auto, cpu, cuda, cuda:N (default: the config's)")
    p.add_argument("--keep-merges", action="store_true", default=None, help="keep merged weights after the run")
    p.add_argument(
        "--executor",
        choices=["local", "ray"],
        help="run units here one after another (local) or in Ray actors (ray); default: the config's",
    )
    p.add_argument(
        "--address",
        metavar="ADDR",
        help="with --executor ray: the Ray cluster's head, HOST:6379 (default: a local Ray instance)",
    )
    p.add_argument("--no-report", action="store_true", help="skip rendering the report")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from robustness.errors import UserError
    from robustness.experiment.spec.config import load_experiment
    from robustness.experiment.spec.validate import validate_study

    overrides = {"output_dir": args.output_dir, "data_dir": args.data_dir, "device": args.device,
                 "keep_merges": args.keep_merges, "executor": args.executor, "ray_address": args.address}  # fmt: skip
    cfg = load_experiment(args.config, overrides)
    if args.address and cfg.executor != "ray":
        raise UserError("--address names a Ray cluster, used only by the Ray executor; add --executor ray")
    try:  # the whole study, before any model loads or anything is written (README: The experiment)
        validate_study(cfg)
    except UserError as exc:
        raise UserError(f"{args.config}: {exc}") from None
    from robustness.experiment.execution.runner import run_experiment

    run_dir = run_experiment(cfg)
    if args.no_report:
        print(run_dir)
        return 0
    from rich.console import Console

    from reports.write import write_report

    written = write_report(run_dir)
    err = Console(stderr=True, highlight=False)
    for warning in written.warnings:
        err.print(f"[yellow]warning:[/yellow] {warning}")
    print(written.out_dir / "report.md")
    print(written.out_dir / "report.html")
    return 0

"""`m3r plan CONFIG`: a study's units by kind and an estimate of its device-hours and wall time, before it runs.

The arithmetic is in robustness/experiment/sizing/estimate.py (units, jobs), costs.py (the cost model) and schedule.py
(the wall time); this module reads the options and prints. Nothing is loaded, downloaded or written.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from robustness.commands.argtypes import counts, positive_number

if TYPE_CHECKING:
    from robustness.experiment.sizing.estimate import StudyEstimate
    from robustness.experiment.sizing.power import PowerPlan

HOUR = 3600.0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plan",
        help="size a study before running it: units by kind, device-hours, wall time on N workers (an estimate)",
        description="Expand the experiment config into its units as `m3r run` would (phase 2 for one selected M3 "
        "candidate per (pair, method), as the runner plans it) and estimate the work from a per-unit cost model "
        "calibrated on a finished run: device-hours, and the wall time on N workers in the dependency order, on the "
        "calibration machine and on a GPU --device-speedup times faster at running the model (default: measured by "
        "bench/gpu_check.py, bench/results/gpu.json, at the study's model size). Checks "
        "the config's keys but needs no data, checkpoint or GPU; loads and downloads nothing.",
    )
    p.add_argument("config", help="experiment YAML, e.g. configs/paper-13b.yaml")
    p.add_argument("--workers", type=counts, default=[1], metavar="N[,N...]",
                   help="workers to estimate the wall time for, e.g. 8 or 1,8,64 (default: 1)")  # fmt: skip
    p.add_argument(
        "--calibrate",
        metavar="RUN_DIR",
        help="measure the per-unit rates on this finished run's store (default: rates built into the suite, "
        "measured on configs/default.yaml on a 2-core CPU)",
    )
    p.add_argument(
        "--device-speedup",
        type=positive_number,
        metavar="X",
        help="how many times faster than the calibration machine a GPU runs the model (default: the GPU check's "
        "measured score-mode rate at the study's model size, bench/results/gpu.json, over the calibration machine's "
        "measured throughput; without that file an assumed 250 TFLOP/s effective, an H100 at about 25%% of its bf16 "
        "peak)",
    )
    p.add_argument(
        "--params",
        type=positive_number,
        metavar="N",
        help="the models' parameter count, e.g. 13e9 (default: from the base model's config or name)",
    )
    p.add_argument(
        "--power-from",
        metavar="RUN_DIR",
        help="fit the held-out verdict's variance components (search, row, rest) on this run's stored measurements "
        "(eval.measure_n, two seeds or more) instead of the search model's assumed ones",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from robustness.errors import UserError
    from robustness.experiment.sizing.costs import builtin_rates, calibrate
    from robustness.experiment.sizing.estimate import estimate_study
    from robustness.experiment.sizing.power import fitted_components, plan_power
    from robustness.experiment.spec.config import load_experiment
    from robustness.experiment.spec.validate import validate_shape

    cfg = load_experiment(args.config)
    try:  # the config's own keys; data, checkpoints and devices are left to `m3r run`
        validate_shape(cfg)
    except UserError as exc:
        raise UserError(f"{args.config}: {exc}") from None
    rates = calibrate(args.calibrate) if args.calibrate else builtin_rates()
    found = estimate_study(cfg, rates, args.workers, args.device_speedup, args.params)
    fitted = fitted_components(args.power_from) if args.power_from else None
    power = plan_power(cfg, fitted=fitted, fitted_from=args.power_from or "")
    if args.json:
        print(json.dumps({"config": args.config, **found.as_json(), "power": power.as_json()}, indent=2))
        return 0
    print(render(args.config, found))
    print(render_power(power))
    return 0


def hours(seconds: float) -> str:
    h = seconds / HOUR
    if h < 1:
        return f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"
    return f"{h:,.1f} h"


def render(config: str, found: StudyEstimate) -> str:
    counts_ = found.counts
    total = sum(counts_["all"].values())
    lines = [
        f"{config}: study {found.name}, {total:,} units, {found.size.label} parameters",
        "",
        f"  {'units':<11}{'phase 1':>9}{'phase 2':>9}{'all':>9}",
    ]
    for kind, n in counts_["all"].items():
        lines.append(f"  {kind:<11}{counts_['phase_1'][kind]:>9,}{counts_['phase_2'][kind]:>9,}{n:>9,}")
    phase = [sum(counts_[p].values()) for p in ("phase_1", "phase_2")]
    lines += [
        f"  {'all':<11}{phase[0]:>9,}{phase[1]:>9,}{total:>9,}",
        "  (phase 2 as the runner plans it: for one selected M3 candidate per (pair, method))",
        f"  model loads: {found.loads:,} (one per model's run of units, as the Ray executor groups them)",
        "",
    ]
    here, gpu = found.here, found.gpu
    gpu_head = f"GPU (x{gpu.device.speedup:,.0f}, {found.gpu_origin})"
    lines.append(f"  {'estimate':<36}{'calibration machine':>22}{gpu_head:>26}")
    lines.append(f"  {'device-hours':<36}{here.device_seconds / HOUR:>22,.2f}{gpu.device_seconds / HOUR:>26,.2f}")
    for n in here.wall:
        label = f"wall time, {n} worker{'s' if n > 1 else ''}"
        lines.append(f"  {label:<36}{hours(here.wall[n]):>22}{hours(gpu.wall[n]):>26}")
    label = "critical path (unlimited workers)"
    lines.append(f"  {label:<36}{hours(here.critical_path):>22}{hours(gpu.critical_path):>26}")
    lines += ["", "An estimate, not a measurement. Assumptions:"]
    lines += [f"  - {a}" for a in found.assumptions]
    return "\n".join(lines)


def bound(detectable: float | None) -> str:
    """A detectable difference; above 1 no difference in accuracy or MCC that can happen is detectable."""
    return "—" if detectable is None else "> 1 (none)" if detectable > 1 else f"{detectable:.3f}"


def _seeds(n: int | None, over_searches: bool) -> str:
    return "—" if not over_searches else "more rows" if n is None else str(n)


def render_power(plan: PowerPlan) -> str:
    """The held-out verdict's power per comparison: the smallest difference in the held-out attacked metric it
    detects with 80% power after Holm over the primary family."""
    lines = ["", "Power of the held-out verdict (M3 against plain, per method, dataset and attack):"]
    if not plan.power:
        return "\n".join([*lines, *(f"  {a}" for a in plan.assumptions)])
    lines.append(f"  {'comparison':<40}{'family':>13}{'seeds x rows':>14}{'metric':>10}{'detectable':>12}"
                 f"{'seeds for 0.10':>16}")  # fmt: skip
    for c in plan.comparisons:
        p = plan.power[c.name]
        family = "primary" if c.name in plan.primary else "exploratory"
        lines.append(f"  {c.name:<40}{family:>13}{f'{p.seeds} x {p.rows}':>14}{p.metric:>10}"
                     f"{bound(p.detectable):>12}{_seeds(p.seeds_for(0.10, plan.family), p.over_searches):>16}"
                     + ("" if p.over_searches else "  (one search: conditional on its prompt)"))  # fmt: skip
    lines += ["", "Assumptions:", *(f"  - {a}" for a in plan.assumptions)]
    return "\n".join(lines)

"""`m3r run` with the local executor against `m3r run --executor ray` (a local Ray instance), side by side in one run.

    .venv/bin/python bench/ray_vs_local/bench.py [--config configs/smoke.yaml] [--workers 2] [--json FILE]

Builds (or finds in the cache) the study's model family first, so that neither run pays for it. Then runs the study
twice, each into a fresh run folder (a temporary output_dir) and as a user starts it (`m3r run CONFIG --no-report`):
first locally, then on Ray. Both runs get the same CPUs, the first `--workers` of this process's: the Ray run starts
one actor per CPU (one thread each), the local run uses them all as threads of one process. Prints each run's wall
time, the ratio (Ray / local) and the models each loaded (from `m3r run`'s closing line), and checks that both
stores hold the same units. Needs the data root (M3R_DATA_DIR) as `m3r run` does; offline by default.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SUMMARY = re.compile(r"(\d+) units run, (\d+) already in the store; (\d+) model loads")


@dataclass
class Result:
    executor: str
    wall_s: float
    units_run: int
    model_loads: int
    keys: int


def m3r(*args: str) -> list[str]:
    return [sys.executable, "-m", "robustness.cli", *args]


def run_study(config: Path, executor: str, cpus: Sequence[int], out: Path) -> tuple[Result, set[str]]:
    """One `m3r run` into `out`, pinned to `cpus`; its wall time, units, loads and stored keys."""
    command = m3r("run", str(config), "--output-dir", str(out), "--executor", executor, "--no-report")
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, cwd=ROOT,
                          preexec_fn=lambda: os.sched_setaffinity(0, cpus))  # fmt: skip
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{executor} run failed ({proc.returncode}): {' '.join(command)}\n{proc.stderr[-3000:]}")
    found = SUMMARY.findall(proc.stderr)
    if not found:
        raise SystemExit(f"{executor} run: no summary line on stderr:\n{proc.stderr[-2000:]}")
    run_now, _, loads = (int(x) for x in found[-1])
    stores = list(out.glob("*/results.sqlite"))
    if len(stores) != 1:
        raise SystemExit(f"{executor} run: expected one store under {out}, found {len(stores)}")
    with sqlite3.connect(f"file:{stores[0]}?mode=ro", uri=True) as conn:
        keys = {k for (k,) in conn.execute("SELECT key FROM units WHERE status = 'done'")}
    return Result(executor, wall, run_now, loads, len(keys)), keys


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "smoke.yaml", help="experiment config")
    parser.add_argument("--workers", type=int, default=2, help="CPUs for each run, so Ray actors (default: 2)")
    parser.add_argument("--json", type=Path, help="also write the measurements to this file")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

    available = sorted(os.sched_getaffinity(0))
    cpus = available[: args.workers]
    if len(cpus) < args.workers:
        print(f"only {len(cpus)} CPUs available: the Ray run gets {len(cpus)} actors", file=sys.stderr)

    from robustness.experiment.spec.config import load_experiment

    cfg = load_experiment(args.config)
    if cfg.models.family == "default":
        print("building (or finding) the model family ...", flush=True)
        family = ["models", "--no-eval", *(["--config", cfg.models.family_config] if cfg.models.family_config else [])]
        subprocess.run(m3r(*family), cwd=ROOT, check=True, stdout=subprocess.DEVNULL)

    results, stored = [], []
    with tempfile.TemporaryDirectory(prefix="bench-ray-vs-local-") as tmp:
        for executor in ("local", "ray"):
            print(f"running {args.config.name} with the {executor} executor on CPUs {cpus} ...", flush=True)
            result, keys = run_study(args.config, executor, cpus, Path(tmp) / executor)
            results.append(result)
            stored.append(keys)
            loads = f"{result.units_run} units, {result.model_loads} model loads"
            print(f"  {result.wall_s:.1f} s wall, {loads}", flush=True)
    local, ray = results
    same = stored[0] == stored[1]
    print()
    print(f"{cfg.name}: {local.units_run} units, {len(cpus)} CPUs")
    print(f"  local executor: {local.wall_s:7.1f} s wall, {local.model_loads:3d} model loads")
    print(f"  Ray executor:   {ray.wall_s:7.1f} s wall, {ray.model_loads:3d} model loads ({len(cpus)} actors)")
    print(f"  wall time ratio Ray / local: {ray.wall_s / local.wall_s:.2f}")
    print(f"  same units stored: {'yes' if same else 'NO'}")
    if args.json:
        data = {"config": str(args.config), "cpus": len(cpus), "runs": [asdict(r) for r in results],
                "ratio_ray_over_local": ray.wall_s / local.wall_s, "same_units": same}  # fmt: skip
        args.json.write_text(json.dumps(data, indent=2) + "\n")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())

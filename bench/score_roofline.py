"""Score mode against this machine's matrix-product rate (its roofline), in one run: the default family's experts,
the default prompt (task_oriented:0), SST-2 and CoLA.

    python bench/score_roofline.py [--rows 128] [--repeats 3] [--batch-size 16] [--no-profile]

Per dataset it prints rows/s, the useful GFLOP/s (bench/roofline.py's count: the layers' matrices for every real
token, the shared prefix once, attention over each token's context, the vocabulary projection at each scored
position; padding is not work), the machine's GFLOP/s for matrix products at the model's own shapes and batch
(measured in this process just before and after the timed passes) and their ratio; the issue's target is 0.8.
Then, unless --no-profile, where one evaluation's time goes, by operator group (torch.profiler, self time).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE / "eval_vs_promptbench"))

from bench_score import default_expert  # noqa: E402
from roofline import Shape, matmul_rate, score_batches, score_flops  # noqa: E402

TARGET = 0.8
PROMPT = "task_oriented:0"
GROUPS = {  # operator name fragments -> group, first match wins
    "matrix products": ("addmm", "aten::mm", "aten::linear", "aten::matmul"),
    "attention": ("scaled_dot_product", "bmm", "softmax"),
    "cache copies": ("aten::copy_", "aten::contiguous", "aten::expand", "aten::cat", "aten::clone"),
    "norms and elementwise": (
        *("aten::mul", "aten::add", "aten::pow", "aten::mean", "aten::rsqrt", "aten::silu"),
        *("aten::neg", "aten::sub", "aten::div", "aten::cos", "aten::sin"),
    ),
}


def group_of(name: str) -> str:
    for group, fragments in GROUPS.items():
        if any(f in name for f in fragments):
            return group
    return "other"


def measure(dataset: str, rows_n: int, repeats: int, batch_size: int, profile: bool) -> dict[str, Any]:
    import torch

    from robustness.data.glue import load_glue
    from robustness.evaluate import evaluator_for, subset_indices
    from robustness.models import load_model
    from robustness.prompts import get_prompt

    loaded = load_model(default_expert(dataset), device="cpu")
    data = load_glue(dataset)
    prompt = get_prompt(dataset, PROMPT)
    rows = subset_indices(len(data), rows_n, 0)
    batches = score_batches(loaded, data, rows, prompt, batch_size)
    shape = Shape.from_config(loaded.model.config)
    useful = score_flops(shape, batches.prefix, batches.suffixes)

    def machine() -> float:
        return matmul_rate(shape, batches.typical_batch_tokens, batch_size, torch.float32, torch.device("cpu"),
                           seconds=2.0)  # fmt: skip

    before = machine()
    evaluator_for(loaded, data, rows[:batch_size], batch_size=batch_size)(prompt.text)  # warm-up
    times = []
    for _ in range(repeats):
        evaluator = evaluator_for(loaded, data, rows, batch_size=batch_size)  # fresh: evaluators memoise prompts
        start = time.perf_counter()
        evaluator(prompt.text)
        times.append(time.perf_counter() - start)
    after = machine()
    seconds = min(times)
    out = {
        "dataset": dataset, "rows": len(rows), "batch_size": batch_size, "seconds": seconds,
        "seconds_all": times, "rows_per_s": len(rows) / seconds, "useful_gflops": useful / seconds / 1e9,
        "machine_gflops": (before + after) / 2 / 1e9, "machine_spread": abs(before - after) / max(before, after),
        "padding_share": 1 - batches.real_tokens / batches.padded_tokens, "prefix": batches.prefix,
        "own_tokens": statistics.mean(batches.suffixes),
    }  # fmt: skip
    out["ratio"] = out["useful_gflops"] / out["machine_gflops"]
    if profile:
        from torch.profiler import ProfilerActivity
        from torch.profiler import profile as run_profile

        evaluator = evaluator_for(loaded, data, rows, batch_size=batch_size)
        with run_profile(activities=[ProfilerActivity.CPU]) as prof:
            evaluator(prompt.text)
        by_group: dict[str, float] = defaultdict(float)
        for event in prof.key_averages():
            by_group[group_of(event.key)] += event.self_cpu_time_total
        total = sum(by_group.values())
        out["profile"] = {g: t / total for g, t in sorted(by_group.items(), key=lambda kv: -kv[1])}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=16, help="the backend's CPU default")
    ap.add_argument("--no-profile", action="store_true")
    args = ap.parse_args(argv)

    import torch

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.1f}")
    results = [measure(d, args.rows, args.repeats, args.batch_size, not args.no_profile) for d in ("sst2", "cola")]
    print(f"\n{'dataset':<8}{'rows/s':>8}{'useful GFLOP/s':>16}{'machine GFLOP/s':>17}{'ratio':>7}"
          f"{'padding':>9}{'best of':>9}")  # fmt: skip
    for r in results:
        print(f"{r['dataset']:<8}{r['rows_per_s']:>8.1f}{r['useful_gflops']:>16.1f}{r['machine_gflops']:>17.1f}"
              f"{r['ratio']:>7.2f}{r['padding_share']:>9.1%}{len(r['seconds_all']):>9}   "
              f"(machine rate moved {r['machine_spread']:.0%} between before and after)")  # fmt: skip
    for r in results:
        if "profile" in r:
            shares = ", ".join(f"{g} {s:.0%}" for g, s in r["profile"].items())
            print(f"{r['dataset']}: time by operator group (self CPU time of one evaluation): {shares}")
    worst = min(r["ratio"] for r in results)
    print(f"\nroofline ratio (useful / machine matrix-product rate): {worst:.2f} at worst; target >= {TARGET}: "
          f"{'ok' if worst >= TARGET else 'MISSED'}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())

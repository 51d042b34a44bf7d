"""Score mode against this machine's matrix-product rate (its roofline), in one run: the default family's experts,
the default prompt (task_oriented:0), SST-2 and CoLA.

    python bench/score_roofline.py [--rows 128] [--repeats 3] [--batch-size 16] [--no-profile] [--json FILE]

Per dataset and pass (packed: the backend's way for this Llama model; padded: the model's own forward pass on
left-padded batches, the way before packing), timed alternately, it prints rows/s, the useful GFLOP/s
(bench/roofline.py's count: the layers' matrices for every real token, the shared prefix once, attention over each
token's context, the vocabulary projection at each scored position; padding is not work), the machine's GFLOP/s for
matrix products at the model's own shapes and batch (measured in this process just before and after the timed
passes) and their ratio; the issue's target is 0.8.
It runs under the suite's OpenMP wait policy, PASSIVE, unless OMP_WAIT_POLICY is set (ACTIVE: idle threads spin,
faster on an idle machine, much slower when other jobs share the cores; the README's performance section).
Then the packed pass's speed-up over the padded one and their agreement (predictions, log-probabilities), and,
unless --no-profile, where the packed pass's time goes by operator group (torch.profiler, self time).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
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
    """Score mode on `rows_n` rows of `dataset`, packed (the backend's way for this Llama model) and padded (the
    model's own forward pass), timed alternately, best of `repeats` each."""
    import torch

    from robustness.data.glue import load_glue
    from robustness.evaluate import subset_indices
    from robustness.models import load_model
    from robustness.models.backend import HFBackend
    from robustness.models.chat import format_inputs
    from robustness.prompts import get_prompt, label_words

    loaded = load_model(default_expert(dataset), device="cpu")
    data = load_glue(dataset)
    prompt = get_prompt(dataset, PROMPT)
    rows = subset_indices(len(data), rows_n, 0)
    texts = format_inputs(loaded.tokenizer, [prompt.format(data.sentences[i]) for i in rows])
    words = list(label_words(dataset))
    shape = Shape.from_config(loaded.model.config)
    backends = {"packed": HFBackend(loaded, batch_size, pack=True), "padded": HFBackend(loaded, batch_size, pack=False)}
    if not backends["packed"].pack:
        raise SystemExit(f"{default_expert(dataset)} is not packable; this bench measures the packed pass")
    out: dict[str, Any] = {"dataset": dataset, "rows": len(rows), "batch_size": batch_size}
    scores = {way: b.score(texts[:batch_size], words) for way, b in backends.items()}  # warm-up
    packed = score_batches(loaded, data, rows, prompt, batch_size)
    planned = {"packed": packed, "padded": dataclasses.replace(packed, packed=False)}

    def machine(way: str) -> float:
        tokens = planned[way].typical_batch_tokens
        return matmul_rate(shape, tokens, batch_size, torch.float32, torch.device("cpu"), seconds=2.0)

    rates = {way: [machine(way)] for way in backends}
    times: dict[str, list[float]] = {way: [] for way in backends}
    for _ in range(repeats):  # alternately, so that the machine's drift falls on both
        for way, backend in backends.items():
            start = time.perf_counter()
            scores[way] = backend.score(texts, words)
            times[way].append(time.perf_counter() - start)
    for way in backends:
        rates[way].append(machine(way))
    useful = score_flops(shape, packed.prefix, packed.suffixes)
    for way, batches in planned.items():
        seconds = min(times[way])
        rate = statistics.mean(rates[way])
        out[way] = {
            "seconds": seconds, "seconds_all": times[way], "rows_per_s": len(rows) / seconds,
            "useful_gflops": useful / seconds / 1e9, "machine_gflops": rate / 1e9,
            "ratio": useful / seconds / rate, "machine_spread": abs(rates[way][0] - rates[way][1]) / max(rates[way]),
            "padding_share": 1 - batches.real_tokens / batches.padded_tokens,
            "batch_tokens": batches.typical_batch_tokens,
        }  # fmt: skip
    out["prefix"], out["own_tokens"] = packed.prefix, statistics.mean(packed.suffixes)
    out["speedup"] = out["padded"]["seconds"] / out["packed"]["seconds"]
    out["max_logprob_difference"] = float((scores["packed"] - scores["padded"]).abs().max())
    out["same_predictions"] = int((scores["packed"].argmax(-1) == scores["padded"].argmax(-1)).sum())
    if profile:
        from torch.profiler import ProfilerActivity
        from torch.profiler import profile as run_profile

        with run_profile(activities=[ProfilerActivity.CPU]) as prof:
            backends["packed"].score(texts, words)
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
    ap.add_argument("--json", type=Path, help="also write the numbers to this file")
    args = ap.parse_args(argv)

    import torch

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, OpenMP wait policy "
          f"{os.environ.get('OMP_WAIT_POLICY', 'unset')}, load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    results = [measure(d, args.rows, args.repeats, args.batch_size, not args.no_profile) for d in ("sst2", "cola")]
    print(f"\n{'dataset':<8}{'pass':<8}{'rows/s':>8}{'useful GFLOP/s':>16}{'machine GFLOP/s':>17}{'ratio':>7}"
          f"{'padding':>9}{'best of':>9}")  # fmt: skip
    for r in results:
        for way in ("packed", "padded"):
            w = r[way]
            print(f"{r['dataset']:<8}{way:<8}{w['rows_per_s']:>8.1f}{w['useful_gflops']:>16.1f}"
                  f"{w['machine_gflops']:>17.1f}{w['ratio']:>7.2f}{w['padding_share']:>9.1%}{len(w['seconds_all']):>9}"
                  f"   (machine rate moved {w['machine_spread']:.0%} between before and after)")  # fmt: skip
    for r in results:
        print(f"{r['dataset']}: packed is {r['speedup']:.2f}x the padded pass; predictions identical on "
              f"{r['same_predictions']}/{r['rows']} rows, log-probabilities within {r['max_logprob_difference']:.1e}; "
              f"prefix {r['prefix']} tokens, {r['own_tokens']:.1f} of each row's own")  # fmt: skip
    for r in results:
        if "profile" in r:
            shares = ", ".join(f"{g} {s:.0%}" for g, s in r["profile"].items())
            print(f"{r['dataset']}: packed pass's time by operator group (self CPU time): {shares}")
    worst = min(r["packed"]["ratio"] for r in results)
    print(f"\nroofline ratio of the packed pass (useful / machine matrix-product rate): {worst:.2f} at worst; "
          f"target >= {TARGET}: {'ok' if worst >= TARGET else 'MISSED'}")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

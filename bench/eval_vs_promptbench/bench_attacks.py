"""PromptBench 0.0.4's DeepWordBug and StressTest against ours, same model, prompt and rows, in one run.

    .venv/bin/python bench/eval_vs_promptbench/bench_attacks.py [--model PATH] [--dataset sst2] [--n 32]
        [--prompt 0] [--seeds 0 1 2] [--pb-seeds 0] [--json FILE]

PromptBench runs in its own virtual environment (installed beside this file on first use, setup_promptbench.py)
as a subprocess with its own transformers, evaluating each candidate prompt with its default loop: one sample at
a time, greedy generation of 20 tokens, the last word read as the label. Ours runs run_attack (greedy search) on a
score-mode PromptEvaluator: label-word log-probabilities, batched, memoised. Both sides wrap the inputs in the
model's chat template; the bench checks that the texts are identical. Wall time counts the attack only (model
loading and imports excluded on both sides). Printed per attack and side: wall seconds, prompt evaluations (ours:
real ones and queries including memo hits), seconds per evaluation, clean and attacked accuracy, attacked prompt;
then the ratios and the issue's targets: ours >= 5x faster, the same StressTest result, DeepWordBug attacked
accuracies within the seed-to-seed spread. StressTest has no randomness, so it runs once per side.

PromptBench's DeepWordBug is seeded here through numpy's global generator (TextAttack draws its character edits
from it); it has no seed of its own. Its goal function scores the clean prompt before it knows the clean accuracy
(score -1 - accuracy), so the greedy search always keeps the best edit of the first, most important word even when
it does not lower the accuracy; ours keeps an edit only if it does.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_score import default_expert  # noqa: E402
from setup_promptbench import DEFAULT_VENV, ensure_promptbench  # noqa: E402

SPEED_TARGET = 5.0  # the throughput issue's target: PromptBench's wall time over ours, same evaluations, on the CPU
MAX_NEW_TOKENS = 20  # PromptBench's default loop


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="model folder (default: the default family's expert for --dataset)")
    ap.add_argument("--dataset", default="sst2")
    ap.add_argument("--n", type=int, default=32, help="validation rows (seeded subset; default 32)")
    ap.add_argument("--prompt", default="0")
    ap.add_argument("--row-seed", type=int, default=0, help="seed of the row subset")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="our DeepWordBug seeds")
    ap.add_argument("--pb-seeds", type=int, nargs="+", default=[0], help="PromptBench DeepWordBug seeds (numpy)")
    ap.add_argument("--venv", type=Path, default=DEFAULT_VENV, help="PromptBench's virtual environment")
    ap.add_argument("--json", type=Path, help="also write the numbers to this file")
    args = ap.parse_args(argv)

    pb_python, install_s = ensure_promptbench(args.venv)

    import torch

    from robustness.attacks.constraints import PATTERN_WORDS, PROTECTED
    from robustness.attacks.recipes import run_attack
    from robustness.data.glue import load_glue
    from robustness.evaluate import evaluator_for, subset_indices
    from robustness.models import load_model
    from robustness.models.chat import format_inputs
    from robustness.prompts import get_prompt, label_words

    model = args.model or default_expert(args.dataset)
    loaded = load_model(model)
    data = load_glue(args.dataset)
    prompt = get_prompt(args.dataset, args.prompt)
    rows = subset_indices(len(data), args.n, args.row_seed)
    print(f"model {model}; {args.dataset} prompt {prompt.name}; {len(rows)} rows", flush=True)

    # Ours first, in this process.
    ours: list[dict[str, Any]] = []
    for attack, seed in [("stresstest", args.seeds[0]), *(("deepwordbug", s) for s in args.seeds)]:
        evaluator = evaluator_for(loaded, data, rows, mode="score")
        res = run_attack(attack, evaluator, prompt.text, seed=seed, search="greedy")
        ours.append({
            "attack": attack, "seed": seed, "seconds": res.seconds, "evaluations": res.evaluations,
            "queries": res.queries, "clean_accuracy": res.clean.accuracy, "attacked_accuracy": res.attacked.accuracy,
            "attacked_prompt": res.attacked_prompt, "clean_predictions": list(res.clean.predictions),
        })  # fmt: skip
        print(f"ours {attack} seed {seed}: {res.seconds:.1f} s, {res.evaluations} evaluations", flush=True)

    # PromptBench, in its own environment.
    spec = {
        "model": str(loaded.source.location),
        "dtype": str(loaded.dtype).removeprefix("torch."),
        "sentences": [data.sentences[i] for i in rows],
        "labels": [data.labels[i] for i in rows],
        "prompt": prompt.text,
        "label_words": list(label_words(args.dataset)),
        "unmodifiable_words": sorted(PROTECTED.get(args.dataset, frozenset()) | PATTERN_WORDS),
        "runs": [["stresstest", args.pb_seeds[0]], *(["deepwordbug", s] for s in args.pb_seeds)],
        "max_new_tokens": MAX_NEW_TOKENS,
        "cache": str(args.venv.resolve() / "offline"),
        "stopwords_file": str(resources.files("robustness.attacks").joinpath("stopwords_en.txt")),
    }
    with tempfile.TemporaryDirectory() as tmp:
        spec_file, result_file = Path(tmp) / "spec.json", Path(tmp) / "result.json"
        spec_file.write_text(json.dumps(spec))
        start = time.perf_counter()
        subprocess.run([str(pb_python), str(HERE / "promptbench_worker.py"), str(spec_file), str(result_file)],
                       check=True)  # fmt: skip
        pb_process_s = time.perf_counter() - start
        pb = json.loads(result_file.read_text())

    ours_inputs = format_inputs(loaded.tokenizer, [prompt.format(data.sentences[i]) for i in rows])
    same_inputs = sum(a == b for a, b in zip(ours_inputs, pb["model_inputs"], strict=True))
    report = _report(ours, pb["runs"], len(rows))
    print(report["text"])
    print(f"model inputs identical on both sides for {same_inputs}/{len(rows)} rows; torch threads: ours "
          f"{torch.get_num_threads()}, promptbench {pb['torch_threads']}; promptbench process "
          f"{pb_process_s:.0f} s incl. {pb['import_seconds']:.0f} s imports; "
          f"venv install {'already there' if install_s is None else f'{install_s:.0f} s'}")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({
            "model": model, "dataset": args.dataset, "prompt": prompt.name, "rows": list(rows),
            "ours": ours, "promptbench": pb["runs"], "identical_model_inputs": same_inputs,
            "promptbench_process_seconds": pb_process_s, "promptbench_import_seconds": pb["import_seconds"],
            "install_seconds": install_s, "load_average": os.getloadavg(), **report["data"],
        }, indent=2) + "\n")  # fmt: skip
    return 0


def _report(ours: list[dict[str, Any]], pb: list[dict[str, Any]], n: int) -> dict[str, Any]:
    def fmt(side: str, r: dict[str, Any]) -> str:
        queries = r.get("queries", "-")  # PromptBench has no memo: every query is an evaluation
        return (f"{r['attack']:<12} {side:<12} {r['seed']:>4} {r['seconds']:>8.1f} {r['evaluations']:>6} {queries:>7} "
                f"{r['seconds'] / r['evaluations']:>8.3f} {r['clean_accuracy']:>6.3f} {r['attacked_accuracy']:>6.3f}  "
                f"{json.dumps(r['attacked_prompt'])}")  # fmt: skip

    lines = ["", f"{'attack':<12} {'side':<12} {'seed':>4} {'wall s':>8} {'evals':>6} {'queries':>7} "
                 f"{'s/eval':>8} {'clean':>6} {'attckd':>6}  attacked prompt"]  # fmt: skip
    ratios: dict[str, dict[str, float]] = {}
    for attack in ("stresstest", "deepwordbug"):
        a = [r for r in ours if r["attack"] == attack]
        b = [r for r in pb if r["attack"] == attack]
        lines += [fmt("promptbench", r) for r in b] + [fmt("ours", r) for r in a]
        wall = statistics.mean(r["seconds"] for r in b) / statistics.mean(r["seconds"] for r in a)
        per_eval = (sum(r["seconds"] for r in b) / sum(r["evaluations"] for r in b)) / (
            sum(r["seconds"] for r in a) / sum(r["evaluations"] for r in a)
        )
        ratios[attack] = {"wall": wall, "seconds_per_evaluation": per_eval}

    lines += ["", f"{'ratio (promptbench / ours)':<30} {'wall':>8} {'s/eval':>8}   target >= {SPEED_TARGET:g}x"]
    for attack, r in ratios.items():
        ok = "ok" if min(r.values()) >= SPEED_TARGET else "MISSED"
        lines.append(f"{attack:<30} {r['wall']:>8.1f} {r['seconds_per_evaluation']:>8.1f}   {ok}")

    targets: dict[str, bool] = {f"{a} >= {SPEED_TARGET:g}x faster": min(r.values()) >= SPEED_TARGET
                                for a, r in ratios.items()}  # fmt: skip
    s_ours = next(r for r in ours if r["attack"] == "stresstest")
    s_pb = next(r for r in pb if r["attack"] == "stresstest")
    equal = (
        s_ours["attacked_prompt"] == s_pb["attacked_prompt"]
        and abs(s_ours["attacked_accuracy"] - s_pb["attacked_accuracy"]) < 1e-9
    )
    targets["stresstest equal result"] = equal
    d_ours = [r["attacked_accuracy"] for r in ours if r["attack"] == "deepwordbug"]
    d_pb = [r["attacked_accuracy"] for r in pb if r["attack"] == "deepwordbug"]
    within = all(min(d_ours) <= x <= max(d_ours) for x in d_pb)
    targets["deepwordbug within our seed spread"] = within

    def spread(xs: list[float]) -> str:
        sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
        return f"mean {statistics.mean(xs):.3f}, min {min(xs):.3f}, max {max(xs):.3f}, sd {sd:.3f} ({len(xs)} seeds)"

    clean_agree = sum(
        x == y for x, y in zip(s_ours["clean_predictions"], s_pb["clean_predictions"] or [], strict=False)
    )
    lines += [
        "",
        f"stresstest: attacked prompt {_compare_prompts(s_ours['attacked_prompt'], s_pb['attacked_prompt'])}"
        f", attacked accuracy ours {s_ours['attacked_accuracy']:.3f} vs promptbench {s_pb['attacked_accuracy']:.3f}"
        f"   {'ok' if equal else 'MISSED'}",
        f"deepwordbug attacked accuracy: ours {spread(d_ours)}; promptbench {spread(d_pb)}"
        f"   {'ok' if within else 'MISSED'} (promptbench inside our min-max)",
        f"clean predictions: ours (score mode) and promptbench (generate) agree on {clean_agree}/{n} rows",
    ]
    return {"text": "\n".join(lines), "data": {"ratios": ratios, "targets": targets, "clean_agreement": clean_agree}}


def _compare_prompts(a: str, b: str) -> str:
    if a == b:
        return "same"
    return "DIFFERS (in whitespace only)" if a.split() == b.split() else "DIFFERS"


if __name__ == "__main__":
    sys.exit(main())

"""The GPU check: the CUDA tests, score mode, generation, the attack search and a merge of the default pair on the
GPU, with rows/s and the fraction of the GPU's matrix-product peak, written to bench/results/gpu.json (which
`m3r plan` reads for its GPU column instead of an assumed speed-up).

    make gpu-check                                    # on a CUDA machine: install, build the default family, check
    python bench/gpu_check.py [--models family|stand-in] [--shapes-from FOLDER] [--large 13b|none] [--out FILE]

--models family (the default) uses the default family (`m3r models` builds or finds it); --models stand-in uses
random weights in the shapes of the model folder --shapes-from (its config and tokenizer; no weights needed), for a
machine that cannot get the family: rows/s, FLOP rates and merge times do not depend on the weights' values, but
accuracies and the attacks' search paths do, so the file says which models were used. --large 13b also scores a
random-weight model in Llama-2-13B's shapes (configs/paper-13b.yaml's base) held in GPU memory, the size `m3r plan`
needs for the paper's study.

Each step is recorded as it finishes (a failed step records its error and the next one runs), so a check cut short
keeps what it measured.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from roofline import Shape, matmul_rate, peak_matmul_rate, score_batches, score_flops, sync  # noqa: E402

CUDA_TESTS = ["tests/test_gpu.py", "tests/merges/test_merge_cuda.py", "tests/test_device.py"]
PROMPT = "task_oriented:0"  # configs/default.yaml's prompt
DATASETS = ("sst2", "cola")
BATCH_SIZES = (64, 256)  # the backend's GPU default, and a larger one (--batch-sizes)
DEFAULT_OUT = HERE / "results" / "gpu.json"
STEPS = ("tests", "score", "generate", "attacks", "merge", "study", "large")
# Llama-2-13B's shapes (configs/paper-13b.yaml's base); the vocabulary is the tokenizer's at hand.
LLAMA2_13B = {"hidden_size": 5120, "intermediate_size": 13824, "num_hidden_layers": 40, "num_attention_heads": 40,
              "num_key_value_heads": 40, "max_position_embeddings": 4096}  # fmt: skip


class Check:
    """The results so far, written to `out` after every step."""

    def __init__(self, out: Path, header: dict[str, Any]) -> None:
        self.out = out
        self.data: dict[str, Any] = {**header, "steps": {}}
        self.write()

    def step(self, name: str, fn: Callable[[], Any]) -> Any:
        print(f"== {name}", flush=True)
        start = time.perf_counter()
        try:
            result = fn()
            entry: dict[str, Any] = {"ok": True, "result": result}
        except Exception as exc:  # one failed step must not cost the others
            traceback.print_exc()
            result = None
            entry = {"ok": False, "error": f"{type(exc).__name__}: {str(exc)[:400]}"}
        entry["seconds"] = round(time.perf_counter() - start, 2)
        self.data["steps"][name] = entry
        self.write()
        print(f"   {name}: {'ok' if entry['ok'] else 'FAILED ' + entry['error']} ({entry['seconds']} s)", flush=True)
        return result

    def write(self) -> None:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.out.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=2) + "\n")
        tmp.replace(self.out)


def machine() -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {"python": platform.python_version(), "torch": torch.__version__,
                            "cuda_available": torch.cuda.is_available(), "cpu_count": os.cpu_count()}  # fmt: skip
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1),
                    multiprocessors=props.multi_processor_count, cuda=torch.version.cuda,
                    bf16=torch.cuda.is_bf16_supported())  # fmt: skip
    try:
        import transformers

        info["transformers"] = transformers.__version__
    except ImportError:
        pass
    return info


def run_cuda_tests() -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-m", "pytest", *CUDA_TESTS, "-q", "-p", "no:cacheprovider"],
                          cwd=ROOT, capture_output=True, text=True)  # fmt: skip
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    print("\n".join(lines[-15:]), flush=True)
    return {"returncode": proc.returncode, "summary": lines[-1] if lines else proc.stderr[-400:], "files": CUDA_TESTS}


# --- the models -----------------------------------------------------------------------------------------------------


def family_models() -> dict[str, Path]:
    """The default family's base and experts, built or found by `m3r models`."""
    out = subprocess.run([sys.executable, "-m", "robustness.cli", "models", "--json", "--no-eval"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout  # fmt: skip
    found = json.loads(out)
    return {"base": Path(found["base"]), **{k: Path(v) for k, v in found["experts"].items()}}


def stand_in_models(shapes_from: Path, folder: Path) -> dict[str, Path]:
    """A random-weight base in `shapes_from`'s shapes and two 'experts' (the base plus small noise), float32
    safetensors folders with its tokenizer, as the default family's are."""
    import torch
    from safetensors.torch import load_file, save_file
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(shapes_from)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    paths = {"base": folder / "base", "sst2": folder / "sst2", "cola": folder / "cola"}
    model.save_pretrained(paths["base"])
    weights = load_file(str(paths["base"] / "model.safetensors"))
    for seed, name in enumerate(("sst2", "cola"), start=1):
        gen = torch.Generator().manual_seed(seed)
        moved = {k: (v + 0.002 * torch.randn(v.shape, generator=gen)).contiguous() for k, v in weights.items()}
        paths[name].mkdir(parents=True)
        save_file(moved, str(paths[name] / "model.safetensors"), metadata={"format": "pt"})
        shutil.copy(paths["base"] / "config.json", paths[name] / "config.json")
    for path in paths.values():
        for f in shapes_from.iterdir():
            if f.is_file() and (
                f.name.startswith("tokenizer") or f.name in ("chat_template.jinja", "special_tokens_map.json")
            ):
                shutil.copy(f, path / f.name)
    return paths


def large_stand_in(tokenizer_from: Path) -> Any:
    """A random-weight model in Llama-2-13B's shapes, bf16, built on the GPU, with `tokenizer_from`'s tokenizer."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from robustness.models.load import LoadedModel, load_tokenizer
    from robustness.models.source import resolve_source

    tokenizer = load_tokenizer(tokenizer_from)
    config = LlamaConfig(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, **LLAMA2_13B)
    device = torch.device("cuda:0")
    torch.manual_seed(0)
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)  # built in bf16 on the GPU: no float32 copy of 13B parameters
    try:
        with device:
            model = LlamaForCausalLM(config).eval()
    finally:
        torch.set_default_dtype(default)
    return LoadedModel(model, tokenizer, resolve_source(tokenizer_from), device, torch.bfloat16)


# --- the measurements -----------------------------------------------------------------------------------------------


def score_rates(
    loaded: Any,
    dataset: str,
    data_dir: str | None,
    n: int | None,
    peak: float | None,
    batch_sizes: tuple[int, ...] = BATCH_SIZES,
) -> dict[str, Any]:
    """Score mode on `n` rows (all when None) at each batch size: rows/s, useful TFLOP/s, the matrix products' rate at
    these shapes, and fractions of it and of the device's peak."""
    import torch

    from robustness.data.glue import load_glue
    from robustness.evaluate import evaluator_for, subset_indices
    from robustness.prompts import get_prompt

    data = load_glue(dataset, data_dir=data_dir)
    prompt = get_prompt(dataset, PROMPT, data_dir)
    rows = subset_indices(len(data), n, 0) if n else tuple(range(len(data)))
    shape = Shape.from_config(loaded.model.config)
    parameters = sum(p.numel() for p in loaded.model.parameters())
    out: dict[str, Any] = {"dataset": dataset, "rows": len(rows), "prompt": prompt.name, "parameters": parameters}
    for batch_size in batch_sizes:
        # Warm-up: a whole pass on a separate evaluator (an evaluator memoises the prompts it has seen), so that
        # every batch shape has met the GPU's kernel selection and the allocator before the timed pass.
        evaluator_for(loaded, data, rows, mode="score", batch_size=batch_size)(prompt.text)
        evaluator = evaluator_for(loaded, data, rows, mode="score", batch_size=batch_size)
        sync(loaded.device)
        start = time.perf_counter()
        outcome = evaluator(prompt.text)
        sync(loaded.device)
        seconds = time.perf_counter() - start
        batches = score_batches(loaded, data, rows, prompt, batch_size)
        useful = score_flops(shape, batches.prefix, batches.suffixes)
        shaped = matmul_rate(shape, batches.typical_batch_tokens, max(batches.sizes), loaded.dtype, loaded.device)
        achieved = useful / seconds
        out[f"batch_{batch_size}"] = {
            "seconds": round(seconds, 4),
            "rows_per_s": round(len(rows) / seconds, 1),
            "useful_tflops": round(achieved / 1e12, 4),
            "shape_matmul_tflops": round(shaped / 1e12, 4),
            "fraction_of_shape_matmul": round(achieved / shaped, 3),
            "fraction_of_peak": round(achieved / peak, 4) if peak else None,
            # What `m3r plan` divides by: 2 x all parameters x the tokens that ran (prefix once), per second.
            "plan_tflops": round(2.0 * parameters * batches.real_tokens / seconds / 1e12, 4),
            "padding_share": round(1 - batches.real_tokens / batches.padded_tokens, 3),
            "accuracy": round(outcome.accuracy, 4),
        }
        print(f"   {dataset} batch {batch_size}: {out[f'batch_{batch_size}']}", flush=True)
        del evaluator
        if loaded.device.type == "cuda":
            torch.cuda.empty_cache()
    return out


def generate_rate(
    loaded: Any, dataset: str, data_dir: str | None, n: int, max_new_tokens: int, batch_size: int | None = None
) -> dict[str, Any]:
    from robustness.data.glue import load_glue
    from robustness.evaluate import evaluator_for, subset_indices
    from robustness.prompts import get_prompt

    data = load_glue(dataset, data_dir=data_dir)
    prompt = get_prompt(dataset, PROMPT, data_dir)
    rows = subset_indices(len(data), n, 0)
    # Warm-up: a whole pass on a separate evaluator, as for score mode.
    evaluator_for(loaded, data, rows, mode="generate", max_new_tokens=max_new_tokens, batch_size=batch_size)(
        prompt.text
    )
    evaluator = evaluator_for(loaded, data, rows, mode="generate", max_new_tokens=max_new_tokens, batch_size=batch_size)
    sync(loaded.device)
    start = time.perf_counter()
    outcome = evaluator(prompt.text)
    sync(loaded.device)
    seconds = time.perf_counter() - start
    size = evaluator.backend.batch_size  # type: ignore[attr-defined]
    return {"dataset": dataset, "rows": len(rows), "max_new_tokens": max_new_tokens, "batch_size": size,
            "seconds": round(seconds, 3),
            "rows_per_s": round(len(rows) / seconds, 1), "accuracy": round(outcome.accuracy, 4)}  # fmt: skip


def attack_rates(loaded: Any, dataset: str, data_dir: str | None, n: int) -> dict[str, Any]:
    """StressTest and DeepWordBug (greedy search, seed 0) in score mode on `n` rows: evaluations and rows per second."""
    from robustness.attacks.recipes import run_attack
    from robustness.data.glue import load_glue
    from robustness.evaluate import evaluator_for, subset_indices
    from robustness.prompts import get_prompt

    data = load_glue(dataset, data_dir=data_dir)
    prompt = get_prompt(dataset, PROMPT, data_dir)
    rows = subset_indices(len(data), n, 0)
    out: dict[str, Any] = {"dataset": dataset, "rows": len(rows)}
    for attack in ("stresstest", "deepwordbug"):
        res = run_attack(attack, evaluator_for(loaded, data, rows, mode="score"), prompt.text, seed=0, search="greedy")
        out[attack] = {"seconds": round(res.seconds, 3), "evaluations": res.evaluations, "queries": res.queries,
                       "evaluations_per_s": round(res.evaluations / res.seconds, 2),
                       "rows_per_s": round(res.evaluations * len(rows) / res.seconds, 1),
                       "clean": round(res.clean.accuracy, 4), "attacked": round(res.attacked.accuracy, 4)}  # fmt: skip
        print(f"   {attack}: {out[attack]}", flush=True)
    return out


def merge_check(models: dict[str, Path], work: Path, device: str) -> dict[str, Any]:
    """The default pair merged on the GPU and on the CPU (Task Arithmetic, DARE, both with M3): seconds and the
    largest difference between the two."""
    from safetensors import safe_open

    from merges import merge

    cases = {
        "task_arithmetic": {"method": "task_arithmetic", "parameters": {"scaling": 1.0}},
        "task_arithmetic+m3": {"method": "task_arithmetic", "parameters": {"scaling": 1.0},
                               "m3": {"enabled": True, "alpha": 5.0}},
        "dare_ta+m3": {"method": "dare", "parameters": {"drop_rate": 0.2, "dare_method": "task_arithmetic",
                                                         "scaling": 1.0}, "m3": {"enabled": True, "alpha": 5.0}},
    }  # fmt: skip
    out: dict[str, Any] = {}
    for name, case in cases.items():
        config = {"base_model": str(models["base"]), "models": [str(models["sst2"]), str(models["cola"])],
                  "seed": 0, **case}  # fmt: skip
        seconds, folders = {}, {}
        for where in dict.fromkeys((device, "cpu")):
            folders[where] = work / f"{name}-{where}"
            start = time.perf_counter()
            merge({**config, "device": where}, folders[where], overwrite=True)
            seconds[where] = time.perf_counter() - start
        worst = 0.0
        with safe_open(str(folders[device] / "model.safetensors"), "pt") as a, \
                safe_open(str(folders["cpu"] / "model.safetensors"), "pt") as b:  # fmt: skip
            for key in a.keys():  # noqa: SIM118 (safe_open is not a mapping)
                worst = max(worst, (a.get_tensor(key).float() - b.get_tensor(key).float()).abs().max().item())
        out[name] = {f"{device}_s": round(seconds[device], 2), "cpu_s": round(seconds["cpu"], 2),
                     "max_abs_diff": worst, "equal_within_1e-5": worst <= 1e-5}  # fmt: skip
        print(f"   {name}: {out[name]}", flush=True)
        for folder in folders.values():
            shutil.rmtree(folder, ignore_errors=True)
    return out


def study_check(models: dict[str, Path], work: Path, data_dir: str | None, device: str) -> dict[str, Any]:
    """A small study end to end through `m3r run` on `device` (device and dtype as a user's config leaves them:
    auto): merges, selection, clean scores, StressTest on the plain merge and the chosen candidate, the report."""
    import sqlite3

    from tests.tiny_study import study, write

    if data_dir is None:
        raise RuntimeError("no data root: pass --data-dir or set M3R_DATA_DIR")
    family = {k: str(v) for k, v in models.items()}
    where = "auto" if device == "cuda" else device
    config = study(work / "runs", family, Path(data_dir), name="gpu-check", device=where,
                   eval={"datasets": ["sst2"], "selection_n": 32, "report_n": 64, "agreement_n": 8,
                         "max_new_tokens": 5},
                   attacks=[{"attack": "stresstest", "datasets": ["sst2"], "seeds": [0], "n": 32}])  # fmt: skip
    path = write(work, config, "gpu-check")
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "robustness.cli", "run", path], cwd=ROOT, capture_output=True,
                          text=True)  # fmt: skip
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"m3r run exited {proc.returncode}: {proc.stderr.strip()[-400:]}")
    run_dir = work / "runs" / "gpu-check"
    with sqlite3.connect(run_dir / "results.sqlite") as conn:
        status = dict(conn.execute("SELECT status, COUNT(*) FROM units GROUP BY status").fetchall())
        merges = [json.loads(r)["merge_json"]["device"]
                  for (r,) in conn.execute("SELECT result FROM units WHERE kind = 'merge'")]  # fmt: skip
    report = run_dir / "report" / "report.md"
    return {"seconds": round(seconds, 1), "units": status, "merge_devices": sorted(set(merges)),
            "report_bytes": report.stat().st_size if report.exists() else 0}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", choices=("family", "stand-in"), default="family")
    ap.add_argument("--shapes-from", type=Path, help="--models stand-in: a model folder (config and tokenizer)")
    ap.add_argument("--large", choices=("13b", "none"), default="13b")
    ap.add_argument("--data-dir", help="the data root (default: M3R_DATA_DIR)")
    ap.add_argument("--rows", type=int, help="rows score mode runs per dataset (default: all of its validation split)")
    ap.add_argument("--attack-rows", type=int, default=200, help="rows each attack searches (default 200)")
    ap.add_argument("--only", default=",".join(STEPS), help=f"steps to run, of {','.join(STEPS)} (default: all)")
    ap.add_argument("--batch-sizes", default=",".join(map(str, BATCH_SIZES)), help="score mode's batch sizes")
    ap.add_argument("--device", default="auto", help="auto (the GPU), or cpu to try the script without one")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    if args.models == "stand-in" and args.shapes_from is None:
        ap.error("--models stand-in needs --shapes-from FOLDER (a model folder with config.json and a tokenizer)")
    steps = set(args.only.split(","))
    if steps - set(STEPS):
        ap.error(f"--only: unknown steps {sorted(steps - set(STEPS))}; use {','.join(STEPS)}")
    sizes = tuple(int(x) for x in args.batch_sizes.split(","))
    data_dir = args.data_dir or os.environ.get("M3R_DATA_DIR")

    import torch

    from robustness.models import load_model

    device = torch.device(args.device if args.device != "auto" else "cuda:0" if torch.cuda.is_available() else "cpu")
    if device.type != "cuda" and args.out == DEFAULT_OUT:
        print(f"gpu_check: no CUDA device {'asked for' if args.device != 'auto' else 'here'}: this check is for a GPU "
              f"machine and writes {DEFAULT_OUT.relative_to(ROOT)}, which `m3r plan` reads; to try it on the CPU, "
              "pass --device cpu --out OTHER_FILE", file=sys.stderr)  # fmt: skip
        return 2
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    check = Check(args.out, {"written_by": "bench/gpu_check.py", "started": started, "machine": machine(),
                             "models": args.models, "device": str(device), "steps_asked": sorted(steps)})  # fmt: skip
    if "tests" in steps:
        check.step("cuda_tests", run_cuda_tests)
    dtype = torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
    peak = check.step("peak_matmul", lambda: {"dtype": str(dtype), "tflops": round(peak_matmul_rate(
        dtype, device, size=8192 if device.type == "cuda" else 1024) / 1e12, 2)})  # fmt: skip
    peak_flops = peak["tflops"] * 1e12 if peak else None

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.models == "family":
            models = check.step("models", lambda: _names(family_models()))
        else:
            models = check.step("models", lambda: _names(stand_in_models(args.shapes_from, work / "m")))
        if not models:
            return 1
        paths = {k: Path(v) for k, v in models.items()}
        check.data["model_note"] = ("the default family" if args.models == "family" else
                                    f"random weights in the shapes of {args.shapes_from.name} (stand-ins: accuracies "
                                    "and attack paths mean nothing; rates and merge times do)")  # fmt: skip
        held: dict[str, Any] = {}  # the loaded model of the step running, outside the JSON
        for dataset in DATASETS if steps & {"score", "generate", "attacks"} else ():
            if not check.step(
                f"load_{dataset}", lambda d=dataset: _timed_load(load_model, paths[d], str(device), held)
            ):
                continue
            model = held.pop("model")
            if "score" in steps:
                check.step(
                    f"score_{dataset}",
                    lambda m=model, d=dataset: score_rates(m, d, data_dir, args.rows, peak_flops, sizes),
                )
            if "generate" in steps:
                for size in sizes:
                    check.step(
                        f"generate_{dataset}_batch_{size}",
                        lambda m=model, d=dataset, b=size: generate_rate(m, d, data_dir, 128, 10, b),
                    )
            if "attacks" in steps:
                check.step(
                    f"attacks_{dataset}", lambda m=model, d=dataset: attack_rates(m, d, data_dir, args.attack_rows)
                )
            del model
        if "merge" in steps:
            check.step("merge_default_pair", lambda: merge_check(paths, work, device.type))
        if "study" in steps:
            check.step("study", lambda: study_check(paths, work, data_dir, device.type))
        large = "large" in steps and args.large == "13b" and device.type == "cuda"
        if large and check.step("build_13b_stand_in", lambda: _timed_large(paths["base"], held)):
            model = held.pop("model")
            for dataset in DATASETS:
                check.step(
                    f"score_13b_{dataset}",
                    lambda m=model, d=dataset: score_rates(m, d, data_dir, args.rows, peak_flops, sizes),
                )
            for size in sizes:
                check.step(
                    f"generate_13b_sst2_batch_{size}",
                    lambda m=model, b=size: generate_rate(m, "sst2", data_dir, 128, 10, b),
                )
            del model
    check.data["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    check.write()
    failed = [k for k, v in check.data["steps"].items() if not v["ok"]]
    print(f"wrote {args.out}; failed steps: {', '.join(failed) or 'none'}")
    return 1 if failed else 0


def _names(paths: dict[str, Path]) -> dict[str, str]:
    return {k: str(v) for k, v in paths.items()}


def _timed_load(load: Callable[..., Any], folder: Path, device: str, held: dict[str, Any]) -> dict[str, Any]:
    start = time.perf_counter()
    held["model"] = loaded = load(folder, device=device)
    return {"seconds": round(time.perf_counter() - start, 2), "dtype": str(loaded.dtype), "device": str(loaded.device)}


def _timed_large(tokenizer_from: Path, held: dict[str, Any]) -> dict[str, Any]:
    start = time.perf_counter()
    held["model"] = loaded = large_stand_in(tokenizer_from)
    return {"seconds": round(time.perf_counter() - start, 2),
            "parameters": sum(p.numel() for p in loaded.model.parameters())}  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())

"""m3r merge against mergekit on the default experts: wall time and memory, side by side, in one run.

    .venv/bin/python bench/merge_vs_mergekit/bench.py [--base DIR --models DIR DIR ...] [--repeats N] [--json FILE]

Merges three checkpoints (a base and two fine-tunes of it) with Task Arithmetic and TIES (keep/density 0.5) in
both tools, plus m3r's M3 and global-trimming variants and a minimal streaming safetensors loop as the floor.
Each merge runs as its own process, started as a user would start it (`m3r merge`, `mergekit-yaml`), so start-up
counts; runs are interleaved over the repeats so that machine noise spreads evenly, and the best of the repeats is
compared (median shown too). Memory: private memory (RssAnon from /proc/PID/status, sampled every 10 ms) and
peak RSS (the kernel's maximum resident set, which also counts memory-mapped input files).

mergekit is installed on first use into its own virtual environment beside this file (torch pinned first, so no
CUDA wheels are pulled). Until the suite's real experts exist, the default checkpoints are the built-in base model
and two seeded perturbations of it, written under the work folder; pass --base and --models to use others
(single-file or sharded safetensors folders).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MERGEKIT_VERSION = "0.1.5"
TORCH_VERSION = "2.13.0"
NOISE = 0.002  # std of the seeded perturbations that stand in for fine-tunes
TARGETS = {
    "wall vs mergekit": 0.5,
    "private memory vs minimal loop": 1.3,
    "M3 overhead": 1.05,
    "global vs tensor trimming": 2.0,
}


@dataclass
class Run:
    label: str
    command: list[str]
    out: Path
    walls: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # user + system seconds of the process
    private: list[float] = field(default_factory=list)  # GiB, peak RssAnon
    rss: list[float] = field(default_factory=list)  # GiB, peak RSS

    @property
    def best(self) -> float:
        return min(self.walls)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", type=Path, help="base model folder (default: the built-in base model)")
    parser.add_argument("--models", type=Path, nargs="+", help="fine-tuned model folders (default: 2 perturbations)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each merge (default 3; best one compared)")
    parser.add_argument("--work", type=Path, default=HERE / "work", help="checkpoints, configs and outputs")
    parser.add_argument("--mergekit-venv", type=Path, default=HERE / ".venv-mergekit")
    parser.add_argument("--skip-mergekit", action="store_true", help="only m3r and the minimal loop")
    parser.add_argument("--json", type=Path, help="also write the measurements to this file")
    args = parser.parse_args(argv)

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    base, models = _checkpoints(args.base, args.models, work)
    mergekit = None if args.skip_mergekit else _ensure_mergekit(args.mergekit_venv)
    runs = _runs(base, models, work, mergekit)
    _warm_page_cache([base, *models])

    for repeat in range(args.repeats):
        for run in runs:
            shutil.rmtree(run.out, ignore_errors=True)
            wall, cpu, private, rss = measure(run.command)
            run.walls.append(wall)
            run.cpu.append(cpu)
            run.private.append(private)
            run.rss.append(rss)
            print(
                f"  [{repeat + 1}/{args.repeats}] {run.label:<26} {wall:6.2f} s wall {cpu:6.2f} s cpu "
                f"{private:5.2f} GiB private",
                flush=True,
            )

    report = _report(runs, _parity(runs))
    print(report["text"])
    if args.json:
        args.json.write_text(json.dumps(report["data"], indent=2) + "\n")
    for run in runs:
        shutil.rmtree(run.out, ignore_errors=True)
    return 0


# ------------------------------------------------------------------------------------------- measuring


def measure(command: Sequence[str]) -> tuple[float, float, float, float]:
    """Wall seconds, CPU seconds (user + system), peak private memory (RssAnon, GiB) and peak RSS (GiB) of one
    process run to completion. CPU time says what the work costs when other jobs share the machine."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak_anon = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak_anon
        status = Path(f"/proc/{proc.pid}/status")
        while not done.is_set():
            try:
                for line in status.read_text().splitlines():
                    if line.startswith("RssAnon:"):
                        peak_anon = max(peak_anon, int(line.split()[1]))
            except (FileNotFoundError, ProcessLookupError, ValueError):
                pass
            done.wait(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stderr = proc.stderr.read() if proc.stderr else b""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(command)}\n{stderr.decode()[-3000:]}")
    return wall, usage.ru_utime + usage.ru_stime, peak_anon / 2**20, usage.ru_maxrss / 2**20


# ------------------------------------------------------------------------------------------- setup


def _ensure_mergekit(venv: Path) -> Path:
    exe = venv / "bin" / "mergekit-yaml"
    if exe.exists():
        return exe
    print(f"installing mergekit {MERGEKIT_VERSION} into {venv} (once)", flush=True)
    subprocess.check_call([sys.executable, "-m", "venv", str(venv)])
    pip = str(venv / "bin" / "pip")
    # torch first and pinned: mergekit's own requirement would otherwise resolve to a CUDA build.
    subprocess.check_call([pip, "install", "--quiet", f"torch=={TORCH_VERSION}"])
    subprocess.check_call([pip, "install", "--quiet", f"mergekit=={MERGEKIT_VERSION}"])
    return exe


def _checkpoints(base: Path | None, models: list[Path] | None, work: Path) -> tuple[Path, list[Path]]:
    if base is not None or models is not None:
        if base is None or not models or len(models) < 2:
            raise SystemExit("give --base and at least two --models, or neither")
        return base.resolve(), [m.resolve() for m in models]
    from robustness.models.convert import default_base

    base = default_base()
    return base, [_perturbed(base, work / f"expert-{seed}", seed) for seed in (1, 2)]


def _perturbed(base: Path, out: Path, seed: int) -> Path:
    """base + N(0, NOISE^2) noise from a seeded generator: a stand-in fine-tune with dense, signed deltas."""
    marker = out / "perturbation.json"
    record = {"base": str(base), "seed": seed, "noise_std": NOISE}
    if marker.is_file() and json.loads(marker.read_text()) == record:
        return out
    from merges.synthetic import perturbed_copy

    shutil.rmtree(out, ignore_errors=True)
    perturbed_copy(base, out, seed, NOISE)
    marker.write_text(json.dumps(record))
    return out


def _warm_page_cache(folders: Sequence[Path]) -> None:
    """Read every input once, so the first timed run does not pay for the disk and the others not."""
    for folder in folders:
        for file in folder.glob("*.safetensors"):
            with file.open("rb") as fh:
                while fh.read(1 << 24):
                    pass


def _runs(base: Path, models: list[Path], work: Path, mergekit: Path | None) -> list[Run]:
    configs = work / "configs"
    configs.mkdir(exist_ok=True)
    outputs = work / "out"
    m3r = str(Path(sys.executable).parent / "m3r")
    common = {"base_model": str(base), "models": [str(m) for m in models], "device": "cpu", "dtype": "float32"}
    m3 = {"enabled": True, "alpha": 0.5, "seed": 0}
    ours = {
        "m3r TA": {"method": "task_arithmetic", "parameters": {"scaling": 1.0}},
        "m3r TA + M3": {"method": "task_arithmetic", "parameters": {"scaling": 1.0}, "m3": m3},
        "m3r TIES (tensor)": {"method": "ties", "parameters": {"keep": 0.5, "trim_scope": "tensor"}},
        "m3r TIES (tensor) + M3": {"method": "ties", "parameters": {"keep": 0.5, "trim_scope": "tensor"}, "m3": m3},
        "m3r TIES (global)": {"method": "ties", "parameters": {"keep": 0.5, "trim_scope": "global"}},
    }
    runs = [
        Run(
            "minimal loop TA",
            [sys.executable, str(HERE / "minimal_loop.py"), str(base), *map(str, models), str(outputs / "minimal-ta")],
            outputs / "minimal-ta",
        )
    ]
    for label, method in ours.items():
        slug = label.replace(" ", "-").replace("(", "").replace(")", "").replace("+", "plus").lower()
        config = configs / f"{slug}.yaml"
        config.write_text(json.dumps({**common, **method}))  # JSON is YAML
        runs.append(
            Run(label, [m3r, "merge", str(config), "--out", str(outputs / slug), "--overwrite"], outputs / slug)
        )
    if mergekit is not None:
        for label, method, extra in (
            ("mergekit TA", "task_arithmetic", {}),
            ("mergekit TIES", "ties", {"density": 0.5}),
        ):
            config = configs / f"mergekit-{method}.yaml"
            entries = [{"model": str(m), "parameters": {"weight": 1.0, **extra}} for m in models]
            config.write_text(
                json.dumps({"merge_method": method, "base_model": str(base), "models": entries, "dtype": "float32"})
            )
            out = outputs / f"mergekit-{method}"
            runs.append(Run(label, [str(mergekit), str(config), str(out), "--quiet"], out))
    return runs


# ------------------------------------------------------------------------------------------- reporting


def _parity(runs: list[Run]) -> dict[str, dict[str, float]]:
    """Largest absolute difference, and share of entries that differ, between outputs of the same merge.

    TIES outputs may differ at a handful of entries: task vectors of fp32 checkpoints are quantised, so several
    entries can tie at the k-th magnitude; m3r keeps every tied entry (|d| >= threshold), mergekit keeps the
    first k in its sort order.
    """
    by_label = {r.label: r for r in runs}
    pairs = {
        "m3r TA vs minimal loop": ("m3r TA", "minimal loop TA"),
        "m3r TA vs mergekit TA": ("m3r TA", "mergekit TA"),
        "m3r TIES (tensor) vs mergekit TIES": ("m3r TIES (tensor)", "mergekit TIES"),
    }
    return {
        name: _compare(by_label[a].out, by_label[b].out)
        for name, (a, b) in pairs.items()
        if a in by_label and b in by_label
    }


def _compare(a: Path, b: Path) -> dict[str, float]:
    from safetensors import safe_open

    def handles(folder: Path) -> dict[str, Any]:
        files = sorted(folder.glob("*.safetensors"))
        return {name: h for h in (safe_open(str(f), framework="pt") for f in files) for name in h.keys()}  # noqa: SIM118

    ha, hb = handles(a), handles(b)
    worst, differing, total = 0.0, 0, 0
    for name, h in ha.items():
        if name in hb:
            diff = (h.get_tensor(name).float() - hb[name].get_tensor(name).float()).abs()
            worst = max(worst, float(diff.max()))
            differing += int((diff > 0).sum())
            total += diff.numel()
    return {"max_abs_diff": worst, "differing_fraction": differing / max(total, 1)}


def _report(runs: list[Run], parity: dict[str, dict[str, float]]) -> dict[str, Any]:
    by = {r.label: r for r in runs}
    lines = [
        "",
        f"{'run':<26} {'wall s best':>11} {'median':>7} {'cpu s best':>10} {'private GiB':>12} {'peak RSS GiB':>13}",
    ]
    for r in runs:
        lines.append(
            f"{r.label:<26} {r.best:>11.2f} {statistics.median(r.walls):>7.2f} {min(r.cpu):>10.2f} "
            f"{max(r.private):>12.2f} {max(r.rss):>13.2f}"
        )
    ratios: dict[str, tuple[float, float]] = {}

    def ratio(name: str, a: str, b: str, target: str, memory: bool = False) -> None:
        if a in by and b in by:
            x, y = (max(by[a].private), max(by[b].private)) if memory else (by[a].best, by[b].best)
            ratios[name] = (x / y, TARGETS[target])

    ratio("m3r TA / mergekit TA (wall)", "m3r TA", "mergekit TA", "wall vs mergekit")
    ratio("m3r TIES tensor / mergekit TIES (wall)", "m3r TIES (tensor)", "mergekit TIES", "wall vs mergekit")
    ratio("m3r TIES global / mergekit TIES (wall)", "m3r TIES (global)", "mergekit TIES", "wall vs mergekit")
    for label in ("m3r TA", "m3r TIES (tensor)", "m3r TIES (global)"):
        ratio(f"{label} / minimal loop (private)", label, "minimal loop TA", "private memory vs minimal loop", True)
    ratio("m3r TA + M3 / m3r TA (wall)", "m3r TA + M3", "m3r TA", "M3 overhead")
    ratio("m3r TIES + M3 / m3r TIES (wall)", "m3r TIES (tensor) + M3", "m3r TIES (tensor)", "M3 overhead")
    ratio("m3r TIES global / tensor (wall)", "m3r TIES (global)", "m3r TIES (tensor)", "global vs tensor trimming")
    if "mergekit TA" in by:
        for label in ("mergekit TA", "mergekit TIES"):
            ratios[f"{label} / minimal loop (private)"] = (
                max(by[label].private) / max(by["minimal loop TA"].private),
                float("nan"),
            )
    lines += ["", f"{'ratio':<48} {'measured':>9} {'target':>8}"]
    for name, (value, target) in ratios.items():
        verdict = "" if target != target else ("  ok" if value <= target else "  MISSED")
        shown = "" if target != target else f"<= {target:g}"
        lines.append(f"{name:<48} {value:>9.2f} {shown:>8}{verdict}")
    if parity:
        lines += [
            "",
            "outputs that compute the same merge (TIES: ties at the threshold are kept by m3r, cut by mergekit):",
        ]
        lines += [
            f"  {name:<40} max {v['max_abs_diff']:.3g}, {v['differing_fraction']:.2e} of entries differ"
            for name, v in parity.items()
        ]
    data = {
        "runs": {
            r.label: {"walls": r.walls, "cpu": r.cpu, "private_gib": r.private, "peak_rss_gib": r.rss} for r in runs
        },
        "ratios": {name: {"measured": v, "target": t if t == t else None} for name, (v, t) in ratios.items()},
        "parity": parity,
        "note": "wall and cpu: best of the repeats; memory: peak over the repeats",
        "load_average": os.getloadavg(),
    }
    return {"text": "\n".join(lines), "data": data}


if __name__ == "__main__":
    sys.exit(main())

"""The GPU measurement `m3r plan` uses for its GPU column: bench/results/gpu.json, written by bench/gpu_check.py on
a CUDA machine and committed. Without the file the plan keeps its assumed rate (sizing/costs.py).

The file's score-mode steps give, per model size, `plan_tflops`: 2 x all parameters x the tokens that ran (the
shared prefix once) per second, the measure the calibration machine's rates use (Rates.tflops). The plan takes the
rate at the batch size the backend would choose for that size (robustness.batching) and interpolates between
the measured sizes on log scales (clamped at the ends).
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robustness.batching import default_batch
from robustness.errors import UserError
from robustness.experiment.sizing.costs import DEFAULT_GPU_TFLOPS, GPU_ASSUMPTION, Rates

GPU_RESULTS = Path(__file__).resolve().parents[3] / "bench" / "results" / "gpu.json"


@dataclass(frozen=True)
class GpuPoint:
    parameters: float
    tflops: float  # plan TFLOP/s: mean over the datasets measured at this size


@dataclass(frozen=True)
class GpuMeasurement:
    gpu: str
    date: str
    models: str  # "family" or "stand-in"
    points: tuple[GpuPoint, ...]  # by parameters, ascending
    source: str

    def tflops(self, parameters: float) -> float:
        """Plan TFLOP/s at `parameters`: log-log interpolation between the measured sizes, clamped at the ends."""
        pts = self.points
        if parameters <= pts[0].parameters:
            return pts[0].tflops
        if parameters >= pts[-1].parameters:
            return pts[-1].tflops
        for lo, hi in itertools.pairwise(pts):
            if lo.parameters <= parameters <= hi.parameters:
                t = math.log(parameters / lo.parameters) / math.log(hi.parameters / lo.parameters)
                return math.exp(math.log(lo.tflops) + t * math.log(hi.tflops / lo.tflops))
        raise AssertionError("unreachable: the points are sorted")

    def describe(self, parameters: float) -> str:
        sizes = ", ".join(f"{p.tflops:,.0f} TFLOP/s at {p.parameters / 1e9:,.2g}B" for p in self.points)
        weights = "the default family" if self.models == "family" else "random weights in the models' shapes"
        here = self.tflops(parameters)
        return (f"measured on an {self.gpu} by bench/gpu_check.py on {self.date} (score mode, {weights}: {sizes}; "
                f"{here:,.0f} TFLOP/s at this study's size) over the calibration machine's")  # fmt: skip


def read_gpu_results(path: Path = GPU_RESULTS) -> GpuMeasurement | None:
    """The measurement in `path`, or None where there is no such file."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return measurement(data, str(path))
    except (ValueError, KeyError, TypeError) as exc:
        raise UserError(
            f"{path} is not a GPU check's result ({type(exc).__name__}: {str(exc)[:120]}); run bench/gpu_check.py "
            "again to rewrite it, or delete it to plan with the assumed GPU rate"
        ) from None


def measurement(data: dict[str, Any], source: str) -> GpuMeasurement | None:
    """Parse a GPU check's JSON; None when it holds no score-mode step on a CUDA device."""
    if not str(data.get("device", "")).startswith("cuda"):
        return None
    by_size: dict[float, list[float]] = {}
    for name, step in data["steps"].items():
        if not name.startswith("score_") or not step.get("ok"):
            continue
        result = step["result"]
        parameters = float(result["parameters"])
        batch = result.get(f"batch_{default_batch('cuda', parameters)}")
        if batch is None:  # the check ran other batch sizes: take the fastest
            batch = max((v for k, v in result.items() if k.startswith("batch_")), key=lambda v: v["plan_tflops"])
        by_size.setdefault(parameters, []).append(float(batch["plan_tflops"]))
    if not by_size:
        return None
    points = tuple(GpuPoint(p, sum(v) / len(v)) for p, v in sorted(by_size.items()))
    return GpuMeasurement(
        gpu=str(data["machine"].get("gpu", "unknown GPU")),
        date=str(data.get("started", "?"))[:10],
        models=str(data.get("models", "?")),
        points=points,
        source=source,
    )


def gpu_speedup(rates: Rates, parameters: float, given: float | None,
                gpu_results: Path | None = None) -> tuple[float, str, str]:  # fmt: skip
    """The GPU's speed-up at running the model, where it comes from ("given", "measured" or "assumed"), and why."""
    if given is not None:
        return given, "given", "as given with --device-speedup"
    found = read_gpu_results(gpu_results or GPU_RESULTS)
    if found is not None:
        why = f"{found.describe(parameters)} {rates.tflops:.3f} TFLOP/s (--device-speedup sets the factor)"
        return found.tflops(parameters) / rates.tflops, "measured", why
    why = (
        f"an assumed {DEFAULT_GPU_TFLOPS:g} TFLOP/s effective ({GPU_ASSUMPTION}) over the calibration machine's "
        f"measured {rates.tflops:.3f} TFLOP/s; not measured on a GPU: run bench/gpu_check.py on one "
        "(--device-speedup sets the factor)"
    )
    return DEFAULT_GPU_TFLOPS / rates.tflops, "assumed", why

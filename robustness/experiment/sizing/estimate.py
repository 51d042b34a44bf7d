"""Sizing a study before it runs (`m3r plan`): its units by kind, the device-hours they hold and the wall time on N
workers. The plan is expanded as the runner expands it, without data, checkpoints or models: nothing is loaded,
downloaded or written (the family config and, when a local data root holds it, the prompt are read).

- Units: phase one exactly; phase two as the runner plans it, for one selected M3 candidate per (pair, method)
  (the first candidate stands in for the one selection will choose: every candidate costs the same).
- Cost: each unit's work (costs.py) times its kind's rate, divided by the device speed-up for the kinds that run the
  model; one model load per job below.
- Wall time: list scheduling (schedule.py) of the units grouped as the Ray executor hands them out: a model's units
  go to one worker in a row, after one load; a reference's report rows follow its selection rows; a (pair,
  method)'s selection runs on the driver once its candidates' and the references' selection scores are done, and
  its chosen candidate's phase two after it. Plain merges' phase two is queued with their merge, as on Ray.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robustness.experiment.kinds.base import Unit
from robustness.experiment.kinds.registry import plan_order
from robustness.experiment.planning.models import REFERENCE, ModelSpec, candidate_models, plain_model_id
from robustness.experiment.planning.plan import phase_one, phase_two
from robustness.experiment.planning.rows import stand_in_rows
from robustness.experiment.sizing.costs import (
    GPU_BYTES_PER_PARAMETER,
    GPU_DISK_BYTES_PER_S,
    LOAD_SECONDS_PER_PARAMETER,
    ModelSize,
    Rates,
    model_parameters,
    prompt_words,
)
from robustness.experiment.sizing.gpu_results import gpu_speedup
from robustness.experiment.sizing.schedule import Job, total_seconds, wall_time
from robustness.experiment.sizing.work import QUESTION_TOKENS, Work
from robustness.experiment.spec.config import ExperimentConfig


@dataclass(frozen=True)
class Planned:
    """The study's units: phase one, and phase two with the first candidate of each (pair, method) as the chosen."""

    first: list[Unit]
    second: list[Unit]

    def counts(self) -> dict[str, dict[str, int]]:
        """Units by kind: phase 1, phase 2 and all."""
        one, two = Counter(u.stored_as for u in self.first), Counter(u.stored_as for u in self.second)
        kinds = plan_order()
        return {
            "phase_1": {k: one[k] for k in kinds},
            "phase_2": {k: two[k] for k in kinds},
            "all": {k: one[k] + two[k] for k in kinds},
        }


def plan_units(cfg: ExperimentConfig) -> Planned:
    """Every unit the runner plans for `cfg`. Row indices and checkpoint identities stand in for the real ones (they
    change keys, not how many units there are or what they hold)."""
    e = cfg.eval
    rows = {d: stand_in_rows(e.selection_n, e.report_n, e.measure_n or 0) for d in e.datasets}
    identities = {"base": "base", **{name: name for pair in cfg.pairs for name in pair}}
    first = phase_one(cfg, rows, identities)
    chosen: dict[str, ModelSpec] = {}
    for candidate in candidate_models(cfg):
        chosen.setdefault(plain_model_id(candidate.pair, candidate.label), candidate)
    return Planned(first, phase_two(cfg, rows, chosen, identities))


@dataclass(frozen=True)
class Jobs:
    """The study's jobs in the order the Ray executor queues them, and how many of them load a model."""

    jobs: list[Job]
    loads: int


def study_jobs(planned: Planned, cost: Callable[[Unit], float], load: float) -> Jobs:
    """The units grouped into jobs as the Ray executor runs them (see the module's docstring), in its order."""
    groups: dict[str, list[Unit]] = {}  # job name -> its units, in plan order
    after: dict[str, tuple[str, ...]] = {}
    job_of: dict[str, str] = {}  # unit key -> its job
    model_of = {u.key: u.model.model_id for u in [*planned.first, *planned.second] if u.model is not None}
    for unit in planned.first:
        if unit.model is not None:
            name = unit.model.model_id + (" (selection rows)" if unit.model.pair == REFERENCE else "")
            groups.setdefault(name, []).append(unit)
            job_of[unit.key] = name
    first_jobs = list(groups)
    report_parts: list[str] = []
    second_jobs: list[str] = []
    replay_jobs: dict[str, list[str]] = {}  # a target's replays: one job after its sources' jobs and its own
    for unit in planned.second:
        assert unit.model is not None
        model = unit.model
        elsewhere = [k for k in unit.kind.needs(unit) if model_of.get(k) != model.model_id]  # a measurement: its own
        if elsewhere:  # a replay: after the jobs of the other models' units it needs
            name = f"{model.model_id} (transfer)"
            own = [n for n in (f"{model.model_id} (report rows)", f"{model.model_id} (phase 2)", model.model_id)
                   if n in groups]  # fmt: skip
            replay_jobs.setdefault(name, own[:1])
            replay_jobs[name] += [job_of[k] for k in elsewhere]
        elif model.pair == REFERENCE:
            name, first_part = f"{model.model_id} (report rows)", f"{model.model_id} (selection rows)"
            after[name] = (first_part,) if first_part in groups else ()
            report_parts += [] if name in groups else [name]
        elif model.m3:
            name = f"{model.model_id} (phase 2)"
            after[name] = (f"select {plain_model_id(model.pair, model.label)}",)
            second_jobs += [] if name in groups else [name]
        else:
            name = model.model_id
        groups.setdefault(name, []).append(unit)
        job_of[unit.key] = name
    order = [n for n in report_parts if not after[n]]  # references without selection rows: first, as planned
    for name in first_jobs:
        order.append(name)
        if name.endswith("(selection rows)"):
            order += [n for n in report_parts if after[n] == (name,)]
    jobs: list[Job] = []
    loads = 0
    for name in order:
        units = groups[name]
        # A job loads its model unless it only merges, or continues a reference on the worker that scored its
        # selection rows.
        loading = any(u.kind.runs_model for u in units) and not after.get(name)
        loads += int(loading)
        jobs.append(Job(name, sum(cost(u) for u in units) + (load if loading else 0.0), after.get(name, ())))
    for unit in planned.first:
        if not unit.kind.on_model:  # a selection, on the driver once the units it needs are stored
            needs = dict.fromkeys(job_of[k] for k in unit.kind.needs(unit))
            jobs.append(Job(f"select {unit.label}", cost(unit), tuple(needs), driver=True))
    for name in second_jobs:
        loads += 1  # a chosen candidate's phase two: its worker has moved on to other models since
        jobs.append(Job(name, sum(cost(u) for u in groups[name]) + load, after[name]))
    for name, sources in replay_jobs.items():
        loads += 1  # its target is loaded again once its sources are stored
        jobs.append(Job(name, sum(cost(u) for u in groups[name]) + load, tuple(dict.fromkeys(sources))))
    return Jobs(jobs, loads)


@dataclass(frozen=True)
class Device:
    """A worker as the estimate sees it, against the calibration machine: `speedup` at running the model; merges and
    loads at `disk` bytes per second with `bytes_per_parameter` (None: the calibration machine's measured rates)."""

    speedup: float = 1.0
    disk: float | None = None
    bytes_per_parameter: float = GPU_BYTES_PER_PARAMETER


HERE = Device()


def gpu(speedup: float) -> Device:
    """The assumed GPU worker: `speedup` at running the model, its merge arithmetic free, weights read and written
    at `GPU_DISK_BYTES_PER_S` in bf16."""
    return Device(speedup, GPU_DISK_BYTES_PER_S)


@dataclass(frozen=True)
class Scenario:
    """The study on one kind of worker."""

    device: Device
    device_seconds: float  # all jobs' seconds summed (selections on the driver included, a fraction of a second)
    critical_path: float  # the wall time with as many workers as the jobs can use
    wall: dict[int, float]  # workers -> wall seconds


def unit_cost(rates: Rates, work: Work, device: Device) -> Callable[[Unit], float]:
    """A unit's seconds on `device`."""

    def cost(unit: Unit) -> float:
        amount = unit.kind.work(unit.inputs, work)
        if unit.kind.disk_bound and device.disk is not None:  # parameters x checkpoints, as bytes moved
            return amount * device.bytes_per_parameter / device.disk
        seconds = rates.seconds[unit.stored_as] * amount
        return seconds / device.speedup if unit.kind.runs_model else seconds

    return cost


def load_seconds(work: Work, device: Device) -> float:
    """One model load: reading every weight (not sped up by running the model faster)."""
    if device.disk is not None:
        return work.parameters * device.bytes_per_parameter / device.disk
    return work.parameters * LOAD_SECONDS_PER_PARAMETER


def scenario(planned: Planned, rates: Rates, work: Work, device: Device, workers: Sequence[int]) -> Scenario:
    jobs = study_jobs(planned, unit_cost(rates, work, device), load_seconds(work, device)).jobs
    return Scenario(
        device=device,
        device_seconds=total_seconds(jobs),
        critical_path=wall_time(jobs, None),
        wall={n: wall_time(jobs, n) for n in workers},
    )


@dataclass(frozen=True)
class StudyEstimate:
    """What `m3r plan` prints: the units, and the study's cost here and on the assumed GPU."""

    name: str
    counts: dict[str, dict[str, int]]
    loads: int
    size: ModelSize
    rates: Rates
    here: Scenario
    gpu: Scenario
    gpu_origin: str  # where the GPU's speed-up comes from: "measured", "assumed" or "given"
    assumptions: list[str]

    def as_json(self) -> dict[str, Any]:
        hours = 3600.0
        scenarios = {"calibration_machine": self.here, "gpu": self.gpu}
        return {
            "study": self.name,
            "parameters": self.size.parameters,
            "units": self.counts,
            "model_loads": self.loads,
            "device_speedup": self.gpu.device.speedup,
            "device_speedup_origin": self.gpu_origin,
            "device_hours": {k: s.device_seconds / hours for k, s in scenarios.items()},
            "wall_hours": {k: {str(n): w / hours for n, w in s.wall.items()} for k, s in scenarios.items()},
            "critical_path_hours": {k: s.critical_path / hours for k, s in scenarios.items()},
            "rates": {
                "source": self.rates.source,
                "seconds_per_work": dict(self.rates.seconds),
                "load_seconds_per_parameter": LOAD_SECONDS_PER_PARAMETER,
                "calibration_tflops": self.rates.tflops,
            },
            "assumptions": self.assumptions,
        }


def estimate_study(cfg: ExperimentConfig, rates: Rates, workers: Sequence[int], speedup: float | None = None,
                   parameters: float | None = None, gpu_results: Path | None = None) -> StudyEstimate:  # fmt: skip
    """Units, device-hours and wall time of `cfg` on the calibration machine and on a GPU `speedup` times faster at
    running the model (default: the GPU check's measured rate at this model size, bench/results/gpu.json or
    `gpu_results`, over the calibration machine's; without that file `DEFAULT_GPU_TFLOPS` over it)."""
    size = model_parameters(cfg, parameters)
    words, words_origin = prompt_words(cfg)
    work = Work(size.parameters, words, cfg.eval.max_new_tokens)
    planned = plan_units(cfg)
    factor, origin, why = gpu_speedup(rates, size.parameters, speedup, gpu_results)
    return StudyEstimate(
        name=cfg.name,
        counts=planned.counts(),
        loads=study_jobs(planned, unit_cost(rates, work, HERE), 0.0).loads,
        size=size,
        rates=rates,
        here=scenario(planned, rates, work, HERE, workers),
        gpu=scenario(planned, rates, work, gpu(factor), workers),
        gpu_origin=origin,
        assumptions=assumptions(cfg, size, (words, words_origin), rates, factor, why),
    )


def assumptions(cfg: ExperimentConfig, size: ModelSize, words: tuple[dict[str, int], str], rates: Rates,
                speedup: float, why: str) -> list[str]:  # fmt: skip
    """The estimate's assumptions, one sentence each, as `m3r plan` prints them."""
    prompt = ", ".join(f"{d} {words[0][d]}" for d in cfg.eval.datasets)
    lb = cfg.livebench
    notes = [
        "phase 2 as the runner plans it: for one selected M3 candidate per (pair, method), beside the plain merges "
        "and the references",
        f"model size: {size.label} parameters ({size.origin})",
        f"cost ~ parameters x tokens run (clean, attack, LiveBench), parameters x checkpoints read and written "
        f"(merges), parameters (a model load); rates per kind from {rates.source}",
        "tokens per row: the SmolLM2 tokenizer's counts with prompt task_oriented:0, assumed for every tokenizer and "
        "prompt (a row's own tokens; the prefix all rows share once per evaluation)",
        f"attacks: the most prompt evaluations their search makes (filtered or repeated candidates make fewer), "
        f"with {prompt} modifiable prompt words ({words[1]})",
        f"GPU: units that run the model are {speedup:,.0f}x faster than on the calibration machine: {why}",
        f"GPU: merges and model loads are bound by reading and writing weights: their arithmetic on the GPU taken as "
        f"free, weights in bf16 ({GPU_BYTES_PER_PARAMETER:g} bytes a parameter) read and written at "
        f"{GPU_DISK_BYTES_PER_S / 1e9:g} GB/s (a local NVMe disk)",
        "GPU: decoding (LiveBench answers, agreement rows) is bound by memory bandwidth rather than arithmetic and "
        "may take longer than this",
        "wall time: list scheduling of the units grouped per model as the Ray executor hands them out (one worker "
        "and one load per model); Ray's start-up and a cluster's file transfers are not counted",
    ]
    if lb.tasks:
        notes.append(f"LiveBench: every task holds at least n = {lb.n} questions, each answered with "
                     f"{QUESTION_TOKENS} prompt tokens and all {lb.max_new_tokens} new tokens")  # fmt: skip
    return notes + list(rates.notes)

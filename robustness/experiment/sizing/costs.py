"""What one unit costs, for `m3r plan`: its work (experiment/sizing/work.py, as each kind counts it) times a rate
per kind measured on a finished run. Pure arithmetic, plus reading a finished run's store for the rates.

A model load costs parameters x `LOAD_SECONDS_PER_PARAMETER`. Rates are seconds per work unit on the machine that
ran the calibration run; a GPU's speed-up applies to the kinds that run the model (clean, attack, livebench), not
to merges and loads, which read and write every weight.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError

from robustness.errors import UserError
from robustness.experiment.kinds import clean
from robustness.experiment.kinds.base import Inputs
from robustness.experiment.kinds.registry import kind_of, kinds, parse_inputs, plan_order
from robustness.experiment.sizing.work import PROMPT_WORDS, Work
from robustness.experiment.spec.config import ExperimentConfig

# Loading a model: the built-in SmolLM2-135M (134.5M parameters, float32 safetensors) loaded in 0.18-0.39 s on the
# calibration machine (4 loads, files in the page cache), 2026-12-02.
LOAD_SECONDS_PER_PARAMETER = 0.3 / 134_515_008
# The GPU the estimate assumes: what a forward pass of a 13B model in bf16, batches of 64 short rows, may sustain.
DEFAULT_GPU_TFLOPS = 250.0
GPU_ASSUMPTION = "an H100's 989 TFLOP/s bf16 dense peak at about 25% utilisation; an A100 (312 peak) gives about 80"
# On the GPU machine merges and loads are taken to be bound by the disk: weights in bf16, read and written at 2 GB/s.
GPU_BYTES_PER_PARAMETER = 2.0
GPU_DISK_BYTES_PER_S = 2e9
DEFAULT_FAMILY_BASE = "smollm2-135m-instruct"
KNOWN_PARAMETERS = {DEFAULT_FAMILY_BASE: 134_515_008}  # the built-in base (the default family's)


@dataclass(frozen=True)
class Rates:
    """Seconds per work unit, by kind, on the machine that ran `source`."""

    seconds: Mapping[str, float]
    source: str
    notes: tuple[str, ...] = ()

    @property
    def tflops(self) -> float:
        """This machine's effective throughput on clean units, in TFLOP/s (a forward pass: 2 FLOPs per token and
        parameter)."""
        return 2.0 / self.seconds[clean.KIND.stored_as] / 1e12


# The built-in rates: each kind's `builtin_rate` (experiment/kinds/), measured on a 2-core x86-64 CPU (float32, 2
# threads), SmolLM2-135M-Instruct, from the 102 units of configs/default.yaml's run of 2026-12-02 (51 min; the
# machine also ran the slow test suite for the run's first 16 minutes, so these are on the slow side): fit_rates on
# its store, with the token counts above. Per group of units (clean and attack units per dataset and attack) the fit
# is within 17%; a Task Arithmetic merge takes 0.4x the merge rate here and a TIES merge 1.6x (global trimming is
# arithmetic on the CPU). Selections take well under a second: their rate is mostly the store's start times, which
# are to the second. `m3r plan --calibrate RUN_DIR` fits the rates on another finished run.
BUILTIN_SOURCE = "the built-in rates (configs/default.yaml's run on a 2-core CPU, 2026-12-02)"


def builtin_rates() -> Rates:
    rates: dict[str, float] = {}
    for kind in kinds():
        rates.setdefault(kind.stored_as, kind.builtin_rate)
    return Rates({k: rates[k] for k in plan_order()}, BUILTIN_SOURCE)


@dataclass(frozen=True)
class Timed:
    """A finished unit as a calibration reads it: its kind, its inputs and how long it ran."""

    kind: str
    inputs: Inputs
    seconds: float


def fit_rates(units: Iterable[Timed], work: Work, source: str, fallback: Rates | None = None) -> Rates:
    """Seconds per work unit for each kind: the kind's seconds summed over its work summed (a kind with no timed
    unit keeps `fallback`'s rate, and a note says so)."""
    fallback = fallback or builtin_rates()
    names = plan_order()
    seconds: dict[str, float] = dict.fromkeys(names, 0.0)
    amount: dict[str, float] = dict.fromkeys(names, 0.0)
    for unit in units:
        seconds[unit.kind] += unit.seconds
        amount[unit.kind] += kind_of(unit.inputs).work(unit.inputs, work)
    rates, notes = {}, []
    for kind in names:
        if amount[kind] > 0 and seconds[kind] > 0:
            rates[kind] = seconds[kind] / amount[kind]
        else:
            rates[kind] = fallback.seconds[kind]
            notes.append(f"{kind}: no timed unit in {source}; the rate of {fallback.source} is used")
    return Rates(rates, source, tuple(notes))


def timed_units(run_dir: str | Path) -> tuple[list[Timed], ExperimentConfig]:
    """A finished run's timed units (done, with a start time) and its config, read-only from its store. Start times
    are stored to the second, so a unit's time may be up to 1 s long: it matters only for the shortest units."""
    from robustness.store.sqlite import Store

    with Store.open_readonly(run_dir) as store:
        try:
            config = ExperimentConfig.model_validate(store.config())
        except ValidationError as exc:
            raise UserError(f"its stored config is not one this suite version reads ({exc.error_count()} "
                            "problems); calibrate on a run of this version") from None  # fmt: skip
        rows = store.timings()
    out = []
    for kind, inputs, started, finished in rows:
        if kind not in plan_order() or started is None:
            continue
        seconds = (parse_time(finished) - parse_time(started)).total_seconds()
        parsed = parse_inputs(kind, inputs)
        out.append(Timed(kind, parsed, max(seconds, 0.0)))
    return out, config


def parse_time(text: str) -> datetime:
    """The store's UTC times: `2026-12-02T15:24:38Z` (starts, to the second) or with milliseconds and +00:00."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def calibrate(run_dir: str | Path) -> Rates:
    """Rates measured on a finished run's units (`m3r plan --calibrate RUN_DIR`)."""
    try:
        units, config = timed_units(run_dir)
    except UserError as exc:
        raise UserError(f"--calibrate {run_dir}: {exc}") from None
    if not units:
        raise UserError(f"--calibrate {run_dir}: its store holds no finished unit with a start time; give a run "
                        "folder that `m3r run` has run (some units at least)")  # fmt: skip
    notes: tuple[str, ...] = ()
    try:
        size = model_parameters(config)
    except UserError as exc:  # a family config named relative to where that run was started
        if config.models.family != "default":
            raise UserError(f"--calibrate {run_dir}: {exc}") from None
        size = ModelSize(KNOWN_PARAMETERS[DEFAULT_FAMILY_BASE], "the default family's base")
        notes = (f"--calibrate {run_dir}: its models.family_config cannot be read here, so its models are taken "
                 f"to be the default family's ({DEFAULT_FAMILY_BASE})",)  # fmt: skip
    work = Work(size.parameters, prompt_words(config)[0], config.eval.max_new_tokens)
    rates = fit_rates(units, work, f"{run_dir} ({len(units)} units, {size.parameters / 1e6:.1f}M parameters)")
    return Rates(rates.seconds, rates.source, notes + rates.notes)


@dataclass(frozen=True)
class ModelSize:
    parameters: float
    origin: str  # how it was found, for the output

    @property
    def label(self) -> str:
        """`13B`, `135M`: the size as people write it."""
        p = self.parameters
        return f"{p / 1e9:.3g}B" if p >= 1e9 else f"{p / 1e6:.3g}M"


SIZE_IN_NAME = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)([bm])(?![a-z])", re.IGNORECASE)


def model_parameters(cfg: ExperimentConfig, given: float | None = None) -> ModelSize:
    """The base model's parameter count: `given`, the built-in base's, a local folder's config.json (Llama-style
    shapes), or the size its name states (`Llama-2-13b-hf`: 13e9). Reads no weights and nothing from the network."""
    if given is not None:
        return ModelSize(given, "given with --params")
    if cfg.models.family == "default":
        from robustness.experts.recipe import load_family_config

        try:
            ref = load_family_config(cfg.models.family_config).base
        except UserError as exc:
            raise UserError(f"models.family_config: {exc}") from None
        key = "models.family_config base" if cfg.models.family_config else "the default family's base"
    else:
        ref, key = cfg.models.base or "", "models.base"
    if ref in KNOWN_PARAMETERS:
        return ModelSize(KNOWN_PARAMETERS[ref], f"{key} {ref!r}, the built-in model")
    counted = parameters_from_config(Path(ref).expanduser() / "config.json")
    if counted is not None:
        return ModelSize(counted, f"{key} {ref!r}: counted from its config.json")
    found = SIZE_IN_NAME.findall(Path(ref).name)
    if found:
        number, unit = found[-1]
        return ModelSize(float(number) * (1e9 if unit.lower() == "b" else 1e6), f"{key} {ref!r}: the size in its name")
    raise UserError(
        f"{key}: cannot tell how many parameters {ref!r} has (not a local folder with a config.json, no size such as "
        "13b in its name); give it with --params, e.g. --params 13e9"
    )


def parameters_from_config(file: Path) -> float | None:
    """Parameters of a decoder-only transformer with Llama's shapes from its config.json, or None."""
    try:
        c = json.loads(file.read_text())
        keys = ("hidden_size", "num_hidden_layers", "intermediate_size", "vocab_size")
        hidden, layers, inner, vocab = (int(c[k]) for k in keys)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    heads = int(c.get("num_attention_heads") or 1)
    kv = hidden // heads * int(c.get("num_key_value_heads") or heads)
    per_layer = 2 * hidden * hidden + 2 * hidden * kv + 3 * hidden * inner + 2 * hidden
    embeddings = vocab * hidden * (1 if c.get("tie_word_embeddings") else 2)
    return float(layers * per_layer + embeddings + hidden)


def prompt_words(cfg: ExperimentConfig) -> tuple[dict[str, int], str]:
    """Modifiable words of the study's prompt per dataset, and where they come from: the prompt as the local data
    root holds it, else `PROMPT_WORDS` (prompt task_oriented:0's)."""
    from robustness.attacks.constraints import modifiable_indices
    from robustness.attacks.text import PromptText
    from robustness.prompts import get_prompt

    out, read = dict(PROMPT_WORDS), 0
    for dataset in cfg.eval.datasets:
        try:
            text = get_prompt(dataset, cfg.eval.prompt, cfg.data_dir).text
        except UserError:
            continue
        out[dataset], read = len(modifiable_indices(PromptText(text), dataset)), read + 1
    origin = f"prompt {cfg.eval.prompt} as the data root holds it" if read else "prompt task_oriented:0's, assumed"
    return out, origin

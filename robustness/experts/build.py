"""Build (or find in the cache) the default family: base, SST-2 expert, CoLA expert, and their clean scores."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import torch

from robustness.data.glue import GlueSplit, load_glue
from robustness.evaluate import evaluate_clean, subset_indices
from robustness.experts.examples import balanced_rows, build_examples, data_digest, prompt_slot
from robustness.experts.recipe import ExpertRecipe, FamilyConfig, LoraRecipe, TopLayersRecipe
from robustness.experts.top_layers import train_top_layers
from robustness.experts.train import train_lora
from robustness.models import load_model
from robustness.models.backend import HFBackend
from robustness.models.chat import format_inputs
from robustness.models.convert import RECORD, default_base, save_safetensors, sha256_file
from robustness.models.load import LoadedModel
from robustness.models.source import resolve_source
from robustness.paths import cache_dir
from robustness.prompts import get_prompt, load_prompts
from robustness.stats import metric_interval

RECIPE_FILE = "recipe.json"


@dataclass
class Family:
    base: Path
    experts: dict[str, Path]
    built: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    scores: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "base": str(self.base),
            "experts": {k: str(v) for k, v in self.experts.items()},
            "scores": self.scores,
            "built": self.built,
            "seconds": {k: round(v, 1) for k, v in self.seconds.items()},
        }


def resolve_base(config: FamilyConfig) -> Path:
    """The base as a safetensors folder: the built-in default is converted into the cache once."""
    if config.base == "smollm2-135m-instruct":
        return default_base()
    src = resolve_source(config.base)
    if src.kind != "safetensors":
        raise ValueError(f"base {config.base!r} must be a safetensors folder; convert it first with 'm3r convert'")
    return Path(src.location)


def model_digest(folder: Path) -> str:
    """Identity of a model folder's weights: its conversion record's source hash, else a hash of its files."""
    record = folder / RECORD
    if record.is_file():
        sha = json.loads(record.read_text()).get("source_sha256")
        if sha:
            return str(sha)
    h = hashlib.sha256()
    for f in sorted(folder.glob("*.safetensors")):
        h.update(sha256_file(f).encode())
    return h.hexdigest()


def build_family(config: FamilyConfig, rebuild: bool = False, evaluate: bool = True) -> Family:
    t0 = time.perf_counter()
    base = resolve_base(config)
    base_digest = model_digest(base)
    family = Family(base=base, experts={})
    family.seconds["base"] = time.perf_counter() - t0
    for name, recipe in config.experts.items():
        t0 = time.perf_counter()
        path, built = build_expert(recipe, base, base_digest, config, rebuild)
        family.experts[name] = path
        if built:
            family.built.append(name)
        family.seconds[name] = time.perf_counter() - t0
    if evaluate:
        t0 = time.perf_counter()
        family.scores = clean_scores(family, config, base_digest)
        family.seconds["scores"] = time.perf_counter() - t0
    return family


def build_expert(
    recipe: ExpertRecipe, base: Path, base_digest: str, config: FamilyConfig, rebuild: bool = False
) -> tuple[Path, bool]:
    """The expert's folder in the cache, trained first if it is missing. Returns (path, whether it was built)."""
    data = load_glue(recipe.task, "train", config.data_dir)
    rows = balanced_rows(data, recipe.train_rows + recipe.holdout_rows, recipe.seed)
    prompts = [p for p in load_prompts(recipe.task, config.data_dir) if p.name != recipe.eval_prompt]
    digest = data_digest(data, rows, prompts)
    key = recipe.key(base_digest, digest)
    out = cache_dir() / "models" / "experts" / f"{recipe.task}-{key}"
    if (out / RECIPE_FILE).is_file() and not rebuild:
        return out, False
    loaded = load_model(base, device=config.device, dtype="float32")
    label = f"{recipe.task} expert"
    if isinstance(recipe, LoraRecipe):
        examples = build_examples(loaded.tokenizer, data, rows, prompts, recipe.max_length, recipe.rows_per_prompt)
        merged, log = train_lora(loaded.model, examples, recipe, loaded.tokenizer.pad_token_id, label)
        training: dict[str, Any] = {"train_seconds": round(log.seconds, 1), "losses": log.losses}
    else:
        merged, training = _train_top_layers(loaded, data, rows, prompts, recipe, label)
    merged = merged.to("cpu")
    record = {
        "recipe": recipe.model_dump(mode="json"),
        "key": key,
        "base": str(base),
        "base_sha256": base_digest,
        "data": {"origin": data.origin, "rows": len(rows), "sha256_16": digest, "seed": recipe.seed},
        "training_prompts": [p.name for p in prompts],
        "device": str(loaded.device),
        **training,
    }
    plain = LoadedModel(merged, loaded.tokenizer, loaded.source, torch.device("cpu"), torch.float32)
    save_safetensors(plain, out, records={RECIPE_FILE: record})
    return out, True


def _train_top_layers(
    loaded: LoadedModel, data: GlueSplit, rows: list[int], prompts: list[Any], recipe: TopLayersRecipe, label: str
) -> tuple[Any, dict[str, Any]]:
    """The top-layer trainer on the first `train_rows` rows, its checkpoint chosen on the rest (held out)."""
    parts = []
    for part in (rows[: recipe.train_rows], rows[recipe.train_rows :]):
        examples = build_examples(loaded.tokenizer, data, part, prompts, recipe.max_length, recipe.rows_per_prompt)
        slots = [prompt_slot(k, recipe.rows_per_prompt, len(prompts)) for k in range(len(part))]
        parts.append((examples, slots, [data.labels[i] for i in part]))
    model, log = train_top_layers(loaded.model, loaded.tokenizer, parts[0], parts[1], recipe, label)
    return model, {
        "train_seconds": round(log.seconds, 1),
        "cache_seconds": round(log.cache_seconds, 1),
        "losses": log.losses,
        "holdout": log.holdout,
        "best_step": log.best_step,
    }


def clean_scores(family: Family, config: FamilyConfig, base_digest: str) -> dict[str, dict[str, dict[str, Any]]]:
    """Each model's clean score on each task's held-out prompt and dev rows (cached by everything they depend on)."""
    models = {"base": family.base, **family.experts}
    prompts = {
        task: (config.experts[task].eval_prompt if task in config.experts else "task_oriented:0")
        for task in config.eval_n
    }
    key_payload = {
        "base": base_digest,
        "experts": {k: v.name for k, v in family.experts.items()},
        "eval_n": config.eval_n,
        "eval_seed": config.eval_seed,
        "prompts": prompts,
        "fields": 2,  # 2: intervals and the share of rows predicted as label 1
    }
    key = hashlib.sha256(json.dumps(key_payload, sort_keys=True).encode()).hexdigest()[:12]
    cache = cache_dir() / "models" / "experts" / f"scores-{key}.json"
    if cache.is_file():
        cached: dict[str, dict[str, dict[str, Any]]] = json.loads(cache.read_text())
        return cached
    scores: dict[str, dict[str, dict[str, Any]]] = {}
    for name, path in models.items():
        loaded = load_model(path, device=config.device)
        backend = HFBackend(loaded)
        scores[name] = {}
        for task, n in config.eval_n.items():
            data = load_glue(task, "validation", config.data_dir)
            indices = subset_indices(len(data), min(n, len(data)), config.eval_seed)  # at most the split
            prompt = get_prompt(task, prompts[task], config.data_dir)
            result = evaluate_clean(backend, data, prompt, partial(format_inputs, loaded.tokenizer), indices)
            low, high = metric_interval(result.metric_name, result.labels, result.predictions, seed=config.eval_seed)
            scores[name][task] = {
                "metric_name": result.metric_name,
                "metric": round(result.metric, 4),
                "ci95": [round(low, 4), round(high, 4)],  # percentile bootstrap over the rows
                "predicted_1": round(sum(result.predictions) / len(result.predictions), 4),
                "accuracy": round(result.accuracy, 4),
                "n": len(indices),
                "prompt": prompt.name,
            }
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    tmp.write_text(json.dumps(scores, indent=2))
    tmp.rename(cache)
    return scores

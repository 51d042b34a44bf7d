"""End to end on the default base model (135M parameters): a merge loads with AutoModelForCausalLM and generates,
and the streaming merge stays in bounded private memory. The experts are the base plus small seeded noise
(merges.synthetic), so the test needs no trained expert."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

from merges import merge
from merges.synthetic import perturbed_copy

pytestmark = pytest.mark.slow

GiB = 2**30


@pytest.fixture(scope="module")
def experts(base_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("default-experts")
    return [perturbed_copy(base_model_dir, root / f"expert-{seed}", seed, std=0.001) for seed in (1, 2)]


def test_merged_default_experts_load_and_generate(base_model_dir: Path, experts: list[Path], tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    config = {
        "base_model": str(base_model_dir),
        "models": [str(e) for e in experts],
        "method": "ties",
        "parameters": {"keep": 0.5, "trim_scope": "global"},
        "m3": {"enabled": True, "alpha": 0.5, "seed": 0},
    }
    out = tmp_path / "merged"
    result = merge(config, out)
    assert {"config.json", "tokenizer.json", "merge.json"} <= set(result.record["files"])

    tokenizer = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out).eval()
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        generated = model.generate(**inputs, max_new_tokens=8, do_sample=False)
    new_tokens = generated[0, inputs["input_ids"].shape[1] :]
    assert new_tokens.numel() > 0
    assert tokenizer.decode(new_tokens, skip_special_tokens=True).strip()


def test_streaming_merge_stays_in_bounded_private_memory(
    base_model_dir: Path, experts: list[Path], tmp_path: Path
) -> None:
    """Global TIES over 135M parameters: holding the two task vectors alone would take 1 GiB of private memory."""
    config = tmp_path / "merge.json"  # JSON is YAML
    config.write_text(
        json.dumps(
            {
                "base_model": str(base_model_dir),
                "models": [str(e) for e in experts],
                "method": "ties",
                "parameters": {"keep": 0.5, "trim_scope": "global"},
            }
        )
    )
    argv = ["merge", str(config), "--out", str(tmp_path / "out")]
    code = f"from robustness.cli import main; raise SystemExit(main({argv!r}))"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stderr=subprocess.PIPE, text=True)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            try:
                for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                    if line.startswith("RssAnon:"):
                        peak = max(peak, int(line.split()[1]) * 1024)
            except (FileNotFoundError, ValueError):
                pass
            done.wait(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, stderr = proc.communicate(timeout=600)
    done.set()
    sampler.join()
    assert proc.returncode == 0, stderr
    model_bytes = (base_model_dir / "model.safetensors").stat().st_size
    assert peak < 0.6 * GiB < 2 * model_bytes, f"peak private memory {peak / GiB:.2f} GiB"

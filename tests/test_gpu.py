"""CUDA code paths: device auto-selection, the dtype policy, loading onto the GPU, batched scoring there.

Skipped on machines without CUDA (CI); run on a GPU box with `pytest tests/test_gpu.py`.
"""

from pathlib import Path

import pytest
import torch

from robustness.models import load_model, resolve_device, resolve_dtype
from robustness.models.backend import HFBackend, default_batch_size
from tests.tiny import save_tiny

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

PROMPTS = [
    "Is the following sentence positive or negative? a dull mess.",
    "the cat sat on the mat.",
    "Is this sentence acceptable or unacceptable? Question: a gorgeous, witty, seductive movie. Answer:",
]
WORDS = ["positive", "negative"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny(tmp_path_factory.mktemp("gpu") / "m", "sharded", hidden=128, layers=4)


def test_auto_device_and_dtype() -> None:
    device = resolve_device("auto")
    assert device == torch.device("cuda:0")
    expected = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    assert resolve_dtype("auto", device) is expected
    assert default_batch_size(device) == 64
    assert default_batch_size(device, 134_515_008) == 256  # a small model: bound by per-kernel overhead
    assert default_batch_size(device, 13_000_000_000) == 64


def test_loads_onto_the_gpu_in_the_policy_dtype(folder: Path) -> None:
    loaded = load_model(folder)
    assert loaded.device.type == "cuda"
    assert all(p.device.type == "cuda" for p in loaded.model.parameters())
    assert {p.dtype for p in loaded.model.parameters()} == {loaded.dtype}
    assert loaded.dtype in (torch.bfloat16, torch.float16)


def test_gpu_scores_match_the_cpu(folder: Path) -> None:
    cpu = HFBackend(load_model(folder, device="cpu")).score(PROMPTS, WORDS)
    gpu32 = HFBackend(load_model(folder, device="cuda", dtype="float32"), batch_size=2).score(PROMPTS, WORDS)
    gpu16 = HFBackend(load_model(folder)).score(PROMPTS, WORDS)
    assert gpu32.device.type == "cpu"
    assert torch.allclose(gpu32, cpu, atol=1e-3), (gpu32 - cpu).abs().max()
    assert torch.allclose(gpu16, cpu, atol=5e-2), (gpu16 - cpu).abs().max()


def test_packed_scores_on_the_gpu_match_the_padded_pass(folder: Path) -> None:
    """The packed forward pass (robustness/models/packed.py) on CUDA, in float32 and in the policy dtype."""
    shared = "Is the following sentence positive or negative? Sentence: "
    texts = [shared + p for p in PROMPTS]
    for dtype, atol in (("float32", 1e-4), ("auto", 5e-2)):
        loaded = load_model(folder, device="cuda", dtype=dtype)
        packed, padded = HFBackend(loaded, batch_size=2), HFBackend(loaded, batch_size=2, pack=False)
        assert packed.pack and not padded.pack
        got, expected = packed.score(texts, WORDS), padded.score(texts, WORDS)
        assert torch.allclose(got, expected, atol=atol), (dtype, (got - expected).abs().max())


def test_gpu_batched_generation_matches_single(folder: Path) -> None:
    loaded = load_model(folder, device="cuda", dtype="float32")
    batched = HFBackend(loaded, batch_size=3).generate(PROMPTS, max_new_tokens=5)
    single = [HFBackend(loaded, batch_size=1).generate([p], max_new_tokens=5)[0] for p in PROMPTS]
    assert batched == single

"""bench/roofline.py's FLOP accounting against what torch counts when the backend scores (the roofline benches'
ratios are only as right as this count)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from robustness.models.backend import HFBackend
from robustness.models.load import LoadedModel
from robustness.models.source import ModelSource
from tests.tiny import tiny_llama, tiny_tokenizer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from roofline import Shape, plan_batches, score_flops

LINEAR_OPS = ("mm", "addmm", "bmm")  # nn.Linear; attention is scaled_dot_product_attention, counted apart


def _backend(batch_size: int, pack: bool = True) -> HFBackend:
    tokenizer = tiny_tokenizer()
    tokenizer.padding_side = "left"
    tokenizer.pad_token = tokenizer.eos_token
    model = tiny_llama(len(tokenizer), hidden=32).eval()
    source = ModelSource("tiny", "tiny", "safetensors")
    loaded = LoadedModel(model, tokenizer, source, torch.device("cpu"), torch.float32)
    return HFBackend(loaded, batch_size, pack=pack)


def _linear_flops(counter: FlopCounterMode) -> int:
    counts = counter.get_flop_counts()["Global"]
    return sum(n for op, n in counts.items() if str(op).split(".")[1] in LINEAR_OPS)


@pytest.mark.parametrize("pack", [True, False])
def test_the_matrix_flops_of_a_score_call_are_counted_as_torch_counts_them(pack: bool) -> None:
    backend = _backend(batch_size=2, pack=pack)
    assert backend.pack is pack
    shared = "Is the following sentence positive or negative? Answer with one word. Sentence: "
    texts = [shared + s for s in ("a fine film", "dull", "a gorgeous, witty, seductive movie", "bad")]
    tokens = [list(t) for t in backend.loaded.tokenizer(texts, add_special_tokens=False)["input_ids"]]
    batches = plan_batches(tokens, 2, HFBackend.MIN_PREFIX, packed=pack)
    assert batches.prefix >= HFBackend.MIN_PREFIX and batches.sizes == (2, 2)
    shape = Shape.from_config(backend.loaded.model.config)
    with FlopCounterMode(display=False) as counter:
        backend.score(texts, ["positive", "negative"])
    # What runs: the prefix once, every suffix (padded unless packed), the vocabulary projection at each scored
    # position.
    ran = 2 * shape.layer_matrix_parameters * batches.padded_tokens + shape.head_flops * (1 + len(texts))
    assert _linear_flops(counter) == ran
    # The useful count leaves the padding out and adds attention; packed batches run no padding.
    useful = score_flops(shape, batches.prefix, batches.suffixes)
    attention = useful - 2 * shape.layer_matrix_parameters * batches.real_tokens - shape.head_flops * (1 + len(texts))
    assert attention > 0
    assert (batches.padded_tokens == batches.real_tokens) if pack else (batches.padded_tokens > batches.real_tokens)


def test_shape_from_a_config_counts_every_layer_matrix() -> None:
    model = tiny_llama(100, hidden=32, layers=3)
    shape = Shape.from_config(model.config)
    matrices = sum(p.numel() for n, p in model.named_parameters() if n.startswith("model.layers.") and p.dim() == 2)
    assert shape.layer_matrix_parameters == matrices

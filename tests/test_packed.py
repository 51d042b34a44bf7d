"""Score mode's packed forward pass (robustness/models/packed.py) against the model's own left-padded pass."""

from pathlib import Path
from typing import Any

import pytest
import torch

from robustness.data.glue import load_glue
from robustness.evaluate import subset_indices
from robustness.models import load_model
from robustness.models.backend import HFBackend
from robustness.models.chat import format_inputs
from robustness.models.load import LoadedModel
from robustness.models.packed import packable
from robustness.models.source import ModelSource
from robustness.prompts import get_prompt, label_words
from tests.tiny import tiny_llama


def _tiny(tokenizer: Any) -> LoadedModel:
    model = tiny_llama(len(tokenizer), hidden=48, layers=3)
    return LoadedModel(model, tokenizer, ModelSource("tiny", "tiny", "safetensors"), torch.device("cpu"), torch.float32)


PREFIX = "Classify the sentiment of the sentence as positive or negative. Sentence: "
ENDINGS = ["ok", "a gorgeous, witty film", "x", "a long and winding sentence that goes on for many more tokens", "no"]


@pytest.mark.parametrize("reuse_prefix", [True, False])
@pytest.mark.parametrize("batch_size", [1, 2, 5])
def test_packed_scores_equal_the_padded_pass(base_tokenizer: Any, reuse_prefix: bool, batch_size: int) -> None:
    tiny = _tiny(base_tokenizer)
    texts = [PREFIX + e + " Answer:" for e in ENDINGS]
    packed = HFBackend(tiny, batch_size=batch_size, reuse_prefix=reuse_prefix)
    padded = HFBackend(tiny, batch_size=batch_size, reuse_prefix=reuse_prefix, pack=False)
    assert packed.pack and not padded.pack
    got, expected = packed.score(texts, ["positive", "negative"]), padded.score(texts, ["positive", "negative"])
    assert torch.allclose(got, expected, atol=1e-5), (got - expected).abs().max()


def test_a_row_of_one_token_after_the_prefix(base_tokenizer: Any) -> None:
    tiny = _tiny(base_tokenizer)
    ids = [list(x) for x in base_tokenizer([PREFIX + "a", PREFIX + "b c d e"], add_special_tokens=False)["input_ids"]]
    texts = [base_tokenizer.decode(i) for i in ids]
    got = HFBackend(tiny, batch_size=2).score(texts, ["positive", "negative"])
    expected = HFBackend(tiny, batch_size=2, pack=False).score(texts, ["positive", "negative"])
    assert torch.allclose(got, expected, atol=1e-5)


def test_other_architectures_and_sliding_windows_run_padded(base_tokenizer: Any) -> None:
    assert packable(_tiny(base_tokenizer).model)
    sliced = _tiny(base_tokenizer)
    sliced.model.config.pretraining_tp = 2
    assert not packable(sliced.model)
    windowed = _tiny(base_tokenizer)
    windowed.model.config.sliding_window = 16
    assert not packable(windowed.model) and not HFBackend(windowed).pack
    gpt2 = type("Config", (), {"model_type": "gpt2"})()
    assert not packable(type("Model", (), {"config": gpt2})())


@pytest.mark.parametrize("dataset", ["sst2", "cola"])
def test_packed_predictions_equal_the_padded_pass_on_the_default_model(base_model_dir: Path, dataset: str) -> None:
    """The real SmolLM2 weights, the default prompt, 96 validation rows: identical predictions, log-probabilities
    within 1e-4."""
    loaded = load_model(base_model_dir, device="cpu")
    data = load_glue(dataset)
    prompt = get_prompt(dataset, "task_oriented:0")
    rows = subset_indices(len(data), 96, 0)
    texts = format_inputs(loaded.tokenizer, [prompt.format(data.sentences[i]) for i in rows])
    words = list(label_words(dataset))
    got = HFBackend(loaded, batch_size=16).score(texts, words)
    expected = HFBackend(loaded, batch_size=16, pack=False).score(texts, words)
    assert torch.equal(got.argmax(-1), expected.argmax(-1))
    assert (got - expected).abs().max() < 1e-4

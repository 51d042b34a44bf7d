"""The batched scorer against a direct, unbatched transformers computation, on a tiny random Llama."""

import inspect
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from robustness.models.backend import HFBackend, label_token_ids
from robustness.models.load import LoadedModel
from robustness.models.source import ModelSource


@pytest.fixture(scope="module")
def tiny(base_tokenizer: Any) -> LoadedModel:
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(base_tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        pad_token_id=base_tokenizer.pad_token_id,
    )
    model = LlamaForCausalLM(config).eval()
    src = ModelSource("tiny", "tiny", "safetensors")
    return LoadedModel(model, base_tokenizer, src, torch.device("cpu"), torch.float32)


TEXTS = [
    "Is this positive or negative? Question: a gorgeous film. Answer:",
    "Short one:",
    "A much longer input that needs many more tokens than the others so the batch is padded a lot. Answer:",
]


def _direct(model: Any, tokenizer: Any, text: str, label_words: list[str]) -> list[float]:
    ids = tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logprobs = torch.log_softmax(model(input_ids=ids).logits[0, -1].float(), dim=-1)
    return [torch.logsumexp(logprobs[label_token_ids(tokenizer, w)], dim=0).item() for w in label_words]


def test_batched_left_padded_scores_equal_unpadded_passes(tiny: LoadedModel) -> None:
    words = ["positive", "negative"]
    batched = HFBackend(tiny, batch_size=3).score(TEXTS, words)
    expected = torch.tensor([_direct(tiny.model, tiny.tokenizer, t, words) for t in TEXTS])
    assert batched.shape == (3, 2)
    assert torch.allclose(batched, expected, atol=1e-5), (batched - expected).abs().max()
    # Batch boundaries must not change a score either.
    assert torch.allclose(HFBackend(tiny, batch_size=2).score(TEXTS, words), expected, atol=1e-5)


def test_label_variants_cover_space_and_case(base_tokenizer: Any) -> None:
    ids = label_token_ids(base_tokenizer, "acceptable")
    firsts = {base_tokenizer.decode([i]) for i in ids}
    assert {"acceptable", " acceptable", "Accept", " Accept"} <= firsts | {"Acceptable", " Acceptable"}
    assert len(ids) == len(set(ids)) >= 2


def test_labels_sharing_a_first_token_are_refused(tiny: LoadedModel) -> None:
    with pytest.raises(ValueError, match="share a first token"):
        HFBackend(tiny).score(TEXTS, ["positive", "Positive"])


def test_greedy_generation_matches_unbatched(tiny: LoadedModel) -> None:
    backend = HFBackend(tiny, batch_size=3)
    batched = backend.generate(TEXTS, max_new_tokens=4)
    single = [HFBackend(tiny, batch_size=1).generate([t], max_new_tokens=4)[0] for t in TEXTS]
    assert batched == single
    assert all(isinstance(s, str) for s in batched)


def test_tokenizer_is_left_padded_with_a_pad_token(base_model_dir: Path, base_tokenizer: Any) -> None:
    assert base_tokenizer.padding_side == "left"
    assert base_tokenizer.pad_token == "<|im_end|>"


def test_prefix_reuse_equals_plain_scoring(tiny: LoadedModel) -> None:
    from robustness.models.backend import common_prefix

    prompt = "Is the following sentence positive or negative? Answer with one word.\nQuestion: {}\nAnswer:"
    texts = [prompt.format(s) for s in ("good", "a dull, lifeless mess of a film", "fine", "I loved it", "meh")]
    reused = HFBackend(tiny, batch_size=2, reuse_prefix=True)
    plain = HFBackend(tiny, batch_size=2, reuse_prefix=False)
    ids = [tiny.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    assert len(common_prefix(ids)) >= HFBackend.MIN_PREFIX  # the reuse path really runs
    expected = torch.tensor([_direct(tiny.model, tiny.tokenizer, t, ["positive", "negative"]) for t in texts])
    got = reused.score(texts, ["positive", "negative"])
    assert torch.allclose(got, expected, atol=1e-5), (got - expected).abs().max()
    assert torch.allclose(plain.score(texts, ["positive", "negative"]), expected, atol=1e-5)


def test_scoring_and_generation_emit_no_future_warning(tiny: LoadedModel) -> None:
    from robustness.models.backend import common_prefix

    prompt = "Is the following sentence positive or negative? Answer with one word.\nQuestion: {}\nAnswer:"
    texts = [prompt.format(s) for s in ("good", "a dull, lifeless mess of a film", "fine")]
    ids = [tiny.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    assert len(common_prefix(ids)) >= HFBackend.MIN_PREFIX  # the cache is built and passed back in
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # e.g. transformers' deprecated `past_key_values`
        HFBackend(tiny, batch_size=2).score(texts, ["positive", "negative"])
        HFBackend(tiny, batch_size=2).generate(texts, max_new_tokens=3)


def test_the_cache_argument_follows_the_models_signature(tiny: LoadedModel) -> None:
    from robustness.models.kvcache import cache_argument, returned_cache

    class Older(torch.nn.Module):
        def forward(self, input_ids: torch.Tensor, past_key_values: object = None) -> None: ...

    takes_cache = "cache" in inspect.signature(type(tiny.model).forward).parameters
    assert cache_argument(tiny.model) == ("cache" if takes_cache else "past_key_values")
    assert cache_argument(Older()) == "past_key_values"
    out = tiny.model(input_ids=torch.tensor([[1, 2, 3]]), use_cache=True)
    assert returned_cache(out) is not None


def test_common_prefix_leaves_every_row_a_token() -> None:
    from robustness.models.backend import common_prefix

    assert common_prefix([[1, 2, 3], [1, 2, 4], [1, 2, 3, 5]]) == [1, 2]
    assert common_prefix([[1, 2], [1, 2, 3]]) == [1]
    assert common_prefix([[7], [8]]) == []

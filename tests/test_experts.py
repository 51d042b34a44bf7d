"""The expert builder's pieces: recipes, the data slice, the training examples and the collator."""

import warnings
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import torch

from robustness.data.glue import GlueSplit, load_glue
from robustness.errors import UserError
from robustness.experts.examples import Example, balanced_rows, build_examples, data_digest
from robustness.experts.recipe import FamilyConfig, LoraRecipe, load_family_config
from robustness.experts.train import IGNORE, batch_loss, collate, lr_factor, shared_prefix_loss_sum, target_loss
from robustness.prompts import load_prompts
from tests.tiny import tiny_llama


def test_recipe_key_changes_with_every_input() -> None:
    r = LoraRecipe(task="sst2", steps=10)
    k = r.key("base", "data")
    assert k == LoraRecipe(task="sst2", steps=10).key("base", "data")
    assert k != LoraRecipe(task="sst2", steps=11).key("base", "data")
    assert k != LoraRecipe(task="sst2", steps=10, seed=1).key("base", "data")
    assert k != r.key("other-base", "data")
    assert k != r.key("base", "other-data")


def test_family_config_errors_name_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("experts:\n  sst2: {task: sst2, steps: 0}\n")
    with pytest.raises(UserError, match=r"experts\.sst2\.steps: Input should be greater than 0"):
        load_family_config(bad)
    bad.write_text("experts:\n  sst2: {task: sst2, steps: 5, lr: 0.1}\n")
    with pytest.raises(UserError, match=r"experts\.sst2\.lr: Extra inputs are not permitted"):
        load_family_config(bad)
    bad.write_text("experts:\n  cola: {task: sst2, steps: 5}\n")
    with pytest.raises(UserError, match="name each expert after its task"):
        load_family_config(bad)
    with pytest.raises(UserError, match="does not exist"):
        load_family_config(tmp_path / "missing.yaml")


def test_shipped_config_is_the_default() -> None:
    shipped = load_family_config(Path(__file__).parent.parent / "configs" / "models.yaml")
    assert shipped == FamilyConfig()


def test_every_shipped_family_config_is_valid() -> None:
    paths = sorted((Path(__file__).parent.parent / "configs").glob("models*.yaml"))
    assert len(paths) >= 2
    for path in paths:
        assert load_family_config(path).experts, path


def test_balanced_rows_are_balanced_and_seeded() -> None:
    data = GlueSplit("sst2", "train", tuple(f"s{i}" for i in range(100)), tuple([0] * 30 + [1] * 70), "mem")
    rows = balanced_rows(data, 21, seed=3)
    assert len(rows) == len(set(rows)) == 21
    assert sum(data.labels[i] for i in rows) == 11
    assert rows == balanced_rows(data, 21, seed=3)
    assert rows != balanced_rows(data, 21, seed=4)
    assert data_digest(data, rows, []) != data_digest(data, rows[::-1], [])
    labels = [data.labels[i] for i in rows]
    assert all(a != b for a, b in pairwise(labels)), "labels alternate"
    for n in (8, 16):  # every even-sized batch holds both labels equally
        batch = [data.labels[i] for i in balanced_rows(data, 40, seed=n)[:n]]
        assert sum(batch) == n // 2
    with pytest.raises(UserError, match="30 rows of label 0; the recipe needs 40"):
        balanced_rows(data, 80, seed=0)


def test_examples_target_the_label_word_and_end_of_turn(base_tokenizer: Any, data_dir: Path) -> None:
    data = load_glue("cola", "train", data_dir)
    prompts = [p for p in load_prompts("cola", data_dir) if p.name != "task_oriented:0"]
    rows = [0, 1, 2, 3]
    examples = build_examples(base_tokenizer, data, rows, prompts, max_length=192)
    end_id = base_tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert end_id == base_tokenizer.pad_token_id  # the trap: end of turn doubles as padding
    for k, (row, ex) in enumerate(zip(rows, examples, strict=True)):
        prompt = prompts[k]
        source = base_tokenizer.decode(ex.input_ids[: ex.target_start])
        target = base_tokenizer.decode(ex.input_ids[ex.target_start :])
        assert source.endswith("<|im_start|>assistant\n")
        assert data.sentences[row] in source
        assert prompt.text.split("{content}")[0].strip()[:30] in source  # prompts rotate
        word = (
            ("Unacceptable", "Acceptable")[data.labels[row]]
            if k < 9
            else ("unacceptable", "acceptable")[data.labels[row]]
        )
        assert target == word + "<|im_end|>"
        assert ex.input_ids[-1] == end_id


def test_a_batch_shares_one_prompt_and_the_prompts_rotate_by_batch(base_tokenizer: Any, data_dir: Path) -> None:
    data = load_glue("cola", "train", data_dir)
    prompts = [p for p in load_prompts("cola", data_dir) if p.name != "task_oriented:0"][:2]
    examples = build_examples(base_tokenizer, data, list(range(10)), prompts, max_length=192, rows_per_prompt=2)
    heads = [prompts[k].text.split("{content}")[0].strip()[:30] for k in (0, 0, 1, 1, 0, 0, 1, 1, 0, 0)]
    for ex, head in zip(examples, heads, strict=True):
        assert head in base_tokenizer.decode(ex.input_ids[: ex.target_start])


def test_collate_masks_by_position_not_by_pad_id() -> None:
    pad = 7
    batch = [Example((1, 2, 3, 9, pad), 3), Example((4, 5, pad), 2)]
    out = collate(batch, pad_id=pad)
    assert out["input_ids"].tolist() == [[1, 2, 3, 9, pad], [4, 5, pad, pad, pad]]
    assert out["attention_mask"].tolist() == [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]
    # The end-of-turn target (same id as pad) is kept; padding and prompt are ignored.
    assert out["labels"].tolist() == [[IGNORE, IGNORE, IGNORE, 9, pad], [IGNORE, IGNORE, pad, IGNORE, IGNORE]]
    assert out["labels"].dtype == torch.long


def test_target_loss_equals_the_models_own_loss_with_lora() -> None:
    from peft import LoraConfig, get_peft_model

    model = get_peft_model(tiny_llama(vocab_size=50, seed=1), LoraConfig(r=2, target_modules=["q_proj", "v_proj"]))
    batch = collate([Example((3, 4, 5, 6, 7, 8), 4), Example((9, 10, 11, 12), 3), Example((13, 14, 2), 1)], pad_id=2)
    expected = model(**batch).loss
    got = target_loss(model, batch)
    assert torch.allclose(got, expected, atol=1e-6), (got, expected)
    got.backward()  # the gradient reaches the adapters through the decoder and the projection
    grads = [p.grad for n, p in model.named_parameters() if "lora_B" in n]
    assert grads and all(g is not None and g.abs().sum() > 0 for g in grads)


def _grads(model: Any) -> dict[str, torch.Tensor]:
    out = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
    model.zero_grad()
    return out


def test_batch_loss_with_shared_prompts_equals_target_loss_in_value_and_gradient() -> None:
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=2, target_modules=["q_proj", "v_proj", "o_proj"], init_lora_weights=False)
    model = get_peft_model(tiny_llama(vocab_size=50, seed=1), config)
    one, two = list(range(10, 22)), list(range(30, 40))  # two prompts' shared tokens (12 and 10)
    examples = [  # rows differ in length, so each group's per-row part is padded
        Example((*one, 3, 4, 5, 6, 7, 2), 16),
        Example((*one, 9, 10, 2), 14),
        Example((*two, 13, 41, 42, 43, 14, 2, 2), 15),
        Example((*two, 5, 6, 2), 12),
    ]
    expected = target_loss(model, collate(examples, pad_id=2))
    expected.backward()
    want = _grads(model)
    for group in (2, None):  # two prompts of two rows; one group (their shared start is too short to split off)
        with warnings.catch_warnings():
            warnings.simplefilter("error", FutureWarning)  # the prefix's cache goes in under the name the model takes
            got = batch_loss(model, examples, pad_id=2, device=torch.device("cpu"), group=group)
        got.backward()
        grads = _grads(model)
        assert torch.allclose(got, expected, atol=1e-6), (group, got, expected)
        for name, grad in want.items():  # LoRA changes the prefix's keys and values, so its gradient must flow
            assert grad.abs().sum() > 0
            assert torch.allclose(grads[name], grad, atol=1e-5), (group, name)


def test_a_group_without_a_shared_start_takes_the_plain_path() -> None:
    model = tiny_llama(vocab_size=50, seed=1)
    examples = [Example((3, 4, 5, 6, 7, 2), 4), Example((9, 10, 11, 2), 2)]
    total, count = shared_prefix_loss_sum(model, examples, pad_id=2, device=torch.device("cpu"))
    assert count == 4  # 2 + 2 target tokens
    assert torch.allclose(total / count, target_loss(model, collate(examples, pad_id=2)))


def test_recipe_needs_whole_prompt_groups_per_batch() -> None:
    with pytest.raises(ValueError, match="batch_size 12 is not a multiple of rows_per_prompt 8"):
        LoraRecipe(task="cola", steps=1, batch_size=12)
    assert LoraRecipe(task="cola", steps=1, batch_size=32, rows_per_prompt=8).train_rows == 32


def test_lr_schedule() -> None:
    assert [lr_factor(s, 2, 6) for s in range(6)] == [0.5, 1.0, 1.0, 0.75, 0.5, 0.25]


TINY = {"task": "sst2", "steps": 2, "batch_size": 2, "rank": 2, "lora_alpha": 4, "rows_per_prompt": 2}


def _tiny_family(data_dir: Path) -> FamilyConfig:
    return FamilyConfig(experts={"sst2": LoraRecipe(**TINY)}, data_dir=str(data_dir), device="cpu")


def test_same_seed_builds_identical_weights(
    base_model_dir: Path, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from robustness.experts.build import build_family
    from robustness.models.convert import sha256_file

    config = _tiny_family(data_dir)
    hashes = []
    for run in ("a", "b"):
        monkeypatch.setenv("M3R_CACHE_DIR", str(tmp_path / run))
        monkeypatch.setattr("robustness.experts.build.default_base", lambda: base_model_dir)
        family = build_family(config, evaluate=False)
        assert family.built == ["sst2"]
        folder = family.experts["sst2"]
        assert folder.parent == tmp_path / run / "models" / "experts"
        hashes.append(sha256_file(folder / "model.safetensors"))
        record = __import__("json").loads((folder / "recipe.json").read_text())
        assert record["recipe"]["steps"] == 2 and len(record["losses"]) == 2
        assert "task_oriented:0" not in record["training_prompts"] and len(record["training_prompts"]) == 19
        again = build_family(config, evaluate=False)  # cached: nothing is trained the second time
        assert again.built == [] and again.experts == family.experts
    assert hashes[0] == hashes[1]
    # The expert is a full checkpoint with the base's shapes and different weights.
    from safetensors import safe_open

    with (
        safe_open(base_model_dir / "model.safetensors", "pt") as base,
        safe_open(folder / "model.safetensors", "pt") as expert,
    ):
        assert set(base.keys()) == set(expert.keys())
        name = "model.layers.0.self_attn.q_proj.weight"
        assert base.get_tensor(name).shape == expert.get_tensor(name).shape
        assert not torch.equal(base.get_tensor(name), expert.get_tensor(name))
        assert torch.equal(base.get_tensor("model.embed_tokens.weight"), expert.get_tensor("model.embed_tokens.weight"))


def test_first_layer_adapts_only_the_layers_from_it_up(
    base_model_dir: Path, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from safetensors import safe_open

    from robustness.experts.build import build_family

    monkeypatch.setenv("M3R_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr("robustness.experts.build.default_base", lambda: base_model_dir)
    last = int(__import__("json").loads((base_model_dir / "config.json").read_text())["num_hidden_layers"]) - 1
    recipe = LoraRecipe(**{**TINY, "first_layer": last})
    family = build_family(FamilyConfig(experts={"sst2": recipe}, data_dir=str(data_dir), device="cpu"), evaluate=False)
    with (
        safe_open(base_model_dir / "model.safetensors", "pt") as base,
        safe_open(family.experts["sst2"] / "model.safetensors", "pt") as expert,
    ):
        for layer, changed in ((0, False), (last - 1, False), (last, True)):
            name = f"model.layers.{layer}.self_attn.q_proj.weight"
            assert torch.equal(base.get_tensor(name), expert.get_tensor(name)) is not changed, layer
    with pytest.raises(UserError, match=f"first_layer {last + 1}: the base has {last + 1} layers"):
        build_family(
            FamilyConfig(experts={"sst2": LoraRecipe(**{**TINY, "first_layer": last + 1})}, data_dir=str(data_dir)),
            evaluate=False,
            rebuild=True,
        )


def test_interrupted_build_leaves_no_expert(
    base_model_dir: Path, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from robustness.experts import build

    monkeypatch.setenv("M3R_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(build, "default_base", lambda: base_model_dir)

    def interrupted_save(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt  # Ctrl-C while the tokenizer is being written

    monkeypatch.setattr("transformers.PreTrainedTokenizerBase.save_pretrained", interrupted_save)
    with pytest.raises(KeyboardInterrupt):
        build.build_family(_tiny_family(data_dir), evaluate=False)
    experts = tmp_path / "models" / "experts"
    assert list(experts.iterdir()) == [] if experts.exists() else True

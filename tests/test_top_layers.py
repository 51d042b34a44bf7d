"""The top-layer trainer: its split forward pass, its cache and its losses against the model's own forward pass."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from robustness.errors import UserError
from robustness.experts import stack
from robustness.experts.examples import Example
from robustness.experts.recipe import FamilyConfig, LoraRecipe, TopLayersRecipe, load_family_config
from robustness.experts.top_layers import (
    CachedRow,
    TopLayersModel,
    cache_lower,
    epoch_groups,
    prefix_length,
    trainable_parameters,
)
from tests.tiny import tiny_llama

VOCAB = 60
CANDIDATES = [[7, 8], [9]]  # label 0's first-token spellings, label 1's


def _examples() -> tuple[list[Example], list[int], list[int]]:
    """Two prompts (prefixes 10..15 and 20..24), rows of different lengths; targets are a label token + 2."""
    rows = []
    for prompt, start in ((0, [10, 11, 12, 13, 14, 15]), (1, [20, 21, 22, 23, 24])):
        for k, own in enumerate(([30, 31, 32], [33, 34], [35, 36, 37, 38], [39])):
            label = k % 2
            target = [CANDIDATES[label][0], 2]
            ids = start + own + [40] + target
            rows.append((Example(tuple(ids), len(ids) - 2), prompt, label))
    return [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]


def test_split_forward_equals_the_models_own() -> None:
    model = tiny_llama(VOCAB, seed=3, layers=4)
    examples, _, _ = _examples()
    group = examples[:4]
    p = prefix_length(group)
    assert p == 6
    with torch.no_grad():
        prefix = stack.run_prefix(model, stack.embed(model, torch.tensor([group[0].input_ids[:p]])), range(2))
        own = [torch.tensor(e.input_ids[p:]) for e in group]
        padded = torch.nn.utils.rnn.pad_sequence(own, batch_first=True, padding_value=0)
        lower = stack.run_suffix(model, stack.embed(model, padded), range(2), prefix)
        upper_prefix = stack.run_prefix(model, prefix.hidden, range(2, 4))
        logits = stack.final_logits(model, stack.run_suffix(model, lower, range(2, 4), upper_prefix))
        for row, e in enumerate(group):
            out = model(input_ids=torch.tensor([e.input_ids]), output_hidden_states=True)
            n = len(e.input_ids) - p
            assert torch.allclose(logits[row, :n], out.logits[0, p:], atol=1e-5)
            assert torch.allclose(lower[row, :n], out.hidden_states[2][0, p:], atol=1e-5)  # after layers 0 and 1


def test_cache_holds_each_rows_own_tokens_after_the_lower_layers() -> None:
    model = tiny_llama(VOCAB, seed=4, layers=3)
    examples, prompts, labels = _examples()
    cache = cache_lower(model, examples, prompts, labels, first_layer=1)
    assert len(cache.prefixes) == 2 and [r.label for r in cache.rows] == labels
    for e, row in zip(examples, cache.rows, strict=True):
        with torch.no_grad():
            states = model(input_ids=torch.tensor([e.input_ids]), output_hidden_states=True).hidden_states[1][0]
        p = len(e.input_ids) - len(row.ids)
        assert row.ids.tolist() == list(e.input_ids[p:]) and row.target_start == e.target_start - p
        assert torch.allclose(row.hidden, states[p:], atol=1e-5)
        assert torch.allclose(cache.prefixes[row.prompt][0], states[:p], atol=1e-5)


def _reference_loss(model: torch.nn.Module, group: list[Example], labels: list[int]) -> tuple[torch.Tensor, ...]:
    """The same three numbers from the model's plain forward pass, row by row."""
    lm, cls, count = torch.zeros(()), torch.zeros(()), 0
    for e, y in zip(group, labels, strict=True):
        logits = model(input_ids=torch.tensor([e.input_ids])).logits[0]
        targets = torch.tensor(e.input_ids[e.target_start :])
        lm = lm + F.cross_entropy(logits[e.target_start - 1 : -1], targets, reduction="sum")
        count += len(targets)
        first = logits[e.target_start - 1]
        scores = torch.stack([torch.logsumexp(first[c], dim=-1) for c in CANDIDATES])
        cls = cls + F.cross_entropy(scores.unsqueeze(0), torch.tensor([y]), reduction="sum")
    return lm, cls, torch.tensor(count)


def test_losses_and_gradients_equal_a_plain_reference() -> None:
    model = tiny_llama(VOCAB, seed=5, layers=3)
    examples, prompts, labels = _examples()
    cache = cache_lower(model, examples, prompts, labels, first_layer=1)
    params = trainable_parameters(model, 1)
    top = TopLayersModel(model, 1, CANDIDATES)
    prefix, rows = cache.group(range(4, 8))
    lm, cls, count = top.loss_sums(prefix, rows)
    (lm + cls).backward()
    ours = [p.grad.clone() for p in params]  # type: ignore[union-attr]
    model.zero_grad()
    ref_lm, ref_cls, ref_count = _reference_loss(model, examples[4:8], labels[4:8])
    (ref_lm + ref_cls).backward()
    assert count == int(ref_count) == 8
    assert torch.allclose(lm, ref_lm, atol=1e-4) and torch.allclose(cls, ref_cls, atol=1e-5)
    for mine, p in zip(ours, params, strict=True):
        assert torch.allclose(mine, p.grad, atol=1e-5)  # type: ignore[arg-type]
    assert all(p.grad is None for p in model.model.layers[0].parameters())  # frozen below the split


def test_predictions_are_the_higher_label_score() -> None:
    model = tiny_llama(VOCAB, seed=6, layers=2)
    examples, prompts, labels = _examples()
    cache = cache_lower(model, examples, prompts, labels, first_layer=1)
    predicted = TopLayersModel(model, 1, CANDIDATES).predict(cache)
    with torch.no_grad():
        for e, y_hat in zip(examples, predicted, strict=True):
            first = model(input_ids=torch.tensor([e.input_ids])).logits[0, e.target_start - 1]
            scores = [float(torch.logsumexp(first[c], dim=-1)) for c in CANDIDATES]
            assert y_hat == int(np.argmax(scores))


def test_epoch_groups_share_a_prompt_balance_labels_and_cover_every_row_once() -> None:
    rows = [CachedRow(k % 3, torch.zeros(1, 1), torch.zeros(1), 0, (k // 3) % 2) for k in range(60)]
    rng = np.random.default_rng(0)
    first, second = epoch_groups(rows, 4, rng), epoch_groups(rows, 4, rng)
    for groups in (first, second):
        assert sorted(i for g in groups for i in g) == list(range(60))
        for g in groups:
            assert len({rows[i].prompt for i in g}) == 1
            assert abs(sum(rows[i].label for i in g) * 2 - len(g)) <= 1
    assert first != second  # rows regroup every epoch


def _rows_of_lengths(lengths: list[int], prompts: int = 2) -> list[CachedRow]:
    return [
        CachedRow(k % prompts, torch.zeros(n, 1), torch.zeros(n), 0, (k // prompts) % 2) for k, n in enumerate(lengths)
    ]


def _padding(rows: list[CachedRow], groups: list[list[int]]) -> float:
    """Tokens a step runs (each group padded to its longest row) over the rows' real tokens."""
    padded = sum(max(len(rows[i].ids) for i in g) * len(g) for g in groups)
    return padded / sum(len(rows[i].ids) for g in groups for i in g)


def test_length_grouping_keeps_groups_whole_and_balanced_and_cuts_padding() -> None:
    lengths = [int(n) for n in np.random.default_rng(3).integers(3, 40, 160)]
    rows = _rows_of_lengths(lengths)
    rng = np.random.default_rng(0)
    plain = epoch_groups(rows, 8, rng)
    exact, jittered, again = (epoch_groups(rows, 8, rng, j) for j in (0.0, 2.0, 2.0))
    for groups in (exact, jittered, again):
        assert sorted(i for g in groups for i in g) == list(range(160))
        for g in groups:
            assert len({rows[i].prompt for i in g}) == 1
            assert abs(sum(rows[i].label for i in g) * 2 - len(g)) <= 1
    # Exact ordering: a label's rows of one prompt are dealt into groups in order of length, so of any two groups
    # of one prompt, one's rows of a label are all no longer than the other's.
    for label in (0, 1):
        for g in exact:
            for h in exact:
                if g is not h and rows[g[0]].prompt == rows[h[0]].prompt:
                    a = [len(rows[i].ids) for i in g if rows[i].label == label]
                    b = [len(rows[i].ids) for i in h if rows[i].label == label]
                    assert max(a) <= min(b) or max(b) <= min(a)
    assert _padding(rows, exact) < _padding(rows, jittered) < _padding(rows, plain)
    assert _padding(rows, jittered) < 1.25 < _padding(rows, plain)
    assert jittered != again  # the offsets are drawn afresh every epoch, so rows still regroup


def test_settings_added_later_keep_earlier_recipes_keys() -> None:
    """A recipe whose new settings reproduce the earlier behaviour hashes as before those settings existed: the
    float32 autocast and `length_jitter: null` (random groups). Pinned: the keys of earlier caches."""
    recipe = TopLayersRecipe(task="cola", method="top_layers", train_rows=64, epochs=2, length_jitter=None)
    assert recipe.key("base", "data") == "47941893e1b4"
    assert TopLayersRecipe(task="cola", method="top_layers", train_rows=64, epochs=2).key("base", "data") != (
        recipe.key("base", "data")
    )


def test_trainable_parameters_are_the_top_layers_and_final_norm() -> None:
    model = tiny_llama(VOCAB, layers=3)
    params = trainable_parameters(model, 2)
    expected = list(model.model.layers[2].parameters()) + list(model.model.norm.parameters())
    assert [id(p) for p in params] == [id(p) for p in expected]
    assert not any(p.requires_grad for p in model.model.layers[1].parameters())
    for bad in (0, 3):
        with pytest.raises(UserError, match=f"first_layer {bad}: the base has 3 layers"):
            trainable_parameters(model, bad)


def test_recipes_are_told_apart_by_method(tmp_path: Path) -> None:
    config = tmp_path / "family.yaml"
    config.write_text(
        "experts:\n  sst2: {task: sst2, steps: 3}\n"
        "  cola: {task: cola, method: top_layers, train_rows: 64, holdout_rows: 16, epochs: 3, batch_size: 16}\n"
    )
    family = load_family_config(config)
    assert isinstance(family.experts["sst2"], LoraRecipe)
    cola = family.experts["cola"]
    assert isinstance(cola, TopLayersRecipe) and cola.steps == 12 and cola.train_rows == 64
    config.write_text("experts:\n  cola: {task: cola, method: top_layers, train_rows: 64, rank: 4}\n")
    with pytest.raises(UserError, match=r"experts\.cola\.rank: Extra inputs are not permitted"):
        load_family_config(config)
    config.write_text("experts:\n  cola: {task: cola, method: adapters, train_rows: 64}\n")
    with pytest.raises(UserError, match=r"experts\.cola"):
        load_family_config(config)


TINY_TOP = {"task": "cola", "method": "top_layers", "train_rows": 16, "holdout_rows": 8, "epochs": 1}
TINY_TOP |= {"batch_size": 8, "rows_per_prompt": 4, "first_layer": 29, "eval_every": 1}


def test_top_layer_expert_changes_only_the_top_layers_and_rebuilds_identically(
    base_model_dir: Path, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from safetensors import safe_open

    from robustness.experts.build import build_family
    from robustness.models.convert import sha256_file

    config = FamilyConfig(experts={"cola": TopLayersRecipe(**TINY_TOP)}, data_dir=str(data_dir), device="cpu")
    monkeypatch.setattr("robustness.experts.build.default_base", lambda: base_model_dir)
    hashes = []
    for run in ("a", "b"):
        monkeypatch.setenv("M3R_CACHE_DIR", str(tmp_path / run))
        family = build_family(config, evaluate=False)
        folder = family.experts["cola"]
        hashes.append(sha256_file(folder / "model.safetensors"))
        record = json.loads((folder / "recipe.json").read_text())
        assert record["recipe"]["method"] == "top_layers" and len(record["losses"]) == 2
        assert [step for step, _ in record["holdout"]] == [1, 2] and record["best_step"] in (1, 2)
        assert build_family(config, evaluate=False).built == []
    assert hashes[0] == hashes[1]
    with (
        safe_open(base_model_dir / "model.safetensors", "pt") as base,
        safe_open(folder / "model.safetensors", "pt") as expert,
    ):
        assert set(base.keys()) == set(expert.keys())
        for name in ("model.layers.28.mlp.up_proj.weight", "model.embed_tokens.weight"):
            assert torch.equal(base.get_tensor(name), expert.get_tensor(name)), name
        for name in ("model.layers.29.mlp.up_proj.weight", "model.layers.29.self_attn.q_proj.weight"):
            assert not torch.equal(base.get_tensor(name), expert.get_tensor(name)), name

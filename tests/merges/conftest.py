"""Tiny Llama checkpoints for the merge tests, built once per session (a base and three experts of it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.merges.reference import save_expert, save_tiny_llama


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """`base`, experts `e1`..`e3` (base + noise; e1 keeps one tensor equal to the base), and `wide1`/`wide2`
    with 1 and 2 extra vocabulary rows."""
    root = tmp_path_factory.mktemp("tiny")
    base = save_tiny_llama(root / "base", seed=0)
    paths = {"base": base}
    for i in (1, 2, 3):
        zero = ("model.layers.0.input_layernorm.weight",) if i == 1 else ()
        paths[f"e{i}"] = save_expert(base, root / f"e{i}", seed=i, zero_delta=zero)
    paths["wide1"] = save_expert(base, root / "wide1", seed=11, extra_rows=1)
    paths["wide2"] = save_expert(base, root / "wide2", seed=12, extra_rows=2)
    for folder in paths.values():  # `m3r merge` refuses inputs whose merge would have no tokenizer
        (folder / "tokenizer.json").write_text('{"stand-in": "the merge tests load no tokenizer"}\n')
    return paths


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> int:
    """Cut tensors into odd-sized pieces so piece boundaries fall inside rows and inside tensors."""
    import merges.stream

    monkeypatch.setattr(merges.stream, "CHUNK", 777)
    return 777

"""Every method x {plain, M3} x {K=2, K=3} x {global, per-block lambdas} against the dense reference."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from merges import merge
from tests.merges.reference import dense_merge, load_state_dict, max_abs_diff, merge_tiny

TOLERANCE = 1e-6

METHODS: list[tuple[str, dict[str, Any]]] = [
    ("average", {}),
    ("task_arithmetic", {"scaling": 0.7}),
    ("ties", {"keep": 0.5, "trim_scope": "tensor", "scaling": 0.9}),
    ("ties", {"keep": 0.7, "trim_scope": "global"}),
    ("dare", {"drop_rate": 0.3, "dare_method": "average"}),
    ("dare", {"drop_rate": 0.2, "dare_method": "task_arithmetic", "scaling": 0.8}),
    ("dare", {"drop_rate": 0.2, "dare_method": "ties", "keep": 0.5, "trim_scope": "tensor"}),
    ("dare", {"drop_rate": 0.4, "dare_method": "ties", "keep": 0.9, "trim_scope": "global", "scaling": 0.5}),
]
M3_MODES = {
    "plain": {"enabled": False},
    "m3-global": {"enabled": True, "alpha": 0.5, "seed": 7},
    "m3-per-block": {"enabled": True, "alpha": 2.0, "seed": 8, "per_block": True},
    "m3-preserve-scale": {"enabled": True, "alpha": 1.0, "seed": 9, "preserve_scale": True},
}


def _ids(item: tuple[str, dict[str, Any]]) -> str:
    method, params = item
    return "-".join([method, *(str(params[k]) for k in ("dare_method", "trim_scope") if k in params)])


@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize("mode", list(M3_MODES))
@pytest.mark.parametrize("method_params", METHODS, ids=[_ids(m) for m in METHODS])
def test_matches_dense_formulas(
    tiny: dict[str, Path],
    tmp_path: Path,
    small_chunks: int,
    method_params: tuple[str, dict[str, Any]],
    mode: str,
    k: int,
) -> None:
    method, params = method_params
    m3 = M3_MODES[mode]
    experts = [tiny[f"e{i}"] for i in range(1, k + 1)]
    _, _, lambdas = merge_tiny(tiny, k, method, params, m3, tmp_path / "out")
    expected = dense_merge(
        load_state_dict(tiny["base"]),
        [load_state_dict(e) for e in experts],
        method,
        params,
        lambdas,
        per_block=bool(m3.get("per_block")),
        preserve_scale=bool(m3.get("preserve_scale")),
        seed=1234,
    )
    got = load_state_dict(tmp_path / "out")
    assert max_abs_diff(got, expected) <= TOLERANCE
    record = json.loads((tmp_path / "out" / "merge.json").read_text())
    assert record["method"] == method
    assert record["m3"]["lambdas"] == (lambdas or {"global": [1.0 / k] * k})


def test_dense_reference_is_not_trivially_equal_across_methods(tiny: dict[str, Path], tmp_path: Path) -> None:
    """Guard against a reference that would pass anything: the methods must really differ on these inputs."""
    outs = {}
    for method, params in METHODS[:4]:
        name = f"{method}-{params.get('trim_scope', '')}"
        config = {"base_model": str(tiny["base"]), "models": [str(tiny["e1"]), str(tiny["e2"])]}
        merge({**config, "method": method, "parameters": params}, tmp_path / name)
        outs[name] = load_state_dict(tmp_path / name)
    names = list(outs)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert max_abs_diff(outs[a], outs[b]) > 1e-3, (a, b)


def test_global_and_tensor_trimming_differ_and_global_keeps_the_top_fraction(
    tiny: dict[str, Path], tmp_path: Path
) -> None:
    """Global trimming keeps exactly floor(keep * N) entries of each task vector over the whole model."""
    config = {
        "base_model": str(tiny["base"]),
        "models": [str(tiny["e1"]), str(tiny["e2"])],
        "method": "ties",
        "parameters": {"keep": 0.3, "trim_scope": "global"},
    }
    result = merge(config, tmp_path / "g")
    base = load_state_dict(tiny["base"])
    for k, expert in enumerate(("e1", "e2")):
        model = load_state_dict(tiny[expert])
        deltas = torch.cat([(model[n] - base[n]).flatten() for n in base])
        tau = result.record["ties"]["global_thresholds"][k]
        assert int((deltas.abs() >= tau).sum()) == int(0.3 * deltas.numel())

"""The identities merging.md requires: DARE p=0 is its base method, M3 at equal lambdas is the plain method,
and the TIES pair rule on a hand-worked example."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from merges import merge
from merges.methods import ties
from tests.merges.reference import load_state_dict, max_abs_diff

BASE_METHODS: list[tuple[str, dict[str, Any]]] = [
    ("average", {}),
    ("task_arithmetic", {"scaling": 0.6}),
    ("ties", {"keep": 0.5, "trim_scope": "tensor"}),
    ("ties", {"keep": 0.7, "trim_scope": "global", "scaling": 0.8}),
]


def _config(tiny: dict[str, Path], k: int, method: str, params: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "base_model": str(tiny["base"]),
        "models": [str(tiny[f"e{i}"]) for i in range(1, k + 1)],
        "method": method,
        "parameters": params,
        **extra,
    }


def _equal(a: Path, b: Path) -> bool:
    sa, sb = load_state_dict(a), load_state_dict(b)
    return sa.keys() == sb.keys() and all(torch.equal(sa[n], sb[n]) for n in sa)


@pytest.mark.parametrize(
    "method,params", BASE_METHODS, ids=[m + "-" + p.get("trim_scope", "") for m, p in BASE_METHODS]
)
@pytest.mark.parametrize("m3", [False, True])
def test_dare_with_zero_drop_rate_is_its_base_method(
    tiny: dict[str, Path], tmp_path: Path, method: str, params: dict[str, Any], m3: bool
) -> None:
    m3_block = {"enabled": True, "alpha": 0.4, "seed": 3} if m3 else {"enabled": False}
    merge(_config(tiny, 2, method, params, m3=m3_block), tmp_path / "plain")
    dare_params = {**params, "drop_rate": 0.0, "dare_method": method}
    merge(_config(tiny, 2, "dare", dare_params, m3=m3_block), tmp_path / "dare")
    assert _equal(tmp_path / "plain", tmp_path / "dare")


@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize(
    "method,params", BASE_METHODS, ids=[m + "-" + p.get("trim_scope", "") for m, p in BASE_METHODS]
)
def test_m3_at_equal_lambdas_is_the_plain_method(
    tiny: dict[str, Path], tmp_path: Path, method: str, params: dict[str, Any], k: int
) -> None:
    """lambda = 0.5 (K=2) or 1/K each: Average, TA with preserve_scale and TIES reproduce the plain method exactly."""
    equal = 0.5 if k == 2 else [1.0 / k] * k
    merge(_config(tiny, k, method, params), tmp_path / "plain")
    m3 = {"enabled": True, "lambda": equal, "preserve_scale": method == "task_arithmetic"}
    merge(_config(tiny, k, method, params, m3=m3), tmp_path / "m3")
    assert _equal(tmp_path / "plain", tmp_path / "m3")


def test_official_task_arithmetic_m3_at_half_is_plain_at_half_scaling(tiny: dict[str, Path], tmp_path: Path) -> None:
    merge(_config(tiny, 2, "task_arithmetic", {"scaling": 0.45}), tmp_path / "plain")
    m3 = {"enabled": True, "lambda": 0.5}
    result = merge(_config(tiny, 2, "task_arithmetic", {"scaling": 0.9}, m3=m3), tmp_path / "m3")
    assert max_abs_diff(load_state_dict(tmp_path / "plain"), load_state_dict(tmp_path / "m3")) <= 1e-7
    assert result.record["task_arithmetic_convention"].startswith("official")
    # ...and it is not plain TA at the same scaling: the official convention halves the task vectors.
    merge(_config(tiny, 2, "task_arithmetic", {"scaling": 0.9}), tmp_path / "plain-same-s")
    assert max_abs_diff(load_state_dict(tmp_path / "plain-same-s"), load_state_dict(tmp_path / "m3")) > 1e-3


def test_ties_pair_rule_hand_worked() -> None:
    """Hand-computed TIES + M3 on five entries (no trimming): both agree -> lambda mix; one agrees -> its value;
    the elected sign is 0 -> 0. Holds for lambda at the ends of [0, 1], where a weight is exactly 0."""
    base = torch.tensor([10.0, 10.0, 10.0, 10.0, 10.0])
    d1 = torch.tensor([1.0, -2.0, 3.0, 0.5, 1.0])
    d2 = torch.tensor([2.0, 1.0, -1.0, 0.0, -1.0])
    cases = {
        0.25: [0.25 * 1 + 0.75 * 2, -2.0, 3.0, 0.5, 0.0],
        1.0: [1.0, -2.0, 3.0, 0.5, 0.0],
        0.0: [2.0, -2.0, 3.0, 0.5, 0.0],
    }
    for lam, merged in cases.items():
        out = ties(base, [d1, d2], [lam, 1 - lam], scaling=0.5, thresholds=[0.0, 0.0])
        assert torch.allclose(out, base + 0.5 * torch.tensor(merged), atol=0, rtol=0), (lam, out)
    plain = ties(base, [d1, d2], [0.5, 0.5], scaling=1.0, thresholds=[0.0, 0.0])
    assert plain.tolist() == [11.5, 8.0, 13.0, 10.5, 10.0]


def test_ties_trims_below_each_models_threshold() -> None:
    base = torch.zeros(4)
    d1 = torch.tensor([0.1, -0.5, 0.9, -0.2])
    d2 = torch.tensor([-0.3, -0.4, 0.05, 0.6])
    # Model 1 keeps |d| >= 0.5 (entries 1, 2); model 2 keeps |d| >= 0.4 (entries 1, 3).
    out = ties(base, [d1, d2], [0.5, 0.5], scaling=1.0, thresholds=[0.5, 0.4])
    assert torch.allclose(out, torch.tensor([0.0, -0.45, 0.9, 0.6]))

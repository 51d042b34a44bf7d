"""The toy merge method (tests/toys.py's `CONSENSUS`), added through the public registry API alone, merged end to
end like the built-in ones and checked against a dense reference. It is registered while this module's tests run
(`_toy_registered`) and gone for the tests after them.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch

import robustness.catalog
from merges import MergeError, merge, validate_config
from merges.registry import (
    CombiningMethod,
    Param,
    combiner_of,
    combining_method_of,
    method_names,
    register_method,
    registered_method,
    unregister_method,
)
from tests.merges.reference import (
    StateDict,
    dare_mask,
    group_of,
    load_state_dict,
    max_abs_diff,
    merge_tiny,
)
from tests.toys import CONSENSUS, CONSENSUS_RULE

TOLERANCE = 1e-6


def ensure_registered() -> CombiningMethod:
    """Register the toy method unless it is registered already."""
    if CONSENSUS.name not in method_names():
        register_method(CONSENSUS)
    return CONSENSUS


@pytest.fixture(scope="module", autouse=True)
def _toy_registered() -> Iterator[None]:
    """The toy is registered while this module's tests run, and gone for the tests after them."""
    ensure_registered()
    yield
    if CONSENSUS.name in method_names():
        unregister_method(CONSENSUS.name)


# ---------------------------------------------------------------- the dense reference


def dense_consensus(
    base: StateDict,
    models: Sequence[StateDict],
    params: dict[str, Any],
    lambdas: dict[str, list[float]] | None,
    per_block: bool,
    drop_rate: float = 0.0,
    seed: int = 0,
) -> tuple[StateDict, float]:
    """The toy's formula over whole tensors in float64, DARE's masks re-derived from their documented rule; also
    the share of entries where the quorum was met (so a test can see that it mattered)."""
    k, s, q = len(models), params.get("scaling", 1.0), params["quorum"]
    out: StateDict = {}
    agreed_entries = total_entries = 0
    for n, b in base.items():
        deltas = [m[n] - b for m in models]
        if drop_rate > 0:
            masks = [dare_mask(seed, n, i, b.shape, drop_rate) for i in range(k)]
            deltas = [torch.where(mask, d / (1 - drop_rate), 0.0) for mask, d in zip(masks, deltas, strict=True)]
        w = torch.tensor([1.0 / k] * k if lambdas is None else lambdas[group_of(n, per_block)], dtype=torch.float64)
        stack, weight = torch.stack(deltas).double(), w.view(-1, *([1] * b.dim()))
        agreed = torch.maximum((stack > 0).sum(0), (stack < 0).sum(0)) >= q * k
        mean = (weight * stack).sum(0) / w.sum()
        out[n] = (b.double() + s * torch.where(agreed, mean, 0.0)).to(b.dtype)
        agreed_entries, total_entries = agreed_entries + int(agreed.sum()), total_entries + agreed.numel()
    return out, agreed_entries / total_entries


CASES: list[tuple[dict[str, Any], float]] = [
    ({"quorum": 0.7}, 0.0),  # K = 2 and K = 3: all must agree
    ({"quorum": 1.0, "scaling": 0.8}, 0.0),
    ({"quorum": 0.6, "scaling": 1.2}, 0.3),  # DARE, then the toy (K = 3: two of three)
]
M3_MODES: dict[str, dict[str, Any]] = {
    "plain": {"enabled": False},
    "m3-global": {"enabled": True, "alpha": 0.5, "seed": 7},
    "m3-per-block": {"enabled": True, "alpha": 2.0, "seed": 8, "per_block": True},
}


@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize("mode", list(M3_MODES))
@pytest.mark.parametrize("case", CASES, ids=["quorum-0.7", "unanimous-scaled", "dare-then-consensus"])
def test_toy_method_matches_its_dense_formula(
    tiny: dict[str, Path], tmp_path: Path, small_chunks: int, case: tuple[dict[str, Any], float], mode: str, k: int
) -> None:
    params, drop_rate = case
    m3 = M3_MODES[mode]
    experts = [tiny[f"e{i}"] for i in range(1, k + 1)]
    if drop_rate:
        method, given = "dare", {"drop_rate": drop_rate, "dare_method": "consensus", **params}
    else:
        method, given = "consensus", params
    _, result, lambdas = merge_tiny(tiny, k, method, given, m3, tmp_path / "out")
    expected, agreed = dense_consensus(
        load_state_dict(tiny["base"]),
        [load_state_dict(e) for e in experts],
        params,
        lambdas,
        per_block=bool(m3.get("per_block")),
        drop_rate=drop_rate,
        seed=1234,
    )
    assert 0.05 < agreed < 0.95, agreed  # the quorum really decides, entry by entry
    assert max_abs_diff(load_state_dict(tmp_path / "out"), expected) <= TOLERANCE

    record = json.loads((tmp_path / "out" / "merge.json").read_text())
    assert record == result.record
    assert (record["method"], record["base_method"]) == (method, "consensus")
    resolved = {"scaling": params.get("scaling", 1.0), "quorum": params["quorum"]}
    if drop_rate:
        resolved = {"drop_rate": drop_rate, "dare_method": "consensus", **resolved}
    assert record["parameters"] == resolved
    assert record["consensus"] == {"quorum": params["quorum"], "rule": CONSENSUS_RULE}
    assert record["task_arithmetic_convention"] is None and "ties" not in record
    assert (record["seeds"]["dare_masks"] is not None) == bool(drop_rate)
    weights = lambdas or {"global": [1.0 / k] * k}
    assert record["contribution_weights"] == weights


def test_toy_method_differs_from_the_built_in_methods(tiny: dict[str, Path], tmp_path: Path) -> None:
    """Guard against a toy that would pass as one of the built-in methods on these inputs."""
    config = {"base_model": str(tiny["base"]), "models": [str(tiny["e1"]), str(tiny["e2"])]}
    merge({**config, "method": "consensus", "parameters": {"quorum": 0.6}}, tmp_path / "toy")
    toy = load_state_dict(tmp_path / "toy")
    for method in ("average", "task_arithmetic"):
        merge({**config, "method": method}, tmp_path / method)
        assert max_abs_diff(toy, load_state_dict(tmp_path / method)) > 1e-3, method


# ---------------------------------------------------------------- its parameter is validated

GOOD: dict[str, Any] = {"base_model": "base", "models": ["a", "b"], "method": "consensus"}
GOOD["parameters"] = {"quorum": 0.6}
BAD: list[tuple[dict[str, Any], str]] = [
    ({"parameters": {"quorum": 0}}, "parameters.quorum: Input should be greater than 0"),
    ({"parameters": {"quorum": 1.5}}, "parameters.quorum: Input should be less than or equal to 1"),
    (
        {"parameters": {"quorum": "most"}},
        "parameters.quorum: Input should be a valid number, unable to parse string as a number",
    ),
    ({"parameters": {"quorum": float("nan")}}, "parameters.quorum: Input should be a finite number"),
    (
        {"parameters": {}},
        "parameters.quorum: is required for method 'consensus' (the share of the models that must agree on a sign, "
        "e.g. 0.7)",
    ),
    (
        {"parameters": {"quorum": 0.6, "keep": 0.5}},
        "parameters.keep: does not apply to method 'consensus' (it is used by ties); remove it",
    ),
    (
        {"method": "ties", "parameters": {"keep": 0.5, "quorum": 0.6}},
        "parameters.quorum: does not apply to method 'ties' (it is used by consensus); remove it",
    ),
    (
        {"method": "dare", "parameters": {"drop_rate": 0.2, "dare_method": "consensus"}},
        "parameters.quorum: is required for method 'consensus' (the share of the models that must agree on a sign, "
        "e.g. 0.7)",
    ),
    (
        {"method": "dare", "parameters": {"drop_rate": 0.2, "quorum": 0.6}},
        "parameters.quorum: does not apply to method \"dare with dare_method 'task_arithmetic'\" (it is used by "
        "consensus); remove it",
    ),
    (
        {"method": "slerp"},
        "method: unknown method 'slerp'; use one of average, task_arithmetic, ties, dare, consensus",
    ),
    (
        {"method": "dare", "parameters": {"drop_rate": 0.2, "dare_method": "dare"}},
        "parameters.dare_method: 'dare' is not a combining method; use one of average, task_arithmetic, ties, "
        "consensus",
    ),
    (
        {"parameters": {"quorum": 0.6, "density": 0.5}},
        "parameters.density: unknown key (allowed: scaling, keep, trim_scope, drop_rate, dare_method, quorum)",
    ),
]


@pytest.mark.parametrize("change,message", BAD, ids=[m.split(":")[0] + f"-{i}" for i, (_, m) in enumerate(BAD)])
def test_toy_parameter_is_validated(change: dict[str, Any], message: str) -> None:
    with pytest.raises(MergeError) as err:
        validate_config({**GOOD, **change})
    assert str(err.value) == f"merge config: {message}"


def test_toy_config_resolves_records_and_pickles() -> None:
    cfg = validate_config({**GOOD, "parameters": {"quorum": 1}})
    assert cfg.combiner is CONSENSUS and cfg.sparsifier is None and cfg.steps == (CONSENSUS,)
    assert cfg.resolved_parameters() == {"scaling": 1.0, "quorum": 1.0}
    assert validate_config(cfg.to_record()) == cfg
    assert pickle.loads(pickle.dumps(cfg)) == cfg
    dare = {"method": "dare", "parameters": {"drop_rate": 0.1, "dare_method": "consensus", "quorum": 0.5}}
    assert combining_method_of(dare) == "consensus" and combiner_of(dare) is CONSENSUS
    assert validate_config({**GOOD, **dare}).steps[1] is CONSENSUS


# ---------------------------------------------------------------- listed while registered, gone after


def test_toy_is_listed_by_the_catalog_while_registered_and_gone_after_unregistering() -> None:
    from merges import catalog
    from merges.config import parameters_model

    def listed() -> bool:
        in_catalog = "consensus" in catalog.METHODS and "consensus" in catalog.COMBINING
        assert in_catalog == ("consensus" in robustness.catalog.METHODS)  # the re-export is the same live view
        return in_catalog

    assert listed() and "consensus" not in catalog.SPARSIFYING
    entry = catalog.METHODS["consensus"]
    assert (entry.display, entry.reads, entry.needs, entry.sparsifies) == (
        "Sign Consensus",
        frozenset({"scaling", "quorum"}),
        frozenset({"quorum"}),
        False,
    )
    assert "quorum" in parameters_model().model_fields
    unregister_method("consensus")
    try:
        assert not listed() and list(catalog.METHODS) == ["average", "task_arithmetic", "ties", "dare"]
        assert catalog.COMBINING == ("average", "task_arithmetic", "ties")
        assert "quorum" not in parameters_model().model_fields
        with pytest.raises(MergeError, match="method: unknown method 'consensus'; use one of average, "):
            validate_config(GOOD)
        with pytest.raises(MergeError, match=r"parameters\.quorum: unknown key \(allowed: scaling, keep, trim_scope, "):
            validate_config({**GOOD, "method": "task_arithmetic"})
    finally:
        ensure_registered()
    assert listed() and validate_config(GOOD).method == "consensus"


def test_registered_method_block_adds_a_method_and_removes_it_after() -> None:
    from merges import catalog

    strict = replace(CONSENSUS, name="consensus_strict", display="Strict Consensus")
    with registered_method(strict):
        assert list(catalog.METHODS)[-2:] == ["consensus", "consensus_strict"]
        assert validate_config({**GOOD, "method": "consensus_strict"}).combiner is strict
    assert "consensus_strict" not in catalog.METHODS


@pytest.mark.parametrize(
    "method,message",
    [
        (CONSENSUS, "method 'consensus' is already registered"),
        (replace(CONSENSUS, name="other", params=(Param("scaling", float, default=2.0),)), "parameter 'scaling'"),
        (replace(CONSENSUS, name="bad name"), "use letters, digits and '_'"),
        (replace(CONSENSUS, name="trimmer", trims=True), "trims, so it must read keep and trim_scope"),
    ],
)
def test_registering_a_method_that_does_not_fit_is_refused(method: CombiningMethod, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        register_method(method)


def test_built_in_methods_cannot_be_unregistered() -> None:
    with pytest.raises(ValueError, match="method 'ties' is built in"):
        unregister_method("ties")

"""Bad configs fail before any weight is read, with a message that names the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from merges import MergeError, load_merge_config, merge, validate_config

GOOD: dict[str, Any] = {
    "base_model": "base",
    "models": ["a", "b"],
    "method": "ties",
    "parameters": {"keep": 0.5},
}

BAD: list[tuple[dict[str, Any], str]] = [
    ({"foo": 1}, "foo: unknown key"),
    ({"parameters": {"keep": 0.5, "density": 0.5}}, "parameters.density: unknown key"),
    ({"m3": {"enabled": True, "alpha": 1, "lambada": 0.3}}, "m3.lambada: unknown key"),
    ({"method": "linear"}, "method: "),
    ({"models": ["a"]}, "models: "),
    ({"models": ["a", {"model": "b", "weight": 0.3}]}, "models[1]: a model entry takes only the key 'model'"),
    ({"parameters": {"keep": 0}}, "parameters.keep: Input should be greater than 0"),
    ({"parameters": {"keep": 1.5}}, "parameters.keep: Input should be less than or equal to 1"),
    ({"parameters": {}}, "parameters.keep: is required for method 'ties'"),
    ({"parameters": {"keep": 0.5, "scaling": -1}}, "parameters.scaling: Input should be greater than 0"),
    ({"parameters": {"keep": 0.5, "scaling": float("inf")}}, "parameters.scaling: Input should be a finite number"),
    ({"parameters": {"keep": 0.5, "trim_scope": "layer"}}, "parameters.trim_scope: "),
    ({"parameters": {"keep": 0.5, "drop_rate": 0.2}}, "parameters.drop_rate: does not apply to method 'ties'"),
    ({"method": "average", "parameters": {"scaling": 1.0}}, "parameters.scaling: does not apply to method 'average'"),
    ({"method": "task_arithmetic", "parameters": {"keep": 0.5}}, "parameters.keep: does not apply"),
    ({"method": "dare", "parameters": {}}, "parameters.drop_rate: is required for method 'dare'"),
    ({"method": "dare", "parameters": {"drop_rate": 1.0}}, "parameters.drop_rate: Input should be less than 1"),
    ({"method": "dare", "parameters": {"drop_rate": -0.1}}, "parameters.drop_rate: Input should be greater than"),
    (
        {"method": "dare", "parameters": {"drop_rate": 0.2, "dare_method": "ties"}},
        "parameters.keep: is required for method 'ties'",
    ),
    ({"method": "dare", "parameters": {"drop_rate": 0.2, "dare_method": "dare"}}, "parameters.dare_method: "),
    ({"m3": {"enabled": True}}, "m3.alpha: is required when m3.lambda is null"),
    ({"m3": {"enabled": True, "alpha": 0}}, "m3.alpha: Input should be greater than 0"),
    ({"m3": {"enabled": True, "lambda": 1.2}}, "m3.lambda: each lambda must lie in [0, 1]"),
    ({"m3": {"enabled": True, "lambda": [0.5, 0.6]}}, "m3.lambda: a list of lambdas must sum to 1"),
    ({"m3": {"enabled": True, "lambda": [0.2, 0.3, 0.5]}}, "m3.lambda: has 3 weights for 2 models"),
    ({"models": ["a", "b", "c"], "m3": {"enabled": True, "lambda": 0.3}}, "m3.lambda: a single number fits 2 models"),
    ({"m3": {"enabled": True, "alpha": 1, "seed": -3}}, "m3.seed: Input should be greater than or equal to 0"),
    (
        {"m3": {"enabled": False, "lambda": 0.3}},  # merged plainly and recorded lambdas [0.5, 0.5]
        "m3.lambda: is set but m3.enabled is not true, so the merge would be plain; add 'enabled: true'",
    ),
    ({"m3": {"alpha": 0.5}}, "m3.alpha: is set but m3.enabled is not true"),  # ran a plain merge
    ({"m3": {"seed": 3, "per_block": True}}, "or remove seed, per_block for a plain merge"),
    ({"seed": "x"}, "seed: "),
    ({"dtype": "float8"}, "dtype: "),
    ({"device": "tpu"}, "device: "),
    ({"max_shard_size": "lots"}, "max_shard_size: expected a size"),
    ({"models": ["a", "base"]}, "models[1]: 'base' is the same model as base_model; list only the fine-tunes"),
    ({"models": ["a", "b", "a"]}, "models[2]: 'a' is the same model as models[0]; list each model once"),
    ({"models": ["a", "./b/../a"]}, "models[1]: './b/../a' is the same model as models[0]"),  # paths compared resolved
]


@pytest.mark.parametrize("change,message", BAD, ids=[m.split(":")[0] + f"-{i}" for i, (_, m) in enumerate(BAD)])
def test_bad_config_names_the_key(change: dict[str, Any], message: str) -> None:
    with pytest.raises(MergeError) as err:
        validate_config({**GOOD, **change})
    assert message in str(err.value)
    assert "\n" not in str(err.value)
    # The key and the problem also come apart, for callers that name their own key (a study's methods[i]).
    assert str(err.value) == f"merge config: {err.value.key}: {err.value.problem}" and err.value.key


@pytest.mark.parametrize("m3", [None, {}, {"enabled": False}, {"enabled": False, "preserve_scale": False}])
def test_a_plain_merge_has_m3_off_or_absent(m3: dict[str, Any] | None) -> None:
    """M3 runs only with `enabled: true`; a block without settings (or with their defaults) is a plain merge, and
    the recorded config validates again (merge.json round trip)."""
    cfg = validate_config({**GOOD, **({} if m3 is None else {"m3": m3})})
    assert not cfg.m3.enabled and cfg.fixed_lambdas() is None
    assert validate_config(cfg.to_record()) == cfg


@pytest.mark.parametrize(
    "inputs",
    [
        {"base_model": "base", "models": ["a", "b"]},
        {"base_model": "org/base", "models": ["org/a", "org/b", "other/a"]},  # Hub ids: equal only when equal
        {"base_model": "base", "models": ["base-sst2", "base/cola"]},  # a name or a folder below the base's
    ],
)
def test_distinct_models_pass_the_duplicate_check(inputs: dict[str, Any]) -> None:
    assert validate_config({**GOOD, **inputs}).models == inputs["models"]


def test_bad_config_fails_before_any_input_is_opened(tmp_path: Path) -> None:
    """The inputs do not exist: a config error must still be the one reported."""
    with pytest.raises(MergeError, match=r"parameters\.keep"):
        merge({**GOOD, "parameters": {"keep": 2}}, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_yaml_in_mergekit_shape(tmp_path: Path) -> None:
    file = tmp_path / "merge.yaml"
    file.write_text(
        "base_model: base\n"
        "models:\n  - model: a\n  - model: b\n"
        "method: dare\n"
        "parameters: {drop_rate: 0.2, dare_method: ties, keep: 0.7, scaling: 1.0}\n"
        "m3: {enabled: true, alpha: 0.5, lambda: null, seed: 3, per_block: true}\n"
        "dtype: bfloat16\nmax_shard_size: 2GB\n"
    )
    cfg = load_merge_config(file)
    assert cfg.models == ["a", "b"] and cfg.base_method == "ties" and cfg.drop_rate == 0.2
    assert cfg.resolved_parameters() == {
        "drop_rate": 0.2,
        "dare_method": "ties",
        "scaling": 1.0,
        "keep": 0.7,
        "trim_scope": "global",
    }
    assert cfg.max_shard_size == 2 * 10**9
    assert cfg.to_record()["m3"]["lambda"] is None
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="frozen"):
        cfg.method = "average"  # type: ignore[misc]


@pytest.mark.parametrize(
    "text,message",
    [
        ("", "expected a mapping"),
        ("- a\n- b\n", "expected a mapping"),
        ("base_model: [unclosed\n", "is not valid YAML"),
    ],
)
def test_unreadable_yaml(tmp_path: Path, text: str, message: str) -> None:
    file = tmp_path / "merge.yaml"
    file.write_text(text)
    with pytest.raises(MergeError, match=message):
        load_merge_config(file)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(MergeError, match="does not exist"):
        load_merge_config(tmp_path / "nope.yaml")
    with pytest.raises(MergeError, match="is a folder, expected a file"):
        load_merge_config(tmp_path)

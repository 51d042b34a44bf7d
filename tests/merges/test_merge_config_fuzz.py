"""Randomly broken merge configs through `m3r merge --config` in-process: never a traceback, always exit code 2
and one line that names the config file.

Seeded random mutation (no extra dependency): each case starts from a valid config and applies one to three
mutations, each of which alone makes the config invalid (none of them repairs another's damage), or replaces the
file with YAML garbage.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from robustness.cli import main

CASES = 300
Config = dict[str, Any]

WRONG_NUMBER = ["abc", [1, 2], {"a": 1}, "1.0.0"]
WRONG_TEXT = [5, 2.5, [1], {"a": 1}, True]
WRONG_BOOL = [5, "abc", [1], {"a": 1}, 0.5]
NUMBERS = {
    ("parameters", "keep"): [-0.2, 0, 1.5, 2, float("nan")],
    ("parameters", "scaling"): [-1, 0, -0.001, float("inf")],
    ("parameters", "drop_rate"): [1.0, 1.5, -0.1],
    ("m3", "alpha"): [0, -2, -0.5, float("inf")],
    ("m3", "lambda"): [1.5, -0.1, [0.5, 0.6], [0.2, 0.3, 0.5], [1.2, -0.2], [0.5], 7],
    ("m3", "seed"): [-1, -(2**40), 2**64, 1.5],
    ("seed",): [-1, -7, 2**64, 0.5],
    ("max_shard_size",): [-5, 0, "lots", "5 parsecs", "-1GB"],
}
BAD_METHODS = ["linear", "TIES", "", "slerp", 5, None, ["ties"], "task arithmetic"]


def _section(cfg: Config, key: str) -> Config:
    """cfg[key] as a mapping (made one if an earlier mutation broke it; the mutation at hand breaks it again)."""
    if not isinstance(cfg.get(key), dict):
        cfg[key] = {}
    section: Config = cfg[key]
    return section


def _set(cfg: Config, path: tuple[str, ...], value: Any) -> None:
    node = cfg
    for key in path[:-1]:
        node = _section(node, key)
    node[path[-1]] = value


def _dare(cfg: Config) -> None:
    """drop_rate only applies to DARE: switch the method so that the number itself is what is wrong."""
    cfg["method"] = "dare"
    _section(cfg, "parameters")["dare_method"] = "ties"


def out_of_range(rng: random.Random, cfg: Config) -> None:
    path = rng.choice(sorted(NUMBERS))
    if path == ("parameters", "drop_rate"):
        _dare(cfg)
    if path[0] == "m3":
        _section(cfg, "m3")["enabled"] = True
        cfg["m3"].setdefault("alpha", 1.0)
    _set(cfg, path, rng.choice(NUMBERS[path]))


def wrong_type(rng: random.Random, cfg: Config) -> None:
    choice = rng.randrange(8)
    if choice == 0:
        _set(cfg, ("base_model",), rng.choice(WRONG_TEXT))
    elif choice == 1:
        cfg["models"] = rng.choice(["one-model", 5, {"model": "a"}, ["only-one"], [5, "b"], [{"weight": 1}, "b"]])
    elif choice == 2:
        cfg["parameters"] = rng.choice([[1], "keep", 0.5])
    elif choice == 3:
        cfg["m3"] = rng.choice([[1], "yes please", 2.5])
    elif choice == 4:
        _set(cfg, ("m3", "enabled"), rng.choice(WRONG_BOOL))
    elif choice == 5:
        _set(cfg, ("parameters", "keep"), rng.choice(WRONG_NUMBER))
    elif choice == 6:
        _set(cfg, (rng.choice(["dtype", "device"]),), rng.choice(["float8", "tpu", 16, ["cpu"]]))
    else:
        cfg["m3"] = {"enabled": True, "alpha": 1.0, rng.choice(["preserve_scale", "per_block"]): rng.choice(WRONG_BOOL)}


def unknown_key(rng: random.Random, cfg: Config) -> None:
    section = rng.choice([(), ("parameters",), ("m3",)])
    name = rng.choice(["density", "weight", "lambada", "alpha_", "normalize", "Method", "t"])
    _set(cfg, (*section, name), rng.choice([0.5, "x", True]))


def missing_key(rng: random.Random, cfg: Config) -> None:
    key = rng.choice(["base_model", "models", "method"])
    cfg.pop(key, None)


def bad_method(rng: random.Random, cfg: Config) -> None:
    if rng.random() < 0.5:
        cfg["method"] = rng.choice(BAD_METHODS)
    else:
        _dare(cfg)
        _set(cfg, ("parameters", "drop_rate"), 0.2)
        _set(cfg, ("parameters", "dare_method"), rng.choice(["dare", "linear", 3]))


def m3_while_off(rng: random.Random, cfg: Config) -> None:
    setting = rng.choice([("alpha", 0.5), ("lambda", 0.3), ("seed", 4), ("per_block", True), ("preserve_scale", True)])
    block = {setting[0]: setting[1]}
    if rng.random() < 0.5:
        block["enabled"] = False
    cfg["m3"] = block


MUTATIONS: list[Callable[[random.Random, Config], None]] = [
    out_of_range,
    wrong_type,
    unknown_key,
    missing_key,
    bad_method,
    m3_while_off,
]
GARBAGE = [
    "base_model: [unclosed\n",
    "method: ties\n  models: - a\n",
    "{{{{",
    "key: 'open quote\n",
    "\tbase_model: x\n",
    "- a\n- b\n",
    "",
    "just a string",
    "base_model: a\nbase_model: b\n: c\n",
    "!!python/object:os.system ls\n",
    "? [a, b]\n: c\n",
]


def _garbage(rng: random.Random) -> bytes:
    if rng.random() < 0.3:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
    return rng.choice(GARBAGE).encode()


def _case(rng: random.Random, good: Config) -> tuple[bytes, list[str]]:
    if rng.random() < 0.15:
        return _garbage(rng), ["garbage"]
    cfg = copy.deepcopy(good)
    names = []
    for mutate in rng.sample(MUTATIONS, rng.randint(1, 3)):
        mutate(rng, cfg)
        names.append(mutate.__name__)
    return yaml.safe_dump(cfg, allow_unicode=True).encode(), names


def test_broken_merge_configs_fail_in_one_line_with_exit_code_2(
    tiny: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good: Config = {
        "base_model": str(tiny["base"]),
        "models": [str(tiny["e1"]), str(tiny["e2"])],
        "method": "ties",
        "parameters": {"keep": 0.5, "trim_scope": "global"},
        "m3": {"enabled": True, "alpha": 0.5, "seed": 1},
    }
    rng = random.Random(20240613)
    config, out = tmp_path / "merge.yaml", tmp_path / "out"
    for i in range(CASES):
        data, names = _case(rng, good)
        config.write_bytes(data)
        code = main(["merge", str(config), "--out", str(out)])
        captured = capsys.readouterr()
        lines = captured.err.strip().splitlines()
        what = f"case {i} ({', '.join(names)}): {data[:300]!r}"
        assert code == 2, f"{what}\nexit {code}\n{captured.err}"
        assert len(lines) == 1 and lines[0].startswith("m3r merge: error: "), f"{what}\n{captured.err}"
        assert str(config) in lines[0], f"{what}\n{lines[0]}"  # the message names the file
        assert "Traceback" not in captured.err and captured.out == ""
        assert not out.exists(), what

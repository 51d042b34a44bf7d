"""Randomly broken study configs through `m3r run` in-process: never a traceback, always exit code 2 and one line
that names the config file, and never an output folder or a started run (tests/study_cli.py).

Seeded random mutation (no extra dependency), in the style of tests/merges/test_merge_config_fuzz.py: each case
starts from configs/smoke.yaml and applies one to three mutations, each of which alone makes the study invalid
(a deleted required key, a wrong type, a number out of range, an unknown name, an index out of range, a repeated
entry, a path that cannot be used); none sets a valid value, so none repairs another's damage. Some cases replace
the file with YAML garbage.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.study_cli import Config, Study, make_study, smoke

CASES = 300
KeyPath = tuple[str | int, ...]  # keys and list positions from the top of the config


@pytest.fixture
def study(tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Study:
    return make_study(tmp_path, capsys, monkeypatch)


def _node(cfg: Config, path: KeyPath) -> Any:
    """The mapping or list at `path`, made again (empty, so still invalid) where an earlier mutation broke it."""
    node: Any = cfg
    for i, part in enumerate(path):
        want: type = list if i + 1 < len(path) and isinstance(path[i + 1], int) else dict
        if isinstance(part, int):
            while len(node) <= part:
                node.append({})
            if not isinstance(node[part], want):
                node[part] = want()
        elif not isinstance(node.get(part), want):
            node[part] = want()
        node = node[part]
    return node


def _set(cfg: Config, path: KeyPath, value: Any) -> None:
    _node(cfg, path[:-1])[path[-1]] = value


# Keys and values that are wrong for them: a wrong type, out of range, an unknown name, an index out of range.
BAD: dict[KeyPath, list[Any]] = {
    ("name",): [5, ["smoke"], "", "has space", "a/b", None],
    ("output_dir",): [7, ["runs"], {"a": 1}],
    ("device",): ["tpu", "gpu", "CUDA", "cuda:x", "cuda:-1", 3, ["cpu"]],
    ("dtype",): ["float8", "int4", 16, "half precision"],
    ("keep_merges",): ["maybe", 5, [True]],
    ("pairs",): ["sst2", [["sst2"]], [["sst2", "sst2"]], [["sst2", "mnli"]], [[1, 2]], [], [["sst2", "cola"]] * 2],
    ("methods",): [[], "ties", {"method": "ties"}, [5]],
    ("methods", 0, "method"): ["slerp", "TIES", "", None, 5],
    ("methods", 0, "parameters"): [[1], "scaling", {"keep": 0.5}, {"density": 0.3}, {"scaling": -1}],
    ("methods", 1, "parameters", "keep"): [-0.2, 0, 1.5, float("nan"), "most", None],
    ("methods", 1, "parameters", "trim_scope"): ["layer", 3],
    ("methods", 1, "label"): ["task_arithmetic"],  # the name of methods[0]
    ("m3", "alphas"): [[-1], [0], [float("inf")], [float("nan")], [], "2.0", [0.5, 0.5], [["x"]]],
    ("m3", "draws"): [0, -1, 101, 2.5, "one"],
    ("m3", "seed"): [-1, 2**64, 1.5],
    ("m3", "per_block"): ["sometimes", 3],
    ("models", "family"): ["mine", "explicit", 3],  # explicit without base and experts
    ("models", "family_config"): ["configs/none.yaml", "configs", 5],
    ("models", "base"): ["some/base"],  # only read by the explicit family
    ("eval", "datasets"): [["mnli"], "sst2", [], ["sst2", "sst2"], ["cola"]],  # ["cola"]: attacks name sst2
    ("eval", "prompt"): ["task_oriented:12", "20", "role_oriented:-1", "sideways:0", 3, "", None],
    ("eval", "mode"): ["logits", 1],
    ("eval", "selection"): ["best", None],
    ("eval", "selection_n"): [0, -3, 2.5, "ten", 900, 10**6],
    ("eval", "report_n"): [0, -1, 5, 1100],  # 5: fewer than the attacks' 6 rows
    ("eval", "split_seed"): [-1, "x"],
    ("eval", "agreement_n"): [-1],
    ("eval", "max_new_tokens"): [0, -5],
    ("eval", "batch_size"): [0, -2, "big"],
    ("eval", "chat"): ["sometimes", [1]],
    ("attacks",): [{"attack": "stresstest"}, "deepwordbug", [5]],
    ("attacks", 0, "attack"): ["textfooler", "", None],
    ("attacks", 0, "n"): [0, -5, 13, 10**6, 1.5],
    ("attacks", 1, "seeds"): [[], [-1], [0, 0], "0", [1.5]],
    ("attacks", 1, "search"): ["beam"],
    ("attacks", 1, "datasets"): [["mnli"], [], ["sst2", "sst2"]],
    ("attacks", 0, "methods"): [["dare"], "task_arithmetic"],
    ("attacks", 1, "levenshtein"): [0, -1],
    ("attacks", 1, "candidates"): [0],
    ("livebench",): [[1], "paraphrase"],
    ("livebench", "tasks"): [["connections"], ["typos"], ["paraphrase", "paraphrase"], "paraphrase"],
    ("livebench", "questions_dir"): ["no-such-questions", 5],
    ("livebench", "release_date"): ["2024-02-30", "2024-6-1", "June 2024", 20240624, "2020-01-01"],
    ("livebench", "n"): [0, -1],
    ("livebench", "methods"): [["ties_m3"]],
    ("data_dir",): ["no-such-data-root", 5],
}
REQUIRED: list[KeyPath] = [
    ("name",),
    ("methods",),
    ("methods", 0, "method"),
    ("attacks", 1, "attack"),
    ("methods", 1, "parameters"),
]
UNKNOWN_KEYS: list[KeyPath] = [
    (),
    ("eval",),
    ("m3",),
    ("models",),
    ("livebench",),
    ("attacks", 0),
    ("methods", 1, "parameters"),
]
GARBAGE = [
    "name: [unclosed\n",
    "name: smoke\n  methods: - a\n",
    "{{{{",
    "key: 'open quote\n",
    "\tname: x\n",
    "- a\n- b\n",
    "",
    "just a string",
    "name: a\nname: b\n: c\n",
    "!!python/object:os.system ls\n",
    "? [a, b]\n: c\n",
]


def wrong_value(rng: random.Random, cfg: Config, study: Study) -> None:
    path = rng.choice(sorted(BAD, key=str))
    _set(cfg, path, copy.deepcopy(rng.choice(BAD[path])))  # a later mutation may edit it in place


def missing_key(rng: random.Random, cfg: Config, study: Study) -> None:
    path = rng.choice(REQUIRED)
    parent = _node(cfg, path[:-1])
    if isinstance(parent, dict):
        parent.pop(path[-1], None)
    else:
        parent[path[-1]] = {}


def unknown_key(rng: random.Random, cfg: Config, study: Study) -> None:
    name = rng.choice(["evall", "seed_", "Method", "weights", "lambda", "t"])
    _node(cfg, rng.choice(UNKNOWN_KEYS))[name] = rng.choice([0.5, "x", True])


def unusable_path(rng: random.Random, cfg: Config, study: Study) -> None:
    blocker = study.tmp / "a-file"
    blocker.write_text("- not a mapping\n")  # an empty file would read as the default family config
    choice = rng.randrange(3)
    if choice == 0:
        cfg["output_dir"] = str(blocker / "runs")
    elif choice == 1:
        _set(cfg, ("models", "family_config"), str(blocker))  # not a YAML mapping
    else:
        _set(cfg, ("livebench", "questions_dir"), str(blocker))


MUTATIONS: list[Callable[[random.Random, Config, Study], None]] = [wrong_value] * 4 + [
    missing_key,
    unknown_key,
    unusable_path,
]


def _case(rng: random.Random, study: Study) -> tuple[Config | bytes, list[str]]:
    if rng.random() < 0.1:
        if rng.random() < 0.3:
            return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))), ["garbage bytes"]
        return rng.choice(GARBAGE).encode(), ["garbage"]
    cfg = {"output_dir": str(study.out), **smoke()}
    names = []
    for _ in range(rng.randint(1, 3)):
        mutate = rng.choice(MUTATIONS)
        mutate(rng, cfg, study)
        names.append(mutate.__name__)
    return cfg, names


def test_broken_studies_fail_in_one_line_with_exit_code_2(study: Study) -> None:
    rng = random.Random(20261202)
    for i in range(CASES):
        cfg, names = _case(rng, study)
        what = f"case {i} ({', '.join(names)}): {cfg!r}"[:2000]
        code, out, err = study.run(cfg)
        lines = err.strip().splitlines()
        assert code == 2, f"{what}\nexit {code}\n{err}"
        assert len(lines) == 1 and lines[0].startswith("m3r run: error: "), f"{what}\n{err}"
        assert str(study.config) in lines[0], f"{what}\n{lines[0]}"  # the message names the file
        assert "Traceback" not in err and out == "", what
        assert not study.out.exists(), what

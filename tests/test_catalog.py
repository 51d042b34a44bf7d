"""The catalog is the one list of names: every entry has its implementation, and every reader follows it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from merges.config import parameters_model, validate_config
from merges.errors import MergeError
from merges.registry import CombiningMethod, SparsifyingStep
from reports.variants import ATTACK_LABEL, ATTACK_ORDER, DATASET_LABEL, METHOD_LABEL, METHOD_ORDER
from robustness import catalog
from robustness.attacks.constraints import PROTECTED
from robustness.attacks.recipes import seed_changes_attack
from robustness.data.glue import load_glue
from robustness.errors import UserError
from robustness.experiment.spec.config import load_experiment
from robustness.metrics import metric_for
from robustness.prompts import label_words, load_prompts
from robustness.store import parse_record


def test_every_combining_method_has_an_implementation_and_no_implementation_is_unlisted() -> None:
    # The registry entry is the implementation: each combining method carries its arithmetic and M3 weights, each
    # sparsification step its masks, and every entry is one or the other.
    implementations = {name for name, entry in catalog.METHODS.items() if isinstance(entry, CombiningMethod)}
    steps = {name for name, entry in catalog.METHODS.items() if isinstance(entry, SparsifyingStep)}
    assert set(catalog.COMBINING) == implementations
    assert set(catalog.SPARSIFYING) == steps and implementations | steps == set(catalog.METHODS)
    for name in catalog.COMBINING:
        entry = catalog.METHODS[name]
        assert isinstance(entry, CombiningMethod)
        assert callable(entry.combine) and callable(entry.plain_weights) and callable(entry.m3_weights), name
    assert catalog.SPARSIFYING == ("dare",)


def test_method_parameters_are_fields_of_the_parameter_schema() -> None:
    fields = set(parameters_model().model_fields)
    for entry in catalog.METHODS.values():
        assert entry.reads <= fields, entry.name
        assert entry.needs <= entry.reads, entry.name


def test_every_method_validates_with_its_required_parameters_and_refuses_others() -> None:
    # Over the catalog as it is when the test runs (a method registered by another test module may come and go).
    assert list(catalog.METHODS)[:4] == ["average", "task_arithmetic", "ties", "dare"]
    for name in catalog.METHODS:
        _validates_with_its_required_parameters_and_refuses_others(name)


def _validates_with_its_required_parameters_and_refuses_others(name: str) -> None:
    entry = catalog.METHODS[name]
    values = {"keep": 0.5, "drop_rate": 0.2, "scaling": 1.0, "trim_scope": "tensor", "dare_method": "ties"}
    needed = {k: values[k] for k in entry.needs}
    if entry.sparsifies:
        needed["keep"] = 0.5  # DARE feeds TIES here, which needs keep
        needed["dare_method"] = "ties"
    cfg = validate_config({"base_model": "b", "models": ["x", "y"], "method": name, "parameters": needed})
    assert cfg.method == name
    for missing in sorted(entry.needs):
        without = {k: v for k, v in needed.items() if k != missing}
        with pytest.raises(MergeError, match=rf"parameters\.{missing}: is required for method '{name}'"):
            validate_config({"base_model": "b", "models": ["x", "y"], "method": name, "parameters": without})
    foreign = sorted(
        set(parameters_model().model_fields)
        - entry.reads
        - (catalog.METHODS["ties"].reads if entry.sparsifies else set())
    )
    for key in foreign:
        with pytest.raises(MergeError, match=rf"parameters\.{key}: does not apply to method"):
            validate_config(
                {"base_model": "b", "models": ["x", "y"], "method": name, "parameters": {**needed, key: values[key]}}
            )


def test_unknown_method_names_the_known_ones() -> None:
    with pytest.raises(
        MergeError, match="method: unknown method 'slerp'; use one of average, task_arithmetic, ties, dare"
    ):
        validate_config({"base_model": "b", "models": ["x", "y"], "method": "slerp"})
    with pytest.raises(MergeError, match="dare_method: 'dare' is not a combining method"):
        validate_config(
            {
                "base_model": "b",
                "models": ["x", "y"],
                "method": "dare",
                "parameters": {"drop_rate": 0.1, "dare_method": "dare"},
            }
        )


@pytest.mark.parametrize("name", list(catalog.DATASETS))
def test_every_dataset_loads_and_has_prompts_labels_and_a_metric(name: str, data_dir: Path) -> None:
    entry = catalog.DATASETS[name]
    dev = load_glue(name, "validation", data_dir)
    assert set(dev.labels) == set(range(len(entry.label_words)))
    assert dev.label_names == entry.label_words == label_words(name)
    assert len(load_prompts(name, data_dir)) == 20
    assert metric_for(name) == entry.metric
    assert set(entry.label_words) <= PROTECTED[name]
    assert {f"{w}'" for w in entry.label_words} <= PROTECTED[name]


def test_attack_seed_semantics_follow_the_catalog() -> None:
    # DeepWordBug draws its edits with the seed; BERTAttack only with the paper's random positions; StressTest never.
    # The suite's attacks come first; a test may have registered more after them (tests/attacks/test_toy_attack.py).
    suite = list(catalog.ATTACKS)[:3]
    assert suite == ["deepwordbug", "bertattack", "stresstest"]
    assert [seed_changes_attack(a, s) for a in suite for s in catalog.SEARCHES] == [
        True,
        True,
        False,
        True,
        False,
        False,
    ]


def test_reports_take_names_orders_and_labels_from_the_catalog() -> None:
    assert list(METHOD_ORDER) == [*catalog.METHODS, *catalog.REFERENCES]
    assert METHOD_LABEL["task_arithmetic"] == "Task Arithmetic" and METHOD_LABEL["base"] == "Base"
    assert list(ATTACK_ORDER) == list(catalog.ATTACKS) and ATTACK_LABEL["bertattack"] == "BERTAttack"
    assert DATASET_LABEL == {"sst2": "SST-2", "cola": "CoLA"}


def test_study_config_and_records_refuse_names_outside_the_catalog(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nmethods: [{method: task_arithmetic}]\neval: {datasets: [sst2, mnli]}\n")
    with pytest.raises(UserError, match=r"eval\.datasets\[1\]: unknown dataset 'mnli'; use one of sst2, cola"):
        load_experiment(bad)
    bad.write_text("name: x\nmethods: [{method: task_arithmetic}]\nattacks: [{attack: textfooler}]\n")
    with pytest.raises(UserError, match=r"attacks\[0\]\.attack: unknown attack 'textfooler'; use one of deepwordbug"):
        load_experiment(bad)
    identity = {"model_id": "m", "m3": False, "pair": "sst2+cola"}
    parse_record("merge", {**identity, "method": "ties"})
    parse_record("merge", {**identity, "method": "expert"})
    with pytest.raises(ValidationError, match="unknown method 'slerp'"):
        parse_record("merge", {**identity, "method": "slerp"})


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            "{attack: deepwordbug, candidates: 16}",
            "candidates: does not apply to attack 'deepwordbug' (it is read by bertattack)",
        ),
        (
            "{attack: stresstest, search: paper}",
            "search: does not apply to attack 'stresstest' (it is read by deepwordbug and bertattack)",
        ),
        (
            "{attack: bertattack, levenshtein: 5}",
            "levenshtein: does not apply to attack 'bertattack' (it is read by deepwordbug)",
        ),
    ],
)
def test_an_attack_setting_the_attack_does_not_read_is_refused(tmp_path: Path, entry: str, message: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"name: x\nmethods: [{{method: task_arithmetic}}]\nattacks: [{entry}]\n")
    with pytest.raises(UserError, match=rf"attacks\[0\]: {re.escape(message)}; remove it$"):
        load_experiment(bad)
    fine = entry.split(",")[0] + "}"  # the attack alone, its defaults untouched
    bad.write_text(f"name: x\nmethods: [{{method: task_arithmetic}}]\nattacks: [{fine}]\n")
    cfg = load_experiment(bad)
    # A stored config holds every field, defaults included; it must validate again (reports re-read it).
    assert type(cfg).model_validate(cfg.model_dump(mode="json")) == cfg

"""The unit-kind registry and protocol: the built-in kinds in their orders, what registration refuses, how a stored
unit finds its kind, and that a unit travels (to a Ray actor) with its kind."""

from __future__ import annotations

import pickle

import pytest

from robustness.experiment.kinds import attack, clean, replay, selection
from robustness.experiment.kinds.base import ModelInputs, UnitKind
from robustness.experiment.kinds.registry import (
    kind_named,
    kinds,
    plan_order,
    register,
    stored_kind,
    stored_kinds,
    unregister,
)
from robustness.experiment.planning.models import plain_models
from robustness.records import AttackRecord, CleanRecord
from tests.test_experiment_plan import IDS, config, rows


def test_the_built_in_kinds_and_their_orders() -> None:
    assert [k.name for k in kinds()] == ["merge", "clean", "attack", "replay", "livebench", "selection", "measure"]
    assert list(stored_kinds()) == ["merge", "clean", "attack", "livebench", "selection", "measure"]  # the store's
    assert plan_order() == ["merge", "clean", "selection", "attack", "livebench", "measure"]  # m3r plan's order
    assert {k.stored_as for k in kinds() if k.runs_model} == {"clean", "attack", "livebench", "measure"}
    assert stored_kinds()["attack"] is AttackRecord and replay.KIND.stored_as == "attack"


def test_a_stored_attack_is_an_attack_or_a_replay_by_its_purpose() -> None:
    assert stored_kind("attack", {"purpose": "transfer", "source": "k"}) is replay.KIND
    assert stored_kind("attack", {"purpose": "curve"}) is attack.KIND
    assert stored_kind("attack", {}) is attack.KIND
    with pytest.raises(ValueError, match="no registered unit kind files 'nothing'"):
        stored_kind("nothing", {})


def test_registration_refuses_a_taken_name_and_a_second_record_type_for_one_stored_kind() -> None:
    class Other(UnitKind, name="clean", inputs_type=ModelInputs, record_type=CleanRecord):
        pass

    with pytest.raises(ValueError, match="a unit kind named 'clean' is registered already"):
        register(Other())

    class Misfiled(UnitKind, name="misfiled", stored_as="attack", inputs_type=ModelInputs, record_type=CleanRecord):
        pass

    with pytest.raises(ValueError, match="files 'attack' records as CleanRecord, but 'attack' files them as"):
        register(Misfiled())
    assert "misfiled" not in [k.name for k in kinds()]
    unregister("misfiled")  # absent: nothing happens


def test_a_kind_declares_only_what_a_kind_has() -> None:
    with pytest.raises(TypeError, match=r"declares none of \['colour'\]"):

        class Odd(UnitKind, name="odd", colour="red"):
            pass

    class Probe(UnitKind, name="probe", inputs_type=ModelInputs, record_type=CleanRecord):
        pass

    assert Probe.stored_as == "probe" and Probe.on_model and kind_named("selection") is selection.KIND


def test_a_unit_travels_with_its_kind() -> None:
    cfg = config()
    unit = clean.clean_unit(cfg, plain_models(cfg)[0], "sst2", "report", rows(cfg)["sst2"][1], IDS)
    back = pickle.loads(pickle.dumps(unit))
    assert back == unit and type(back.kind) is type(unit.kind) and back.kind.stored_as == "clean"

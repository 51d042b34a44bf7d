"""Extensions end to end: tests/toys.py's merge method, attack and unit kind, registered through their public
registries alone, in a real tiny study (random tiny Llamas, real SST-2 rows) sized by `m3r plan`, run by the local
executor and by the Ray executor (a local Ray instance, whose actors import the toys' module themselves)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from robustness.cli import main
from tests.tiny import tiny_tokenizer
from tests.tiny_study import save_family, stored_results, study, write

TOY_METHOD = {"method": "consensus", "parameters": {"scaling": 1.0, "quorum": 0.5}}
TOY_ATTACK = {"attack": "toycase", "datasets": ["sst2"], "seeds": [0], "n": 3}


@pytest.fixture(scope="module", autouse=True)
def toys() -> Iterator[Any]:
    from tests import toys

    with toys.registered():
        yield toys


@pytest.fixture(scope="module")
def family(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return save_family(tmp_path_factory.mktemp("family"), tiny_tokenizer())


def toy_study(root: Path, family: dict[str, str], data_dir: Path, toys: Any, **changes: Any) -> str:
    config = study(root / "runs", family, data_dir, name=toys.TOY_STUDY, methods=[TOY_METHOD], attacks=[TOY_ATTACK],
                   m3={"alphas": [0.5], "draws": 2, "seed": 0}, **changes)  # fmt: skip
    return write(root, config, "toys")


@pytest.fixture(scope="module")
def local_run(tmp_path_factory: pytest.TempPathFactory, family: dict[str, str], data_dir: Path, toys: Any) -> Path:
    root = tmp_path_factory.mktemp("local")
    assert main(["run", toy_study(root, family, data_dir, toys)]) == 0
    return root / "runs" / toys.TOY_STUDY


def test_the_plan_command_sizes_the_toys(tmp_path: Path, family: dict[str, str], data_dir: Path, toys: Any,
                                         capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    assert main(["plan", toy_study(tmp_path, family, data_dir, toys), "--json"]) == 0
    counts = json.loads(capsys.readouterr().out)["units"]
    # Phase two: the base, two experts, the plain and the chosen consensus merge: one probe each on SST-2, and the
    # toy attack on the two merges (one seed).
    assert counts["phase_2"]["probe"] == 5 and counts["phase_2"]["attack"] == 2
    assert counts["phase_1"]["merge"] == 3 and counts["phase_1"]["selection"] == 1


def test_a_local_run_stores_what_each_toy_makes(local_run: Path, toys: Any) -> None:
    units = stored_results(local_run)
    probes = [r for r in units.values() if r["kind"] == toys.PROBE.stored_as]
    assert len(probes) == 5 and all(r["n"] == toys.PROBE_ROWS and 0 <= r["accuracy"] <= 1 for r in probes)
    merges = [r for r in units.values() if r["kind"] == "merge"]
    assert {r["merge_json"]["method"] for r in merges} == {"consensus"} and len(merges) == 3
    assert all(r["merge_json"]["consensus"]["quorum"] == 0.5 for r in merges)
    attacks = [r for r in units.values() if r["kind"] == "attack"]
    assert len(attacks) == 2 and {r["attack"] for r in attacks} == {"toycase"}
    assert all(r["search"] == "greedy" and r["queries"] > 0 for r in attacks)
    assert (local_run / "report" / "report.md").is_file()


def test_on_ray_the_actors_know_the_toys_and_store_what_a_local_run_does(
    tmp_path: Path, family: dict[str, str], data_dir: Path, local_run: Path, toys: Any, ray_instance: None
) -> None:
    from robustness.extensions import extension_modules

    assert extension_modules() == ["tests.toys"]  # what each actor imports before its first unit
    assert main(["run", toy_study(tmp_path, family, data_dir, toys, executor="ray"), "--no-report"]) == 0
    assert stored_results(tmp_path / "runs" / toys.TOY_STUDY) == stored_results(local_run)


def test_a_fresh_ray_worker_knows_the_toys_once_it_imports_the_drivers_extension_modules(ray_instance: None) -> None:
    """What each Ray actor does before its first unit (a study's actors may also meet a toy class in a unit first,
    which imports its module too: this checks the import that does not depend on the order of units)."""
    import ray

    from robustness.extensions import extension_modules

    def known(modules: list[str]) -> tuple[bool, ...]:
        from merges.registry import method_names
        from robustness.attacks.registry import ATTACKS
        from robustness.experiment.kinds.registry import kinds
        from robustness.extensions import import_extensions

        before = "consensus" in method_names() or "toycase" in ATTACKS
        import_extensions(modules)
        return before, "consensus" in method_names(), "toycase" in ATTACKS, "probe" in {k.name for k in kinds()}

    fresh = ray.remote(max_calls=1)(known)  # a new worker process for each call
    assert ray.get(fresh.remote([])) == (False, False, False, False)
    assert ray.get(fresh.remote(extension_modules())) == (False, True, True, True)

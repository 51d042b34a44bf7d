"""`executor: ray`: the tiny study run in Ray actors stores what a local run stores and reports the same tables; an
actor killed mid-unit loses only that unit; a lost node loses only its actor; a killed driver resumes; a study moves
between executors as itself.

Ray runs here on a local instance with 2 CPUs (2 actors), as the machine allows. The driver-kill test starts Ray
itself (in the killed subprocess), and the node-loss test a local cluster of its own, before this module's shared
instance exists: keep them first.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import torch

from robustness.cli import main
from robustness.errors import UserError
from robustness.experiment.execution.progress import describe
from robustness.experiment.execution.worker import Checkpoints
from robustness.experiment.executors import ray_driver
from robustness.experiment.executors.ray_cluster import (
    actor_state,
    init_ray,
    slots,
    visibility_problem,
)
from robustness.experiment.executors.ray_driver import Driver, Slot
from robustness.experiment.kinds.base import Unit
from robustness.experiment.spec.config import ExperimentConfig
from robustness.experiment.spec.validate import check_device
from robustness.store import Store, config_hash
from tests.tiny_study import run_killed_at_first_attack, save_family, stored, study, write

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def family(tmp_path_factory: pytest.TempPathFactory, base_tokenizer: Any) -> dict[str, str]:
    return save_family(tmp_path_factory.mktemp("family"), base_tokenizer)


@pytest.fixture(scope="module")
def local_run(tmp_path_factory: pytest.TempPathFactory, family: dict[str, str], data_dir: Path) -> Path:
    """The tiny study run and reported by the local executor: what every Ray run here must store."""
    root = tmp_path_factory.mktemp("local")
    assert main(["run", write(root, study(root / "runs", family, data_dir), "local")]) == 0
    return root / "runs" / "rerun"


def count_stored(run_dir: Path) -> int:
    """Units stored so far (0 while the store is being created)."""
    try:
        return len(stored(run_dir))
    except sqlite3.Error:
        return 0


def results(run_dir: Path) -> dict[str, tuple[str, str, Any, Any]]:
    """Every stored unit: key -> (kind, status, inputs, result), the run folder's path written as <run> and a
    merge's own timing left out (it differs between any two runs)."""
    with sqlite3.connect(run_dir / "results.sqlite") as conn:
        rows = conn.execute("SELECT key, kind, status, inputs, result FROM units").fetchall()
    out = {}
    for key, kind, status, inputs, result in rows:
        record = json.loads(result.replace(str(run_dir), "<run>"))
        record.get("merge_json", {}).pop("seconds", None)
        out[key] = (kind, status, json.loads(inputs), record)
    return out


def tables(run_dir: Path) -> dict[str, str]:
    return {f.name: f.read_text() for f in sorted((run_dir / "report" / "tables").glob("*.csv"))}


@pytest.fixture
def submitted(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, Unit]]:
    """(actor's slot number, unit) for every unit the driver gives an actor, in order (it still gives them)."""
    seen: list[tuple[int, Unit]] = []
    original = Driver.submit

    def spy(self: Driver, slot: Slot, unit: Unit) -> None:
        seen.append((self.slots.index(slot), unit))
        original(self, slot, unit)

    monkeypatch.setattr(Driver, "submit", spy)
    return seen


def test_a_killed_driver_resumes_on_rerun(tmp_path: Path, family: dict[str, str], data_dir: Path,
                                          local_run: Path) -> None:  # fmt: skip
    config = write(tmp_path, study(tmp_path / "runs", family, data_dir), "study")
    run_dir = tmp_path / "runs" / "rerun"
    # The driver starts its own local Ray instance; killed with SIGKILL it cannot clean up, so its session (the
    # Ray processes it started) is killed after it.
    log = tmp_path / "driver.log"
    with log.open("wb") as err:
        driver = subprocess.Popen([sys.executable, "-m", "robustness.cli", "run", config, "--executor", "ray",
                                   "--no-report"], start_new_session=True, stdout=err, stderr=err)  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while count_stored(run_dir) < 4:
            assert driver.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "fewer than 4 units stored in 4 minutes"
            time.sleep(0.05)
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(driver.pid, signal.SIGKILL)
    killed = stored(run_dir)
    assert 4 <= len(killed) < 16
    with Store.open_readonly(run_dir) as store:
        assert all(store.get(k) is not None for k in killed)  # each stored unit is whole

    assert main(["run", config, "--executor", "ray", "--no-report"]) == 0
    final = stored(run_dir)
    assert {k: final[k] for k in killed} == killed  # nothing stored before the kill ran again
    assert results(run_dir) == results(local_run)


@pytest.mark.slow
@pytest.mark.parametrize("graceful", [False, True], ids=["node-killed", "node-stopped"])
def test_a_study_goes_on_when_a_ray_node_is_lost(
    tmp_path: Path, family: dict[str, str], data_dir: Path, local_run: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], graceful: bool,
) -> None:  # fmt: skip
    """A local cluster of three nodes: a head without CPUs and two workers with one CPU each, an actor on each. Once
    the first unit is stored, a worker node goes while its actor runs a unit, the actor's process killed with it and
    the node's other processes killed too (the cluster marks the node dead seconds later) or stopped (at once). Ray
    cannot place that actor again (the other actor holds the last CPU); the driver drops it, the unit runs again on
    the other actor, and the study ends with each unit stored once and a local run's store and tables."""
    from ray.cluster_utils import Cluster

    small = {"object_store_memory": 80 * 1024**2}  # units, rows and records only
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False, **small})
    try:
        for _ in range(2):
            cluster.add_node(num_cpus=1, **small)
        init_ray(address=cluster.address)
        # The driver connects through a node of its machine (any of the three here): the lost node is another one.
        driver_node = ray._private.worker.global_worker.node._raylet_socket_name
        node = next(n for n in cluster.worker_nodes if n._raylet_socket_name != driver_node)
        lost: list[tuple[int, Unit]] = []
        puts: Counter[str] = Counter()
        submit, store = Driver.submit, Driver.store

        def submit_then_lose_the_node(self: Driver, slot: Slot, unit: Unit) -> None:
            submit(self, slot, unit)
            if lost or not self.done or slot.node != node.node_id:
                return
            deadline = time.monotonic() + 60
            while (state := actor_state(slot.actor))[1] != unit.key:
                assert time.monotonic() < deadline, f"{unit.key} did not start in 60 s"
                time.sleep(0.005)
            os.kill(state[0], signal.SIGKILL)  # with its node, as a machine that dies: the unit cannot finish first
            cluster.remove_node(node, allow_graceful=graceful)
            lost.append((state[0], unit))

        def counted(self: Driver, unit: Unit, finished: Any) -> None:
            puts[unit.key] += 1
            store(self, unit, finished)

        monkeypatch.setattr(Driver, "submit", submit_then_lose_the_node)
        monkeypatch.setattr(Driver, "store", counted)
        run_dir = tmp_path / "runs" / "rerun"
        config = write(tmp_path, study(tmp_path / "runs", family, data_dir, executor="ray"), "ray")
        assert main(["run", config]) == 0
    finally:
        ray.shutdown()
        cluster.shutdown()
    assert len(lost) == 1
    pid, unit = lost[0]
    said = [line for line in capsys.readouterr().err.splitlines() if "actor(s) left" in line]
    assert len(said) == 1 and node.node_id in said[0], said
    assert said[0].endswith(f"(1 actor(s) left); {describe(unit)}, which it was running, runs again on another")
    assert len(puts) == 16 and set(puts.values()) == {1}  # each unit stored once, the lost one too
    assert results(run_dir) == results(local_run)
    assert tables(run_dir) == tables(local_run)
    with pytest.raises(ProcessLookupError):  # the lost actor's process died with its node
        os.kill(pid, 0)


def test_a_study_on_ray_stores_and_reports_what_a_local_run_does(
    tmp_path: Path, family: dict[str, str], data_dir: Path, local_run: Path, ray_instance: None,
    submitted: list[tuple[int, Unit]],
) -> None:  # fmt: skip
    run_dir = tmp_path / "runs" / "rerun"
    assert main(["run", write(tmp_path, study(tmp_path / "runs", family, data_dir, executor="ray"), "ray")]) == 0
    assert results(run_dir) == results(local_run)
    assert tables(run_dir) == tables(local_run)
    assert not any((run_dir / "merges").iterdir())  # merged weights deleted once no unit needed them

    # Both actors worked; a model's units went to one actor one after another (so it loaded once there), the merge
    # first. Only the chosen candidate comes back later, for its phase two once selection has chosen it.
    assert {slot for slot, _ in submitted} == {0, 1} and len(submitted) == 15  # the selection ran on the driver
    units = [(slot, u, u.model.model_id) for slot, u in submitted if u.model is not None]
    runs = []  # (actor, model) for each stretch of one model's units on one actor
    for slot in (0, 1):
        models = [m for s, _, m in units if s == slot]
        runs += [(slot, m) for i, m in enumerate(models) if i == 0 or models[i - 1] != m]
    stretches = Counter(m for _, m in runs)
    chosen = {m for _, u, m in units if u.stored_as == "attack"} - {"sst2+cola/task_arithmetic"}
    assert len(stretches) == 6 and len(chosen) == 1, runs
    assert all(n == 1 for m, n in stretches.items() if m not in chosen) and stretches[chosen.pop()] <= 2, runs
    for model in stretches:
        kinds = [u.stored_as for _, u, m in units if m == model]
        assert "merge" not in kinds[1:], kinds


def test_an_actor_killed_mid_unit_loses_only_that_unit(
    tmp_path: Path, family: dict[str, str], data_dir: Path, local_run: Path, ray_instance: None,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    killed: list[tuple[int, Unit]] = []
    original = Driver.submit

    def submit_then_kill(self: Driver, slot: Slot, unit: Unit) -> None:
        """Kill the worker process of the first actor to run a clean unit, while it runs it (its first unit:
        it loads the model, so it runs for seconds)."""
        original(self, slot, unit)
        if killed or unit.stored_as != "clean":
            return
        deadline = time.monotonic() + 60
        while True:
            pid, running = actor_state(slot.actor)
            if running == unit.key:
                break
            assert time.monotonic() < deadline, f"{unit.key} did not start in 60 s"
            time.sleep(0.005)
        os.kill(pid, signal.SIGKILL)
        killed.append((pid, unit))

    monkeypatch.setattr(Driver, "submit", submit_then_kill)
    run_dir = tmp_path / "runs" / "rerun"
    assert main(["run", write(tmp_path, study(tmp_path / "runs", family, data_dir, executor="ray"), "ray")]) == 0
    assert len(killed) == 1
    pid, unit = killed[0]
    err = capsys.readouterr().err
    assert f"clean {unit.label}: its Ray worker (pid {pid}) died; Ray restarted it and ran the unit there" in err
    assert err.count("died; Ray restarted it") == 1  # the other units were not lost
    assert results(run_dir) == results(local_run)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_with_every_actor_lost_the_run_stops_and_a_rerun_continues(
    tmp_path: Path, family: dict[str, str], data_dir: Path, local_run: Path, ray_instance: None,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """The local instance's one node listed as lost once the first unit is stored (as a cluster lists a dead node):
    the driver drops both actors and stops with one line saying to rerun; the rerun keeps what was stored and ends
    as a local run does."""
    gone: set[str] = set()
    store = Driver.store

    def store_then_lose_the_node(self: Driver, unit: Unit, finished: Any) -> None:
        store(self, unit, finished)
        gone.add(ray.get_runtime_context().get_node_id())

    monkeypatch.setattr(Driver, "store", store_then_lose_the_node)
    monkeypatch.setattr(ray_driver, "lost_nodes", lambda: gone)
    run_dir = tmp_path / "runs" / "rerun"
    config = write(tmp_path, study(tmp_path / "runs", family, data_dir, executor="ray"), "ray")
    assert main(["run", config, "--no-report"]) == 2
    err = capsys.readouterr().err
    assert err.count("is lost, and its actor with it") == 2
    assert err.count("(0 actor(s) left)") == 1
    assert (
        "m3r run: error: every Ray actor is lost (their nodes died or cannot be reached); once the cluster has "
        "nodes again, rerun the same `m3r run` command: it continues where this run stopped" in err
    )
    kept = stored(run_dir)
    assert 1 <= len(kept) < 16

    monkeypatch.undo()
    assert main(["run", config]) == 0
    assert f"{16 - len(kept)} units run, {len(kept)} already in the store" in capsys.readouterr().err
    final = stored(run_dir)
    assert {k: final[k] for k in kept} == kept
    assert results(run_dir) == results(local_run)
    assert tables(run_dir) == tables(local_run)


def test_a_study_moves_between_executors_as_the_same_config(
    tmp_path: Path, family: dict[str, str], data_dir: Path, local_run: Path, ray_instance: None,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """Started locally (killed at the first attack), resumed on Ray, rerun locally: every finished unit is reused,
    and the store sees one config (the executor is not part of it)."""
    run_dir = tmp_path / "runs" / "rerun"
    config = study(tmp_path / "runs", family, data_dir)
    path = write(tmp_path, config, "study")
    run_killed_at_first_attack(monkeypatch, path)
    killed = stored(run_dir)
    assert 0 < len(killed) < 16

    capsys.readouterr()
    assert main(["run", path, "--executor", "ray", "--no-report"]) == 0
    err = capsys.readouterr().err
    assert "config changed" not in err
    assert f"{16 - len(killed)} units run, {len(killed)} already in the store" in err
    final = stored(run_dir)
    assert {k: final[k] for k in killed} == killed
    assert results(run_dir) == results(local_run)

    assert main(["run", path, "--no-report"]) == 0  # back to the local executor: nothing to do
    err = capsys.readouterr().err
    assert "config changed" not in err and "0 units run, 16 already in the store" in err
    assert stored(run_dir) == final
    with Store.open_readonly(run_dir) as store:
        assert [e.config_hash for e in store.history()] == [
            config_hash(ExperimentConfig.model_validate(config).study_config())
        ]
        assert "executor" not in store.config()


def test_actors_per_gpu_else_per_cpu() -> None:
    assert slots({"CPU": 16.0, "GPU": 4.0}, "auto", "here") == slots({"CPU": 16.0, "GPU": 4.0}, "cuda:1", "here")
    assert slots({"CPU": 16.0, "GPU": 4.0}, "cuda", "here").count == 4
    assert slots({"CPU": 16.0, "GPU": 4.0}, "cuda", "here").gpu
    assert slots({"CPU": 2.0, "GPU": 4.0}, "auto", "here").count == 2  # each actor takes a CPU too
    cpu = slots({"CPU": 16.0, "GPU": 4.0}, "cpu", "here")
    assert not cpu.gpu and cpu.count == 16
    assert slots({"CPU": 2.0}, "auto", "here").count == 2
    with pytest.raises(UserError, match=r"^device: cuda, but the Ray cluster at h:6379 has no GPU; set device: auto"):
        slots({"CPU": 8.0}, "cuda", "the Ray cluster at h:6379")


def test_an_actor_that_does_not_see_the_run_folder_says_what_to_mount(tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.mkdir()
    checkpoints = Checkpoints({"base": base}, {"base": "base"})
    problem = visibility_problem(tmp_path / "runs" / "s", checkpoints, "node7")
    assert problem is not None and problem.startswith("output_dir: the Ray worker on node7 does not see the run folder")
    assert "mount it at the same path on every Ray node (a shared file system)" in problem
    (tmp_path / "runs" / "s").mkdir(parents=True)
    (tmp_path / "runs" / "s" / "results.sqlite").touch()
    assert visibility_problem(tmp_path / "runs" / "s", checkpoints, "node7") is None
    checkpoints.paths["base"] = tmp_path / "elsewhere"
    problem = visibility_problem(tmp_path / "runs" / "s", checkpoints, "node7")
    assert problem is not None and problem.startswith(
        "models: the Ray worker on node7 does not see the base checkpoint"
    )


def test_an_address_needs_the_ray_executor(tmp_path: Path, family: dict[str, str], data_dir: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    path = write(tmp_path, study(tmp_path / "runs", family, data_dir), "study")
    assert main(["run", path, "--address", "head:6379"]) == 2
    assert "--address names a Ray cluster, used only by the Ray executor; add --executor ray" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_a_units_error_stops_the_run_as_on_the_local_executor(
    tmp_path: Path, family: dict[str, str], data_dir: Path, ray_instance: None
) -> None:
    """A damaged expert tokenizer passes the study's checks and fails the first unit that loads the expert: on Ray
    the run stops with the same error as a local run, and what it stored first are whole units."""
    bad = {name: tmp_path / "family" / name for name in family}
    for name, folder in bad.items():
        shutil.copytree(family[name], folder)
    (bad["cola"] / "tokenizer.json").write_text('{"model": ')
    errors = {}
    for executor in ("local", "ray"):
        config = study(tmp_path / executor, {k: str(v) for k, v in bad.items()}, data_dir, executor=executor)
        with pytest.raises(json.JSONDecodeError) as error:
            main(["run", write(tmp_path, config, executor)])
        errors[executor] = str(error.value)
    assert errors["ray"] == errors["local"]
    with Store.open_readonly(tmp_path / "ray" / "rerun") as store:
        assert store.integrity_check() == "ok"
    kept = stored(tmp_path / "ray" / "rerun")  # units in flight on the other actor finished and were stored
    assert all(status == "done" for status, _, _ in kept.values())
    assert not any("cola" in key for key in kept)  # nothing of the broken expert, nor of the merges that need it


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_on_a_cluster_the_device_is_checked_there_not_here(tmp_path: Path, family: dict[str, str],
                                                          data_dir: Path) -> None:  # fmt: skip
    """Here (no GPU) `device: cuda` is refused for a local run and a local Ray instance, left to the Ray executor's
    check of the cluster's GPUs when an address names one."""
    cuda = study(tmp_path, family, data_dir, device="cuda")
    for local in ({}, {"executor": "ray"}):
        with pytest.raises(UserError, match=r"^device: device 'cuda' was asked for but CUDA is not available here"):
            check_device(ExperimentConfig.model_validate(cuda | local))
    check_device(ExperimentConfig.model_validate(cuda | {"executor": "ray", "ray_address": "head:6379"}))

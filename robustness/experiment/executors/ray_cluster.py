"""Ray's side of the Ray executor: connecting to a cluster (or starting a local instance), one actor per GPU (or
CPU) each with its own `Worker`, and the checks that every node sees the run's files. The driver that hands the
actors a study's units is experiment/executors/ray_driver.py.
"""

from __future__ import annotations

import os
import socket
import sys
import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robustness.data.glue import load_glue
from robustness.errors import UserError
from robustness.experiment.execution.worker import Checkpoints, Worker, started_at
from robustness.experiment.executors.host import Finished
from robustness.experiment.kinds.base import Unit
from robustness.experiment.spec.config import ExperimentConfig
from robustness.extensions import extension_modules, import_extensions
from robustness.records import Record
from robustness.store import STORE_FILE

TRIES = 3  # a unit whose worker dies this many times stops the run (it would likely kill the next one too)
LOCAL_OBJECT_STORE = 200 * 1024**2  # units, rows and records only: weights go through the run folder
# Passed to the actors of a cluster, whose workers were started with their own environment.
SUITE_ENV = ("M3R_DATA_DIR", "M3R_CACHE_DIR", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "OMP_WAIT_POLICY")
CONTROL = "control"  # the actors' concurrency group for `state`, answered while a unit runs


@dataclass(frozen=True)
class Slots:
    """How many actors to start, and whether each takes a GPU."""

    gpu: bool
    count: int


def slots(resources: Mapping[str, float], device: str, where: str) -> Slots:
    """One actor per GPU (unless `device: cpu`), else one per CPU; `where` names the cluster in errors."""
    gpus, cpus = int(resources.get("GPU", 0)), int(resources.get("CPU", 0))
    if device != "cpu" and gpus > 0:
        return Slots(True, min(gpus, cpus) if cpus else gpus)
    if device.startswith("cuda"):
        raise UserError(
            f"device: {device}, but {where} has no GPU; set device: auto or cpu, or start Ray on GPU machines"
        )
    if cpus < 1:
        raise UserError(f"{where} offers no CPU to run units on; start Ray workers with `ray start --num-cpus N`")
    return Slots(False, cpus)


def actor_device(gpu: bool) -> str:
    """An actor's device: its one GPU (Ray sets CUDA_VISIBLE_DEVICES, so it is `cuda`), else the CPU."""
    return "cuda" if gpu else "cpu"


def visibility_problem(run_dir: Path, checkpoints: Checkpoints, host: str) -> str | None:
    """Why an actor on `host` cannot work on this run (it does not see the run folder or a checkpoint), or None."""
    if not (run_dir / STORE_FILE).is_file():
        return (
            f"output_dir: the Ray worker on {host} does not see the run folder {run_dir.absolute()} (no {STORE_FILE} "
            "there); mount it at the same path on every Ray node (a shared file system), or set output_dir to a "
            "folder they all mount"
        )
    for name, path in checkpoints.paths.items():
        if not Path(path).is_dir():
            return (
                f"models: the Ray worker on {host} does not see the {name} checkpoint {Path(path).absolute()}; mount "
                "the model cache (M3R_CACHE_DIR, the Hub cache) or the checkpoints' folders at the same path on "
                "every Ray node"
            )
    return None


class UnitActor:
    """One Ray actor: a `Worker` on the actor's device, and the key of the unit it is running (see `state`)."""

    def __init__(self, cfg: ExperimentConfig, checkpoints: Checkpoints, cwd: str, gpu: bool,
                 extensions: tuple[str, ...] = ()) -> None:  # fmt: skip
        if Path(cwd).is_dir():  # relative paths (output_dir, checkpoints) mean what they mean on the driver
            os.chdir(cwd)
            if cwd not in sys.path:  # extension modules importable from the driver's folder are importable here
                sys.path.insert(0, cwd)
        import_extensions(list(extensions))  # what the driver registered: unit kinds, merge methods, attacks
        # Read here, not sent: arguments kept in Ray's object store could be gone when Ray restarts the actor.
        data = {d: load_glue(d, "validation", cfg.data_dir) for d in cfg.eval.datasets}
        self.worker = Worker(
            cfg.model_copy(update={"device": actor_device(gpu)}),
            checkpoints,
            data,
            cache_name=f"{socket.gethostname()}-{os.getpid()}",
        )  # its own file: no shared writes
        self.running: str | None = None

    def check(self) -> str | None:
        return visibility_problem(self.worker.run_dir, self.worker.checkpoints, socket.gethostname())

    def execute(self, unit: Unit, needed: dict[str, Record] | None = None) -> Finished:
        self.running = unit.key
        try:
            started, clock, loads = started_at(), time.monotonic(), self.worker.loads
            record = self.worker.execute(unit, needed)
            return Finished(started, time.monotonic() - clock, record, os.getpid(), self.worker.loads - loads)
        finally:
            self.running = None

    def state(self) -> tuple[int, str | None]:
        """This actor's process id and the unit it is running (call it in the `CONTROL` group: `actor_state`)."""
        return os.getpid(), self.running

    def node(self) -> str:
        """The id of the Ray node this actor runs on."""
        import ray

        return str(ray.get_runtime_context().get_node_id())


def actor_state(actor: Any) -> tuple[int, str | None]:
    """An actor's process id and the key of the unit it is running, answered at once even while a unit runs."""
    import ray

    pid, running = ray.get(actor.state.options(concurrency_group=CONTROL).remote())
    return int(pid), running


def actor_node(actor: Any) -> str:
    """The id of the Ray node an actor runs on (answered at once, as `actor_state`)."""
    import ray

    return str(ray.get(actor.node.options(concurrency_group=CONTROL).remote()))


def lost_nodes() -> set[str]:
    """The ids of the nodes the cluster has lost (their processes gone)."""
    import ray

    return {str(n["NodeID"]) for n in ray.nodes() if not n["Alive"]}


def local_cpus() -> int:
    """The CPUs this process may use (its affinity where the OS tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def init_ray(**options: Any) -> None:
    """`ray.init`, without Ray's notice of a future change in how it hides GPUs from CPU-only actors."""
    import ray

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Tip: In future versions of Ray", FutureWarning)
        ray.init(logging_level="warning", **options)


@contextmanager
def connected(address: str | None) -> Iterator[str]:
    """Connect to the Ray cluster at `address`, or start a local instance on this machine's CPUs and GPUs; yields
    how errors name it. A process already connected (a notebook, a test) keeps its connection."""
    import ray

    if ray.is_initialized():
        yield "the connected Ray cluster"
        return
    if address:
        env = {k: os.environ[k] for k in SUITE_ENV if k in os.environ}
        try:
            init_ray(address=address, runtime_env={"env_vars": env})
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise UserError(
                f"--address/ray_address {address}: cannot connect to a Ray cluster there ({exc}); start one with "
                "`ray start --head` on that machine, or leave the address out for a local Ray instance"
            ) from None
        where = f"the Ray cluster at {address}"
    else:
        init_ray(num_cpus=local_cpus(), include_dashboard=False, object_store_memory=LOCAL_OBJECT_STORE)
        where = "the local Ray instance"
    try:
        yield where
    finally:
        ray.shutdown()


def start_actors(cfg: ExperimentConfig, checkpoints: Checkpoints, models: int, where: str) -> list[Any]:
    """Start one actor per slot (no more than the study has models) and check that each sees the run's files."""
    import ray

    found = slots(ray.cluster_resources(), cfg.device, where)
    # Ray restarts a dead actor as often as it dies, and runs the unit it lost again (TRIES attempts in all); one whose
    # node is lost the driver drops (ray_driver.py: Ray may find no free CPU or GPU to place it on).
    options: dict[str, Any] = {"num_cpus": 1, "num_gpus": 1 if found.gpu else 0, "max_restarts": -1,
                               "max_task_retries": TRIES - 1, "concurrency_groups": {CONTROL: 1}}  # fmt: skip
    remote: Any = ray.remote(**options)(UnitActor)
    extensions = tuple(extension_modules())
    actors: list[Any] = [remote.remote(cfg, checkpoints, os.getcwd(), found.gpu, extensions)
              for _ in range(min(found.count, models))]  # fmt: skip
    try:
        problems = ray.get([a.check.remote() for a in actors])
    except ray.exceptions.RayError as exc:
        for actor in actors:
            ray.kill(actor)
        raise UserError(f"the Ray actors could not start on {where}: {exc}") from None
    problem = next((p for p in problems if p), None)
    if problem:
        for actor in actors:
            ray.kill(actor)
        raise UserError(problem)
    return actors

"""The Ray executor (`executor: ray`): a study's model units run in Ray actors, the driver keeps the plan and the store.

- One actor per GPU of the cluster (one per CPU where it has none, or with `device: cpu`), each with its own
  `Worker`, so it holds at most one loaded model. Ray places the actors; each sees its one GPU as `cuda`.
- A model's units go to one actor one after another, the merge first, so a model loads once per actor; an idle
  actor takes the next model whose units are waiting (its own model first, e.g. a chosen candidate's phase two).
- Selections run here on the driver once their candidates' scores are stored; that (pair, method)'s phase two is
  then planned and queued at once, while other models' units keep running.
- A transfer replay waits here on the driver until its source attack is stored, then joins its model's queue like
  any unit; the driver reads the source's record and sends it along with the unit.
- Only the driver writes the store, one transaction per finished unit, in the order units finish. A killed driver
  loses only the units in flight, and a rerun (with either executor) skips every stored unit.
- A worker process that dies mid-unit (killed, out of memory, its node lost) loses that unit only: Ray restarts the
  actor (elsewhere if its node is gone) and runs the unit again there, up to `TRIES` times in all; the driver says
  so when the result comes from a new process.
- Merged folders live under the run folder, which every Ray node must see at the same path (a shared file system),
  as it must the checkpoints and the data root: each actor checks at start and says what to mount.
"""

from __future__ import annotations

import os
import socket
import sys
import time
import warnings
from collections import deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from robustness.data.glue import load_glue
from robustness.errors import UserError
from robustness.experiment.execution.progress import UnitProgress, describe
from robustness.experiment.execution.worker import Checkpoints, Worker, delete_merge, started_at
from robustness.experiment.kinds.inputs import SelectionInputs, TransferInputs
from robustness.experiment.planning.plan import (
    ModelSpec,
    Unit,
    candidate_models,
    phase_two,
    plain_model_id,
    plain_models,
    reference_models,
)
from robustness.experiment.spec.config import ExperimentConfig
from robustness.store import STORE_FILE
from robustness.store.records import AttackRecord, Record

if TYPE_CHECKING:
    from robustness.experiment.execution.runner import Runner

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


@dataclass(frozen=True)
class Finished:
    """What an actor returns for a unit: when it started, how long it ran, its record."""

    started_at: str
    seconds: float
    record: Record
    pid: int  # the actor's process: a new one means Ray restarted the actor
    loads: int = 0  # models the unit loaded (a unit that starts on another model loads it)


class UnitActor:
    """One Ray actor: a `Worker` on the actor's device, and the key of the unit it is running (see `state`)."""

    def __init__(self, cfg: ExperimentConfig, checkpoints: Checkpoints, cwd: str, gpu: bool) -> None:
        if Path(cwd).is_dir():  # relative paths (output_dir, checkpoints) mean what they mean on the driver
            os.chdir(cwd)
        # Read here, not sent: arguments kept in Ray's object store could be gone when Ray restarts the actor.
        data = {d: load_glue(d, "validation", cfg.data_dir) for d in cfg.eval.datasets}
        self.worker = Worker(cfg.model_copy(update={"device": actor_device(gpu)}), checkpoints, data)
        self.running: str | None = None

    def check(self) -> str | None:
        return visibility_problem(self.worker.run_dir, self.worker.checkpoints, socket.gethostname())

    def execute(self, unit: Unit, source: AttackRecord | None = None) -> Finished:
        self.running = unit.key
        try:
            started, clock, loads = started_at(), time.monotonic(), self.worker.loads
            record = self.worker.execute(unit, source)
            return Finished(started, time.monotonic() - clock, record, os.getpid(), self.worker.loads - loads)
        finally:
            self.running = None

    def state(self) -> tuple[int, str | None]:
        """This actor's process id and the unit it is running (call it in the `CONTROL` group: `actor_state`)."""
        return os.getpid(), self.running


def actor_state(actor: Any) -> tuple[int, str | None]:
    """An actor's process id and the key of the unit it is running, answered at once even while a unit runs."""
    import ray

    pid, running = ray.get(actor.state.options(concurrency_group=CONTROL).remote())
    return int(pid), running


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


def start_actors(runner: Runner, where: str) -> list[Any]:
    """Start one actor per slot (no more than the study has models) and check that each sees the run's files."""
    import ray

    cfg = runner.cfg
    found = slots(ray.cluster_resources(), cfg.device, where)
    models = len(reference_models(cfg)) + len(plain_models(cfg)) + len(candidate_models(cfg))
    # Ray restarts a dead actor as often as it dies, and runs the unit it lost again (TRIES attempts in all).
    options: dict[str, Any] = {"num_cpus": 1, "num_gpus": 1 if found.gpu else 0, "max_restarts": -1,
                               "max_task_retries": TRIES - 1, "concurrency_groups": {CONTROL: 1}}  # fmt: skip
    remote: Any = ray.remote(**options)(UnitActor)
    actors: list[Any] = [remote.remote(cfg, runner.checkpoints, os.getcwd(), found.gpu)
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


def run_on_ray(runner: Runner, first: list[Unit], progress: UnitProgress) -> None:
    """Run phase one and, selection by selection, phase two on Ray (see the module's docstring)."""
    import ray

    with connected(runner.cfg.ray_address) as where:
        actors = start_actors(runner, where)
        try:
            Driver(runner, progress, [Slot(a, pid=actor_state(a)[0]) for a in actors]).run(first)
        finally:
            for actor in actors:
                ray.kill(actor)


@dataclass
class Slot:
    """One actor, the units given to it (one model's, in plan order) and the one it is running."""

    actor: Any
    queue: deque[Unit] = field(default_factory=deque)
    model: ModelSpec | None = None  # the model of its units (and, once they are done, the one it last loaded)
    running: Unit | None = None
    ref: Any = None  # the running unit's result
    pid: int | None = None  # the actor's process, as its last result said

    @property
    def idle(self) -> bool:
        return self.ref is None and not self.queue


class Driver:
    """Gives each model's units to one actor, runs selections when their inputs are stored, stores each result."""

    def __init__(self, runner: Runner, progress: UnitProgress, slots: list[Slot]) -> None:
        self.runner, self.progress, self.slots = runner, progress, slots
        self.done = runner.store.done_keys()
        self.known: set[str] = set()
        self.waiting: dict[str, deque[Unit]] = {}  # model id -> its units no actor has yet, in plan order
        self.selections: list[Unit] = []  # not stored yet
        self.replays: list[Unit] = []  # transfer replays whose source is not stored yet
        self.error: BaseException | None = None
        self.first: list[Unit] = []

    def run(self, first: list[Unit]) -> None:
        import ray

        self.first = first
        self.add(first)
        self.add_second()
        while True:
            if self.error is None:
                self.run_selections()
                self.release_replays()
                self.assign()
            busy = {s.ref: s for s in self.slots if s.ref is not None}
            if not busy:
                break
            ready, _ = ray.wait(list(busy), num_returns=1)
            for ref in ready:
                self.collect(busy[ref])
        if self.error is not None:
            raise self.error
        left = [*self.selections, *self.replays, *(u for q in self.waiting.values() for u in q)]
        if left:  # a bug in the plan: a unit whose inputs no unit produces
            raise RuntimeError(f"the Ray executor stopped with {len(left)} unit(s) not run, e.g. {left[0].key}")
        self.runner.record_full_plan(first)
        for model in [*plain_models(self.runner.cfg), *candidate_models(self.runner.cfg)]:
            delete_merge(self.runner.cfg, self.runner.checkpoints, model)

    def add(self, units: list[Unit]) -> None:
        """Queue the units not known yet: stored ones count as done, a selection waits here, a model's units go
        to the actor working on that model, else wait for an idle one."""
        for unit in units:
            if unit.key in self.known:
                continue
            self.known.add(unit.key)
            if unit.key in self.done:
                self.progress.skip(unit)
            elif unit.model is None:
                self.selections.append(unit)
            elif isinstance(unit.inputs, TransferInputs) and unit.inputs.source not in self.done:
                self.replays.append(unit)
            else:
                self.queue(unit)

    def queue(self, unit: Unit) -> None:
        """A model unit goes to the actor working on its model, else waits for an idle one."""
        assert unit.model is not None
        mine = [s for s in self.slots if s.model == unit.model and not s.idle]
        (mine[0].queue if mine else self.waiting.setdefault(unit.model.model_id, deque())).append(unit)

    def release_replays(self) -> None:
        """Queue the transfer replays whose source attack is stored now."""
        ready = [u for u in self.replays if isinstance(u.inputs, TransferInputs) and u.inputs.source in self.done]
        for unit in ready:
            self.replays.remove(unit)
            self.queue(unit)

    def add_second(self) -> None:
        """Phase two's units as far as the stored selections have chosen; record the plan known so far."""
        r = self.runner
        chosen = r.chosen(self.first, partial=True)
        self.add(phase_two(r.cfg, r.rows, chosen, r.checkpoints.identities, partial=True))
        r.store.set_plan(self.known)

    def run_selections(self) -> None:
        for unit in [u for u in self.selections if self.inputs_stored(u)]:
            self.progress.start(unit)
            started, clock = started_at(), time.monotonic()
            try:
                record = self.runner.execute(unit)
            except Exception as exc:  # stop as a unit's error on an actor does: once the units in flight are stored
                self.error = exc
                return
            self.store(unit, Finished(started, time.monotonic() - clock, record, os.getpid()))
            self.selections.remove(unit)
            self.add_second()
            for candidate in candidate_models(self.runner.cfg):
                if plain_model_id(candidate.pair, candidate.label) == unit.label:
                    self.release(candidate)

    def inputs_stored(self, unit: Unit) -> bool:
        inputs = unit.inputs_as(SelectionInputs)
        return all(k in self.done for k in [*inputs.candidates, *(inputs.references or [])])

    def assign(self) -> None:
        """Idle actors take waiting units: their own model's first, then the next model in plan order."""
        idle = [s for s in self.slots if s.idle]
        for slot in idle:
            if slot.model is not None and slot.model.model_id in self.waiting:
                slot.queue.extend(self.waiting.pop(slot.model.model_id))
        for slot in idle:
            if not slot.queue and self.waiting:
                model_id = next(iter(self.waiting))
                slot.queue.extend(self.waiting.pop(model_id))
                slot.model = slot.queue[0].model
        for slot in self.slots:
            if slot.ref is None and slot.queue:
                self.submit(slot, slot.queue.popleft())

    def submit(self, slot: Slot, unit: Unit) -> None:
        self.progress.start(unit)
        slot.running, slot.ref = unit, slot.actor.execute.remote(unit, self.runner.replay_source(unit))

    def collect(self, slot: Slot) -> None:
        """Store a finished unit, or stop the run on its error (a local run stops there too)."""
        import ray

        unit, ref = slot.running, slot.ref
        assert unit is not None
        slot.running = slot.ref = None
        try:
            finished: Finished = ray.get(ref)
        except ray.exceptions.RayTaskError as exc:  # the unit's own error
            self.error = self.error or (exc.cause if isinstance(exc.cause, BaseException) else exc)
            return
        except ray.exceptions.RayError as exc:  # its worker died TRIES times, or Ray lost the actor for good
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            self.error = self.error or UserError(
                f"{describe(unit)}: its Ray worker died while running it, {TRIES} times or for good (last: {reason}); "
                "see the Ray logs (out of memory?), fix the cause and rerun to continue where it stopped"
            )
            return
        if slot.pid is not None and finished.pid != slot.pid:
            print(f"{describe(unit)}: its Ray worker (pid {slot.pid}) died; Ray restarted it and ran the unit there "
                  f"(pid {finished.pid})", file=sys.stderr, flush=True)  # fmt: skip
        slot.pid = finished.pid
        self.store(unit, finished)
        if slot.model is not None and not slot.queue:
            self.release(slot.model)

    def store(self, unit: Unit, finished: Finished) -> None:
        self.runner.store.put(unit.key, unit.kind, unit.inputs.payload(), finished.record,
                              started_at=finished.started_at)  # fmt: skip
        self.done.add(unit.key)
        self.runner.done_now += 1
        self.runner.loads += finished.loads
        self.progress.finish(unit, finished.seconds)

    def release(self, model: ModelSpec) -> None:
        """Delete a merge's folder once no unit of it waits or runs and none can still be planned (a candidate
        whose selection is not stored yet may be chosen)."""
        if model.model_id in self.waiting or any(s.model == model and not s.idle for s in self.slots):
            return
        if any(u.model == model for u in self.replays):  # replays on it wait for their sources
            return
        if model.m3 and any(u.label == plain_model_id(model.pair, model.label) for u in self.selections):
            return
        delete_merge(self.runner.cfg, self.runner.checkpoints, model)

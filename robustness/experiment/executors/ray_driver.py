"""The Ray executor (`executor: ray`): a study's model units run in Ray actors, the driver keeps the plan and the store.

- One actor per GPU of the cluster (one per CPU where it has none, or with `device: cpu`), each with its own
  `Worker`, so it holds at most one loaded model. Ray places the actors; each sees its one GPU as `cuda`.
- A model's units go to one actor one after another, the merge first, so a model loads once per actor; an idle
  actor takes the next model whose units are waiting (its own model first, e.g. a chosen candidate's phase two).
- A unit that needs other units' records (its kind's `needs`) waits here until they are stored. One that works on
  no model (a selection) then runs here on the driver, and the study's plan is read again at once (a selection's
  phase two is queued while other models' units keep running); any other (a transfer replay) joins its model's
  queue like any unit, with the records it needs sent along.
- Only the driver writes the store, one transaction per finished unit, in the order units finish. A killed driver
  loses only the units in flight, and a rerun (with either executor) skips every stored unit.
- A worker process that dies mid-unit (killed, out of memory) loses that unit only: Ray restarts the actor and runs
  the unit again there, up to `TRIES` times in all; the driver says so when the result comes from a new process.
- A lost node takes its actors with it (Ray could place one again only on a free GPU or CPU, and the other actors
  hold them all). The driver drops an actor whose node the cluster lists as dead (it looks after each result and at
  least every `NODE_CHECK_S` seconds) or whose unit Ray could not deliver (`ActorUnavailableError`), and queues its
  units again, the one it was running first, so the study goes on with the actors left; with none left it stops,
  and a rerun continues where it stopped.
- Merged folders live under the run folder, which every Ray node must see at the same path (a shared file system),
  as it must the checkpoints and the data root: each actor checks at start and says what to mount.
"""

from __future__ import annotations

import os
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from robustness.errors import UserError
from robustness.experiment.execution.progress import describe
from robustness.experiment.execution.worker import delete_merge, started_at
from robustness.experiment.executors.host import Finished, Study
from robustness.experiment.executors.ray_cluster import (
    TRIES,
    actor_node,
    actor_state,
    connected,
    lost_nodes,
    start_actors,
)
from robustness.experiment.kinds.base import Context, Unit
from robustness.experiment.planning.models import ModelSpec, reference_models

NODE_CHECK_S = 1.0  # while units run, the driver looks for lost nodes this often


class RayHost:
    """Runs a study on the Ray cluster at `address` (or on a local Ray instance): see the module's docstring."""

    def __init__(self, address: str | None = None) -> None:
        self.address = address

    def run(self, study: Study) -> None:
        import ray

        models = len(reference_models(study.cfg)) + len(study.merged_models())
        with connected(self.address) as where:
            actors = start_actors(study.cfg, study.checkpoints, models, where)
            try:
                Driver(study, [Slot(a, pid=actor_state(a)[0], node=actor_node(a)) for a in actors]).run()
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
    node: str | None = None  # the id of the Ray node that process runs on

    @property
    def idle(self) -> bool:
        return self.ref is None and not self.queue


class Driver:
    """Gives each model's units to one actor, runs driver-side units when what they need is stored, stores each
    result through the study."""

    def __init__(self, study: Study, slots: list[Slot]) -> None:
        self.study, self.progress, self.slots = study, study.progress, slots
        self.done = study.done_keys()
        self.known: set[str] = set()
        self.waiting: dict[str, deque[Unit]] = {}  # model id -> its units no actor has yet, in plan order
        self.blocked: list[Unit] = []  # units that need records not stored yet, and units that run on the driver
        self.error: BaseException | None = None

    def run(self) -> None:
        import ray

        self.add(self.study.known())
        while True:
            if self.error is None:
                self.release_blocked()
                self.assign()
            busy = {s.ref: s for s in self.slots if s.ref is not None}
            if not busy:
                break
            ready, _ = ray.wait(list(busy), num_returns=1, timeout=NODE_CHECK_S)
            for ref in ready:
                self.collect(busy[ref])
            self.drop_lost()
        if self.error is not None:
            raise self.error
        left = [*self.blocked, *(u for q in self.waiting.values() for u in q)]
        if left:  # a bug in the plan: a unit whose inputs no unit produces
            raise RuntimeError(f"the Ray executor stopped with {len(left)} unit(s) not run, e.g. {left[0].key}")
        self.study.complete()  # every selection is stored: records the whole plan
        for model in self.study.merged_models():
            delete_merge(self.study.cfg, self.study.checkpoints, model)

    def ready(self, unit: Unit) -> bool:
        return all(k in self.done for k in unit.kind.needs(unit))

    def add(self, units: list[Unit]) -> None:
        """Queue the units not known yet: stored ones count as done, a unit that runs on the driver or needs what
        is not stored yet waits here, a model's units go to the actor working on that model, else wait for one."""
        for unit in units:
            if unit.key in self.known:
                continue
            self.known.add(unit.key)
            if unit.key in self.done:
                self.progress.skip(unit)
            elif not unit.kind.on_model or not self.ready(unit):
                self.blocked.append(unit)
            else:
                self.queue(unit)

    def queue(self, unit: Unit) -> None:
        """A model unit goes to the actor working on its model, else waits for an idle one."""
        assert unit.model is not None
        mine = [s for s in self.slots if s.model == unit.model and not s.idle]
        (mine[0].queue if mine else self.waiting.setdefault(unit.model.model_id, deque())).append(unit)

    def release_blocked(self) -> None:
        """Run the driver's units whose needs are stored (then read the plan again), and queue the others."""
        for unit in [u for u in self.blocked if self.ready(u)]:
            if unit.kind.on_model:
                self.blocked.remove(unit)
                self.queue(unit)
                continue
            self.progress.start(unit)
            started, clock = started_at(), time.monotonic()
            try:
                record = unit.kind.run(unit, Context(self.study.cfg, self.study.needed(unit)))
            except Exception as exc:  # stop as a unit's error on an actor does: once the units in flight are stored
                self.error = exc
                return
            self.store(unit, Finished(started, time.monotonic() - clock, record, os.getpid()))
            self.blocked.remove(unit)
            self.add(self.study.known())
            for model in self.study.merged_models():
                self.release(model)

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
        slot.running, slot.ref = unit, slot.actor.execute.remote(unit, self.study.needed(unit))

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
        except ray.exceptions.ActorUnavailableError:  # Ray could not reach the actor: its node died, most likely
            self.drop(slot, unit, f"the Ray actor on node {slot.node} cannot be reached, and is left out")
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
            slot.node = actor_node(slot.actor)  # Ray may have placed it on another node
        slot.pid = finished.pid
        self.store(unit, finished)
        if slot.model is not None and not slot.queue:
            self.release(slot.model)

    def drop_lost(self) -> None:
        """Drop the actors whose node the cluster has lost (Ray may not be able to place them again)."""
        lost = lost_nodes()
        for slot in [s for s in self.slots if s.node in lost]:
            self.drop(slot, slot.running, f"Ray node {slot.node} is lost, and its actor with it")

    def drop(self, slot: Slot, running: Unit | None, what: str) -> None:
        """Go on without `slot`'s actor: kill it, queue its units again, `running` first (a result of it on that
        actor is never read, so no unit is stored twice), and say `what` happened; with no actor left, stop."""
        import ray

        self.slots.remove(slot)
        ray.kill(slot.actor, no_restart=True)
        units = [running, *slot.queue] if running else list(slot.queue)
        if units:
            assert units[0].model is not None
            model_id = units[0].model.model_id
            self.waiting = {model_id: deque([*units, *self.waiting.pop(model_id, ())]), **self.waiting}
        again = f"; {describe(running)}, which it was running, runs again on another" if running else ""
        print(f"{what} ({len(self.slots)} actor(s) left){again if self.slots else ''}", file=sys.stderr, flush=True)
        if not self.slots and self.error is None:
            self.error = UserError(
                "every Ray actor is lost (their nodes died or cannot be reached); once the cluster has nodes again, "
                "rerun the same `m3r run` command: it continues where this run stopped (finished units are kept)"
            )

    def store(self, unit: Unit, finished: Finished) -> None:
        self.study.put(unit, finished)
        self.done.add(unit.key)

    def release(self, model: ModelSpec) -> None:
        """Delete a merge's folder once no unit of it waits or runs and no unit still waiting here may need it (a
        candidate whose selection is not stored yet may be chosen; a replay waits for its source)."""
        if model.model_id in self.waiting or any(s.model == model and not s.idle for s in self.slots):
            return
        if any(u.kind.may_use(u, model) for u in self.blocked):
            return
        delete_merge(self.study.cfg, self.study.checkpoints, model)

"""The local executor (`executor: local`): a study's units one after another in this process, on one `Worker`.

Phase one's units run in plan order, then, once every selection is stored, phase two's. A merged model's weights
are deleted after its last unit in each phase (unless `keep_merges`); a finished merge whose folder is gone is
merged again, deterministically, when a later unit needs it.
"""

from __future__ import annotations

import os
import time

from robustness.experiment.execution.worker import Worker, delete_merge, started_at
from robustness.experiment.executors.host import Finished, Study
from robustness.experiment.kinds.base import Unit


class LocalHost:
    def run(self, study: Study) -> None:
        worker = Worker(study.cfg, study.checkpoints, study.data)
        self.run_units(study, worker, study.first())
        self.run_units(study, worker, study.complete())

    def run_units(self, study: Study, worker: Worker, todo: list[Unit]) -> None:
        done = study.done_keys()
        last_use = {u.model.model_id: i for i, u in enumerate(todo) if u.model is not None}
        for i, unit in enumerate(todo):
            if unit.key in done:
                study.progress.skip(unit)
            else:
                study.progress.start(unit)
                started, clock, loads = started_at(), time.monotonic(), worker.loads
                record = worker.execute(unit, study.needed(unit))
                study.put(unit, Finished(started, time.monotonic() - clock, record, os.getpid(), worker.loads - loads))
            if unit.model is not None and last_use.get(unit.model.model_id) == i and unit.model.reference is None:
                worker.unload(unit.model)
                delete_merge(study.cfg, study.checkpoints, unit.model)

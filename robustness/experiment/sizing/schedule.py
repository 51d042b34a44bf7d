"""Wall time of a set of jobs with dependencies on N identical workers, by list scheduling. Pure arithmetic.

An estimate for `m3r plan`, not a scheduler (Ray places the real work): whenever a worker is free it takes the
first job in list order whose dependencies have finished, and keeps it to the end. Jobs marked `driver` (a
selection) run as soon as they are ready and take no worker, as selections run on the driver.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Job:
    """Work that one worker does in a row: `seconds` long, startable once every job named in `after` has finished."""

    name: str
    seconds: float
    after: tuple[str, ...] = ()
    driver: bool = False  # runs on the driver: takes no worker


def wall_time(jobs: Sequence[Job], workers: int | None) -> float:
    """Seconds from the first job's start to the last one's end on `workers` workers (None: as many as the jobs
    can use, which gives the critical path). Raises ValueError for an unknown dependency or a cycle."""
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    index = {job.name: i for i, job in enumerate(jobs)}
    if len(index) != len(jobs):
        raise ValueError("two jobs share a name")
    waiting_on = [0] * len(jobs)
    unblocks: list[list[int]] = [[] for _ in jobs]
    for i, job in enumerate(jobs):
        for name in job.after:
            if name not in index:
                raise ValueError(f"job {job.name!r} waits for {name!r}, which is not a job")
            waiting_on[i] += 1
            unblocks[index[name]].append(i)
    ready = [i for i, n in enumerate(waiting_on) if n == 0]  # a heap of list positions: first listed first
    heapq.heapify(ready)
    running: list[tuple[float, int]] = []  # (finish time, job)
    free = workers
    now, finished = 0.0, 0
    while True:
        held = []
        while ready:
            i = heapq.heappop(ready)
            if jobs[i].driver or free is None or free > 0:
                if not jobs[i].driver and free is not None:
                    free -= 1
                heapq.heappush(running, (now + max(jobs[i].seconds, 0.0), i))
            else:
                held.append(i)
        for i in held:
            heapq.heappush(ready, i)
        if not running:
            break
        now, done = heapq.heappop(running)
        finished += 1
        if not jobs[done].driver and free is not None:
            free += 1
        for j in unblocks[done]:
            waiting_on[j] -= 1
            if waiting_on[j] == 0:
                heapq.heappush(ready, j)
    if finished < len(jobs):
        stuck = next(job.name for i, job in enumerate(jobs) if waiting_on[i] > 0)
        raise ValueError(f"the jobs' dependencies form a cycle (job {stuck!r} can never start)")
    return now


def total_seconds(jobs: Sequence[Job]) -> float:
    """The work in all jobs: their seconds summed (what one worker takes, driver jobs aside)."""
    return sum(job.seconds for job in jobs)

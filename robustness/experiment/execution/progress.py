"""Progress of a study's units on stderr: rich's live bar on a terminal, plain lines anywhere else.

Off a terminal (`make robustness > log.txt`, a CI log) the live bar draws nothing, so each finished unit gets one
line with done/total, its time, the time elapsed and an ETA from the mean time of the units run so far:

    [12/102] clean sst2+cola/ties/sst2/report: done in 31 s; 45 min elapsed, ETA 1 h 10 min

and a unit that runs long gets a `running for` line at most every `HEARTBEAT_S` seconds.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol, TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from robustness.durations import duration
from robustness.experiment.kinds.base import Unit

HEARTBEAT_S = 60.0  # off a terminal: at most one line this often while one unit runs


class UnitProgress(Protocol):
    def skip(self, unit: Unit) -> None:
        """`unit` is already in the store: it counts as done, and took no time now."""

    def start(self, unit: Unit) -> None: ...

    def finish(self, unit: Unit, seconds: float) -> None: ...


class _Quiet:
    """Progress that shows nothing (a runner before its executor starts)."""

    def skip(self, unit: Unit) -> None:
        pass

    def start(self, unit: Unit) -> None:
        pass

    def finish(self, unit: Unit, seconds: float) -> None:
        pass


QUIET: UnitProgress = _Quiet()


def describe(unit: Unit) -> str:
    return f"{unit.stored_as} {unit.label}" if unit.label else unit.stored_as


def finished_line(done: int, total: int, unit: str, seconds: float, elapsed: float, eta: float) -> str:
    return f"[{done}/{total}] {unit}: done in {duration(seconds)}; {duration(elapsed)} elapsed, ETA {duration(eta)}"


def running_line(done: int, total: int, unit: str, running: float, elapsed: float) -> str:
    return f"[{done}/{total}] {unit}: running for {duration(running)}; {duration(elapsed)} elapsed"


def eta_seconds(ran: list[float], remaining: int) -> float:
    """The mean time of the units run so far, times the units still to do (units found in the store took none)."""
    return sum(ran) / len(ran) * remaining if ran else 0.0


class LineProgress:
    """One plain line per finished unit on `stream`; use it as a context manager for the `running for` lines."""

    def __init__(self, total: int, stream: TextIO, heartbeat: float = HEARTBEAT_S,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.total, self.stream, self.heartbeat, self.clock = total, stream, heartbeat, clock
        self.done = 0
        self.ran: list[float] = []
        self.began = clock()
        self._running: dict[str, float] = {}  # each running unit (several under Ray) -> when it started
        self._last_line = self.began
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    def skip(self, unit: Unit) -> None:
        with self._lock:
            self.done += 1

    def start(self, unit: Unit) -> None:
        with self._lock:
            now = self.clock()
            self._running[describe(unit)], self._last_line = now, now

    def finish(self, unit: Unit, seconds: float) -> None:
        with self._lock:
            self.done += 1
            self.ran.append(seconds)
            self._running.pop(describe(unit), None)
            now = self.clock()
            eta = eta_seconds(self.ran, self.total - self.done)
            self._write(finished_line(self.done, self.total, describe(unit), seconds, now - self.began, eta), now)

    def beat(self) -> None:
        """A `running for` line (the longest-running unit) if one runs and nothing was written for `heartbeat` s."""
        with self._lock:
            now = self.clock()
            if not self._running or now - self._last_line < self.heartbeat:
                return
            text, since = min(self._running.items(), key=lambda item: item[1])
            self._write(running_line(self.done, self.total, text, now - since, now - self.began), now)

    def _write(self, line: str, now: float) -> None:
        self._last_line = now
        print(line, file=self.stream, flush=True)

    def _watch(self) -> None:
        while not self._stop.wait(min(self.heartbeat / 10, 5.0)):
            self.beat()

    def __enter__(self) -> LineProgress:
        if self.heartbeat > 0:
            self._watcher = threading.Thread(target=self._watch, name="unit-progress", daemon=True)
            self._watcher.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join()


class LiveProgress:
    """rich's live bar (a terminal only): the unit running, done/total, elapsed time and rich's ETA."""

    def __init__(self, progress: Progress, total: int) -> None:
        self._progress = progress
        self._bar: Any = progress.add_task("units", total=total)

    def skip(self, unit: Unit) -> None:
        self._progress.advance(self._bar)

    def start(self, unit: Unit) -> None:
        self._progress.update(self._bar, description=describe(unit))

    def finish(self, unit: Unit, seconds: float) -> None:
        self._progress.advance(self._bar)


@contextmanager
def unit_progress(total: int, console: Console | None = None) -> Iterator[UnitProgress]:
    """The live bar when `console` (default: stderr) is a terminal, else plain lines on stderr."""
    console = console or Console(stderr=True)
    if not console.is_terminal:
        with LineProgress(total, sys.stderr) as lines:
            yield lines
        return
    columns = (
        TextColumn("[bold]{task.description}", table_column=None),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as progress:
        yield LiveProgress(progress, total)

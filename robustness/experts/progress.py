"""The progress of an expert's training on stderr: steps, recent loss, held-out score, ETA.

On a terminal, rich's live line; anywhere else (a log file) the live line draws nothing, so a plain line is
printed every tenth of the steps and at the last one.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from robustness.durations import duration

Advance = Callable[[str, float | None], None]  # (recent loss, latest held-out score or None)


def step_line(label: str, step: int, total: int, loss: str, holdout: float | None, elapsed: float) -> str:
    """`sst2 expert: step 45/90, loss 0.4210, held-out 0.312; 2 min elapsed, ETA 2 min`."""
    shown = "" if holdout is None else f", held-out {holdout:.3f}"
    eta = elapsed / step * (total - step)
    return f"{label}: step {step}/{total}, loss {loss}{shown}; {duration(elapsed)} elapsed, ETA {duration(eta)}"


def line_advance(label: str, total: int, stream: TextIO, clock: Callable[[], float] = time.monotonic) -> Advance:
    """An `Advance` that prints `step_line` at every tenth of `total` steps and at the last step."""
    every = max(1, total // 10)
    began, step = clock(), 0

    def advance(loss: str, holdout: float | None) -> None:
        nonlocal step
        step += 1
        if step % every == 0 or step == total:
            print(step_line(label, step, total, loss, holdout, clock() - began), file=stream, flush=True)

    return advance


@contextmanager
def training_progress(label: str, total: int) -> Iterator[Advance]:
    console = Console(stderr=True)
    if not console.is_terminal:
        yield line_advance(label, total, sys.stderr)
        return
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"),
        TextColumn("{task.fields[holdout]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(label, total=total, loss="-", holdout="")

        def advance(loss: str, holdout: float | None) -> None:
            shown = "" if holdout is None else f"held-out {holdout:.3f}"
            progress.update(task, advance=1, loss=loss, holdout=shown)

        yield advance

"""The live progress line of an expert's training: steps, recent loss, held-out score, ETA (on stderr)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

Advance = Callable[[str, float | None], None]  # (recent loss, latest held-out score or None)


@contextmanager
def training_progress(label: str, total: int) -> Iterator[Advance]:
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
    with Progress(*columns, console=Console(stderr=True)) as progress:
        task = progress.add_task(label, total=total, loss="-", holdout="")

        def advance(loss: str, holdout: float | None) -> None:
            shown = "" if holdout is None else f"held-out {holdout:.3f}"
            progress.update(task, advance=1, loss=loss, holdout=shown)

        yield advance

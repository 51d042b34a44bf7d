"""Durations as people read them in progress lines: `31 s`, `45 min`, `1 h 10 min`."""

from __future__ import annotations


def duration(seconds: float) -> str:
    """Whole seconds under a minute, whole minutes under an hour, then hours and minutes."""
    if seconds < 59.5:
        return f"{max(0, round(seconds))} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"

"""Lining up two arms (e.g. M3 and plain) replicate by replicate and sample by sample.

A replicate is one attack run: (prompt, seed). The same seed draws the same sample subset for every model, so the
two arms' results on a replicate cover the same sample indices; pairing on them is what makes the bootstrap and
the tests paired. Samples are matched by index, never by position.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ArmRun:
    """One arm's result on one replicate: per-sample labels and clean/attacked predictions, keyed by index."""

    indices: Sequence[int]
    labels: Sequence[int]
    clean: Sequence[int]
    attacked: Sequence[int]


@dataclass(frozen=True)
class PairedRun:
    """Both arms on one replicate, aligned on sorted sample indices."""

    replicate: str
    indices: np.ndarray
    labels: np.ndarray
    a_clean: np.ndarray
    a_attacked: np.ndarray
    b_clean: np.ndarray
    b_attacked: np.ndarray

    @property
    def n(self) -> int:
        return len(self.indices)


@dataclass(frozen=True)
class SharedRows:
    """The distinct samples behind a set of paired replicates, and where each replicate's samples sit among them.

    Attack seeds draw their rows from the same report rows (`robustness.experiment.planning.plan.attack_rows`), so one
    sample can appear in several replicates, with the same label and, per arm, the same clean prediction. The
    sample, not the (sample, seed) pair, is the unit that was drawn: resampling and permutation work on it.
    """

    runs: tuple[PairedRun, ...]  # sorted by replicate name
    indices: np.ndarray  # the distinct sample indices, sorted
    positions: tuple[np.ndarray, ...]  # per run: the position of each of its samples in `indices`

    @property
    def n_rows(self) -> int:
        return len(self.indices)

    @property
    def n_seeds(self) -> int:
        return len(self.runs)

    @property
    def n_pairs(self) -> int:
        """(sample, seed) pairs: what 'seeds x samples per seed' counts, repeats included."""
        return sum(run.n for run in self.runs)


def shared_rows(runs: Sequence[PairedRun]) -> SharedRows:
    """Line up replicates on their distinct samples; a sample must carry the same label in every replicate."""
    if not runs:
        raise ValueError("no paired replicates")
    ordered = tuple(sorted(runs, key=lambda r: r.replicate))
    indices = np.unique(np.concatenate([run.indices for run in ordered]))
    positions = tuple(np.searchsorted(indices, run.indices) for run in ordered)
    labels = np.full(len(indices), -1, dtype=np.int64)
    for run, pos in zip(ordered, positions, strict=True):
        seen = labels[pos] >= 0
        if np.any(labels[pos][seen] != run.labels[seen]):
            raise ValueError(f"replicate {run.replicate}: a sample's label differs from another replicate's")
        labels[pos] = run.labels
    return SharedRows(ordered, indices, positions)


@dataclass(frozen=True)
class Pairing:
    runs: list[PairedRun]  # sorted by replicate name
    unpaired: list[str]  # replicates only one arm has (left out, and reported)


def pair_runs(a: Mapping[str, ArmRun], b: Mapping[str, ArmRun]) -> Pairing:
    """Pair arm `a` with arm `b` on the replicates both have.

    Raises ValueError when a shared replicate's samples differ between the arms: that breaks the design's
    same-seed-same-subset rule and no paired statistic would be honest.
    """
    shared = sorted(set(a) & set(b))
    runs = [_pair(name, a[name], b[name]) for name in shared]
    return Pairing(runs, sorted(set(a) ^ set(b)))


def _pair(name: str, a: ArmRun, b: ArmRun) -> PairedRun:
    ia, ya, ca, xa = _sorted(name, "first", a)
    ib, yb, cb, xb = _sorted(name, "second", b)
    if not np.array_equal(ia, ib):
        raise ValueError(f"replicate {name}: the two arms were evaluated on different samples; cannot pair them")
    if not np.array_equal(ya, yb):
        raise ValueError(f"replicate {name}: the two arms disagree on the labels of the same samples")
    return PairedRun(name, ia, ya, ca, xa, cb, xb)


def _sorted(name: str, which: str, run: ArmRun) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    arrays = [np.asarray(v, dtype=np.int64) for v in (run.indices, run.labels, run.clean, run.attacked)]
    if len({len(v) for v in arrays}) != 1 or len(arrays[0]) == 0:
        raise ValueError(f"replicate {name}: the {which} arm's indices, labels and predictions differ in length")
    if len(np.unique(arrays[0])) != len(arrays[0]):
        raise ValueError(f"replicate {name}: the {which} arm lists a sample index twice")
    order = np.argsort(arrays[0], kind="stable")
    i, y, c, x = (v[order] for v in arrays)
    return i, y, c, x

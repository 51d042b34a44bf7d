"""Where each result came from: the TA+M3 convention, the attack's generator and similarity encoder, the
selection rule, and the sample sizes. The report states these next to the numbers, not in a separate log."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from reports.variants import ATTACK_LABEL, METHOD_LABEL
from robustness.attacks.recipes import seed_changes_attack
from robustness.evaluation_cache import Usage


def _value(x: object) -> str:
    return "none" if x is None or (isinstance(x, float) and pd.isna(x)) or x == "" else str(x)


def conventions(frames: list[pd.DataFrame]) -> list[str]:
    """Per (pair, method) with M3: which convention produced its results (official or preserve_scale)."""
    seen: dict[tuple[str, str], set[str]] = {}
    for frame in frames:
        if frame.empty:
            continue
        for r in frame[frame["m3"].astype(bool)].itertuples(index=False):
            seen.setdefault((r.pair, r.method), set()).add(_value(r.m3_convention))
    return [
        f"{pair} {METHOD_LABEL.get(method, method)} + M3: convention {', '.join(sorted(values))}"
        + (
            " (Task Arithmetic: official = s·(λd₁ + (1-λ)d₂); preserve_scale doubles the weights)"
            if method == "task_arithmetic"
            else ""
        )
        for (pair, method), values in sorted(seen.items())
    ]


def attack_sources(attacks: pd.DataFrame) -> list[str]:
    """Per attack: generator(s), similarity encoder(s) and search mode(s), with how many results each made."""
    if attacks.empty:
        return []
    frame = attacks.assign(
        generator=attacks["generator"].map(_value), similarity_encoder=attacks["similarity_encoder"].map(_value)
    )
    out = []
    for (attack, search, generator, encoder), g in frame.groupby(
        ["attack", "search", "generator", "similarity_encoder"], sort=True
    ):
        out.append(
            f"{ATTACK_LABEL.get(attack, attack)} ({search} search): generator {generator}, similarity encoder "
            f"{encoder}: {len(g)} results, {int(g['queries'].sum())} queries"
        )
    return out


def attack_seeds(attacks: pd.DataFrame) -> list[str]:
    """Per attack and search: whether its seeds are attack seeds, or only drew other rows."""
    if attacks.empty:
        return []
    out = []
    for (attack, search), g in attacks.groupby(["attack", "search"], sort=True):
        seeds = ", ".join(str(s) for s in sorted({int(s) for s in g["seed"]}))
        label = f"{ATTACK_LABEL.get(attack, attack)} ({search} search): seed(s) {seeds}"
        if seed_changes_attack(str(attack), str(search)):
            out.append(f"{label} are attack seeds (they draw the attack's edits or positions, and the rows)")
        else:
            out.append(f"{label} only draw rows: the attack ignores its seed, so several seeds are row resamples")
    return out


def sample_sizes(attacks: pd.DataFrame, clean: pd.DataFrame, livebench: pd.DataFrame) -> list[str]:
    out = []
    if len(attacks):
        cells = attacks.groupby(["model_id", "dataset", "attack", "search"])
        sizes = [len(i) for i in attacks["indices"]]
        rows = cells["indices"].agg(lambda g: len({int(i) for indices in g for i in indices}))
        out.append(
            f"Attacks in the tables: {len(attacks)} results, {_span(cells.size())} seeds per cell, "
            f"{_span(sizes)} samples per seed, {_span(rows)} distinct rows per cell, "
            f"seeds {sorted({int(s) for s in attacks['seed']})}"
        )
    if len(clean):
        for split, g in clean.groupby("split", sort=True):
            out.append(f"Clean ({split} split) in the tables: {len(g)} results, {_span(g['n'])} samples each")
    if len(livebench):
        out.append(f"LiveBench in the tables: {len(livebench)} results, {int(livebench['n'].sum())} questions scored")
    return out


def _span(values: Iterable[int]) -> str:
    """'3' when every value is 3, '10-12' otherwise."""
    ordered = sorted(int(v) for v in values)
    return str(ordered[0]) if ordered[0] == ordered[-1] else f"{ordered[0]}-{ordered[-1]}"


def evaluation_cache(found: Usage | None) -> list[str]:
    """How many row evaluations the study ran on its models and how many its evaluation cache served (nothing for a
    run from before the cache)."""
    if found is None:
        return []
    return [f"Evaluation cache: {found.ran:,} row evaluations ran on the models, {found.served:,} were served from "
            f"the study's cache ({found.share:.0%}; the same model and input text evaluated before, by this unit or "
            "another; results do not depend on it)"]  # fmt: skip

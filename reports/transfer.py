"""Transfer attacks: each source's found prompts replayed unchanged on the study's other models, per target model.

A replay unit (its inputs say `purpose: transfer`) scores one target model with the clean prompt and with the prompt
that one source attack unit found (an expert's, or a plain merge's), on the rows that source attack used. One row
of the table is one (pair, dataset, attack, search, source model, target model): the target's clean metric, its
attacked metric and PDR under the source's prompts, each the mean over attack seeds with
`robustness.stats.arm_bootstrap`'s 95% interval; next to them the target's own attack (same rows: the same seeds draw
the same rows for every model) where the store has one, and the source's attacked metric on itself.

Replays, and the experts' own attacks, stay out of every other table (`table_attacks`).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from reports.attack_curve import method_text, owners, replicates
from reports.document import Table
from reports.formatting import keys_cell, num, per_seed, value_interval
from reports.table3 import DATASET_ORDER, group_label
from reports.variants import ATTACK_ORDER
from robustness.experiment.kinds.attack import TRANSFER
from robustness.stats import BootstrapInterval, arm_bootstrap, arm_values, derived_seed

REFERENCE_METHODS = ("expert", "base")
COLUMNS = [
    "pair", "dataset", "attack", "search", "metric_name", "source_model_id", "model_id", "target", "clean",
    "clean_low", "clean_high", "attacked", "attacked_low", "attacked_high", "pdr", "pdr_low", "pdr_high",
    "own_attacked", "own_attacked_low", "own_attacked_high", "own_pdr", "own_pdr_low", "own_pdr_high",
    "source_attacked", "resamples", "n_seeds", "samples_per_seed", "n_rows", "note", "unit_keys", "source_keys",
]  # fmt: skip
CELL = ["dataset", "attack", "search"]


def is_transfer(inputs: Any) -> bool:
    """Whether a stored attack unit's inputs mark it as a transfer replay."""
    return isinstance(inputs, dict) and inputs.get("purpose") == TRANSFER


def _has_purpose(inputs: Any) -> bool:
    """A unit kept apart from the tables' attacks: the attacked lambda curve's, or a replay."""
    return isinstance(inputs, dict) and inputs.get("purpose") is not None


def table_attacks(attacks: pd.DataFrame) -> pd.DataFrame:
    """The attack rows the other tables read: without transfer replays and without the references' own attacks
    (experts attacked as transfer sources), which only the transfer table shows."""
    if attacks.empty or "inputs" not in attacks:
        return attacks
    keep = ~attacks["inputs"].map(is_transfer).astype(bool) & ~attacks["method"].isin(REFERENCE_METHODS)
    return attacks[keep].reset_index(drop=True)


def replays(attacks: pd.DataFrame) -> pd.DataFrame:
    """The transfer replays among a run's attack rows."""
    if attacks.empty or "inputs" not in attacks:
        return attacks.iloc[:0]
    return attacks[attacks["inputs"].map(is_transfer).astype(bool)].reset_index(drop=True)


def _target_text(first: pd.Series, setting_of: dict[str, tuple[str, bool]]) -> str:
    model_id = str(first["model_id"])
    if first["method"] in REFERENCE_METHODS:
        return model_id.replace("expert/", "expert: ")
    setting = setting_of.get(model_id, (str(first["method"]), False))[0]
    return method_text(str(first["method"]), setting) + (" + M3" if bool(first["m3"]) else "")


def _estimates(prefix: str, iv: dict[str, BootstrapInterval], quantities: tuple[str, ...]) -> dict[str, Any]:
    return {
        f"{prefix}{q}{suffix}": getattr(iv[q], field)
        for q in quantities
        for suffix, field in (("", "estimate"), ("_low", "low"), ("_high", "high"))
    }


def _note(iv: BootstrapInterval) -> str:
    if iv.estimate is None:
        return "PDR undefined: a clean metric <= 0 on some seed"
    if iv.withheld:
        return f"no PDR interval: undefined in {iv.skipped}/{iv.resamples} resamples"
    return ""


def transfer_rows(attacks: pd.DataFrame, selection: pd.DataFrame, resamples: int, seed: int) -> pd.DataFrame:
    """One row per (pair, dataset, attack, search, source model, target model) of the run's replays."""
    by_key = attacks.set_index("key")
    found = replays(attacks)
    missing = found[~found["source_key"].isin(by_key.index)] if len(found) else found
    if len(missing):
        raise ValueError(f"transfer replay {missing['key'].iloc[0]}: its source attack {missing['source_key'].iloc[0]} "
                         "is not among the run's attack results; rerun the study to store it")  # fmt: skip
    if found.empty:
        return pd.DataFrame(columns=COLUMNS)
    own_rows = attacks[~attacks["inputs"].map(_has_purpose).astype(bool)]  # not the curve's, not replays
    setting_of = owners(selection)
    source_of = {k: (str(by_key.loc[k, "model_id"]), str(by_key.loc[k, "pair"])) for k in set(found["source_key"])}
    # An expert target's record names no pair (it is a reference): the replay's pair is its source's.
    keyed = zip(found["pair"], found["source_key"], strict=True)
    pairs = [p if p != "reference" else source_of[k][1] for p, k in keyed]
    found = found.assign(_source=[source_of[k][0] for k in found["source_key"]], _pair=pairs)
    rows = []
    for (pair, dataset, attack, search, source, model_id), g in found.groupby(
        ["_pair", "dataset", "attack", "search", "_source", "model_id"], sort=True
    ):
        first = g.iloc[0]
        metric_name = str(first["metric_name"])
        name = ("transfer", str(pair), str(source), str(model_id), str(dataset), str(attack), str(search))
        iv = arm_bootstrap(replicates(g), metric_name, resamples, derived_seed(seed, *name))
        cell = (own_rows["dataset"] == dataset) & (own_rows["attack"] == attack) & (own_rows["search"] == search)
        own = own_rows[cell & (own_rows["model_id"] == model_id)]
        own_iv = {}
        if len(own):
            own_iv = arm_bootstrap(replicates(own), metric_name, resamples, derived_seed(seed, "own", *name[1:]))
        sources = by_key.loc[list(g["source_key"])].reset_index()
        rows.append(
            {
                "pair": pair,
                "dataset": dataset,
                "attack": attack,
                "search": search,
                "metric_name": metric_name,
                "source_model_id": source,
                "model_id": model_id,
                "target": _target_text(first, setting_of),
                **_estimates("", iv, ("clean", "attacked", "pdr")),
                **(_estimates("own_", own_iv, ("attacked", "pdr")) if len(own) else {}),
                "source_attacked": arm_values(replicates(sources), metric_name)["attacked"],
                "resamples": resamples,
                "n_seeds": len(g),
                "samples_per_seed": per_seed(len(i) for i in g["indices"]),
                "n_rows": len({int(i) for indices in g["indices"] for i in indices}),
                "note": _note(iv["pdr"]),
                "unit_keys": keys_cell(g["key"]),
                "source_keys": keys_cell(g["source_key"]),
            }
        )
    frame = pd.DataFrame(rows, columns=COLUMNS)
    order = frame.assign(
        _d=frame["dataset"].map(lambda d: DATASET_ORDER.get(d, 9)),
        _a=frame["attack"].map(lambda a: ATTACK_ORDER.get(a, len(ATTACK_ORDER))),
        _r=frame["model_id"].str.startswith("expert/"),
    )
    order = order.sort_values(["pair", "_d", "_a", "search", "source_model_id", "_r", "model_id"])
    return order.drop(columns=["_d", "_a", "_r"]).reset_index(drop=True)


def transfer_table(frame: pd.DataFrame) -> Table:
    header = ["Pair", "Cell", "Source", "Target", "Clean [95% CI]", "Attacked [95% CI]", "PDR [95% CI]",
              "Own attack: attacked", "Own attack: PDR", "Source on itself", "n", "Note"]  # fmt: skip
    show_search = frame["search"].nunique() > 1 if len(frame) else False
    rows = [
        [
            r["pair"],
            group_label(r["dataset"], r["attack"], r["search"], show_search),
            r["source_model_id"],
            r["target"],
            value_interval(r["clean"], r["clean_low"], r["clean_high"]),
            value_interval(r["attacked"], r["attacked_low"], r["attacked_high"]),
            value_interval(r["pdr"], r["pdr_low"], r["pdr_high"]),
            value_interval(r["own_attacked"], r["own_attacked_low"], r["own_attacked_high"]),
            value_interval(r["own_pdr"], r["own_pdr_low"], r["own_pdr_high"]),
            num(r["source_attacked"]),
            f"{r['n_seeds']} × {r['samples_per_seed']} ({r['n_rows']} rows)",
            r["note"],
        ]
        for r in frame.to_dict("records")
    ]
    return Table("transfer", "Transfer attacks: each source's found prompts replayed on the other models", frame,
                 header, rows, TRANSFER_NOTES)  # fmt: skip


def transfer_sizes(frame: pd.DataFrame) -> list[str]:
    """The sample-size line of the transfer replays (none when transfer is off)."""
    if frame.empty:
        return []
    return [
        f"Transfer attacks: {len(frame)} (source, target, cell) rows from "
        f"{sum(int(n) for n in frame['n_seeds'])} replays, sources {sorted(set(frame['source_model_id']))}"
    ]


TRANSFER_NOTES = [
    "Whether a model inherits its parents' adversarial prompts. Source: the model an attack searched against (a "
    "pair's expert, or the plain merge of a method); each seed's found prompt is scored unchanged on the target, on "
    "the rows that source attack used (no search on the target). Clean, attacked and PDR: the target's, mean over "
    "attack seeds. Own attack: the target's own search on the same rows and seeds (every merged target has one; an "
    "expert only when experts are sources; — where none). Source on itself: the source's attacked metric under its "
    "own prompts.",
    "95% CI: percentile bootstrap over the distinct rows, resampled jointly across seeds, a row's clean and attacked "
    "prediction together (robustness.stats.arm_bootstrap). It covers row sampling only and is conditional on the "
    "prompts the source's seeds found: with few seeds it cannot say how another seed's prompt would transfer. n = "
    "seeds × rows per seed (distinct rows).",
    "What it cannot show: the prompts were found against another model, so a transferred drop says how much of that "
    "attack carries over, not how vulnerable the target is (an attack searching against the target usually finds "
    "more: compare Own attack), and a small drop says these prompts did not transfer, not that the target is "
    "robust. Intervals are per table row, not simultaneous over the table; no test is made and none of it is in "
    "Holm's family.",
]

"""The attacked lambda curve: every M3 candidate (all alphas x draws) and the plain merge, attacked on the curve rows
(`attacks[i].curve_n`), with a 95% interval at each point.

Its attack units are kept apart from the tables' (their inputs say `purpose: curve`): they attack a smaller sample
of the report rows and every candidate, not only the chosen one, so they never enter Table 3 or the effects. A point
is one model on one (dataset, attack, search) cell: the clean metric on the curve rows, the attacked metric and the
PDR, each the mean over attack seeds, with `robustness.stats.arm_bootstrap`'s intervals (README, "The attacked
lambda curve and M3 over draws"). The plain merge of the same configured method is the curve's reference line.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from reports.curves import method_text
from reports.document import Table
from reports.formatting import keys_cell, num, per_seed, value_interval
from reports.table3 import DATASET_ORDER, group_label, size_text
from reports.variants import ATTACK_ORDER, METHOD_ORDER, recorded_setting
from robustness.attacks.recipes import seed_changes_attack
from robustness.experiment.kinds.attack import CURVE
from robustness.experiment.planning.models import plain_model_id
from robustness.stats import ArmRun, BootstrapInterval, arm_bootstrap, derived_seed

POINT_COLUMNS = [
    "pair", "method", "setting", "dataset", "attack", "search", "metric_name", "model_id", "m3", "alpha", "draw",
    "lambda", "chosen", "clean", "clean_low", "clean_high", "attacked", "attacked_low", "attacked_high", "pdr",
    "pdr_low", "pdr_high", "resamples", "pdr_resamples_used", "n_seeds", "samples_per_seed", "n_rows",
    "attack_seeds", "note", "unit_keys",
]  # fmt: skip
CELL = ["pair", "method", "setting", "dataset", "attack", "search"]


def is_curve(inputs: Any) -> bool:
    """Whether a stored attack unit's inputs mark it as one of the attacked lambda curve's."""
    return isinstance(inputs, dict) and inputs.get("purpose") == CURVE


def split_curve(attacks: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the tables' attack rows, the curve's attack rows) of a run's attack frame."""
    if attacks.empty or "inputs" not in attacks:
        return attacks, attacks.iloc[:0]
    curve = attacks["inputs"].map(is_curve).astype(bool)
    return attacks[~curve].reset_index(drop=True), attacks[curve].reset_index(drop=True)


def owners(selection: pd.DataFrame) -> dict[str, tuple[str, bool]]:
    """Model id -> (its configured method's name, whether selection carried it forward), for every candidate a
    selection record lists and the plain merge of the same setting."""
    out: dict[str, tuple[str, bool]] = {}
    for r in selection.sort_values("key").itertuples(index=False) if len(selection) else []:
        setting = recorded_setting(r) or str(r.method)
        for cand in r.candidates:
            out[str(cand["model_id"])] = (setting, cand["model_id"] == r.chosen_model_id)
        out[plain_model_id(str(r.pair), setting)] = (setting, False)
    return out


def replicates(rows: pd.DataFrame) -> dict[str, ArmRun]:
    """One model's attack rows on one cell as the statistics' replicates (prompt, seed)."""
    out: dict[str, ArmRun] = {}
    for r in rows.itertuples(index=False):
        name = f"{r.prompt}/seed={int(r.seed)}"
        if name in out:
            raise ValueError(
                f"{r.model_id}: two curve results for replicate {name} ({r.key}); the store is inconsistent"
            )
        out[name] = ArmRun(r.indices, r.labels, r.clean_predictions, r.attacked_predictions)
    return out


def _optional(x: Any) -> float | None:
    return None if x is None or pd.isna(x) else float(x)


def _pdr_note(iv: BootstrapInterval) -> str:
    if iv.estimate is None:
        return "PDR undefined: a clean metric <= 0 on some seed"
    if iv.withheld:
        return f"no PDR interval: undefined in {iv.skipped}/{iv.resamples} resamples (clean metric near 0)"
    if iv.skipped:
        return f"PDR undefined in {iv.skipped}/{iv.resamples} resamples (left out of its interval)"
    return ""


def curve_points(curve: pd.DataFrame, selection: pd.DataFrame, resamples: int, seed: int) -> pd.DataFrame:
    """One row per model and (dataset, attack, search) cell of the curve's attack rows, with the intervals."""
    if curve.empty:
        return pd.DataFrame(columns=POINT_COLUMNS)
    owner = owners(selection)
    rows = []
    for (pair, model_id, dataset, attack, search), g in curve.groupby(
        ["pair", "model_id", "dataset", "attack", "search"], sort=True
    ):
        first = g.iloc[0]
        metric_name = str(first["metric_name"])
        setting, chosen = owner.get(str(model_id), (str(first["method"]), False))
        stream = derived_seed(seed, "curve", str(pair), str(model_id), str(dataset), str(attack), str(search))
        iv = arm_bootstrap(replicates(g), metric_name, resamples, stream)
        lambdas = first["lambdas"]
        sizes = [len(i) for i in g["indices"]]
        rows.append(
            {
                "pair": pair,
                "method": first["method"],
                "setting": setting,
                "dataset": dataset,
                "attack": attack,
                "search": search,
                "metric_name": metric_name,
                "model_id": model_id,
                "m3": bool(first["m3"]),
                "alpha": _optional(first["alpha"]),
                "draw": None if _optional(first["draw"]) is None else int(first["draw"]),
                "lambda": float(lambdas[0]) if isinstance(lambdas, list) and lambdas else None,
                "chosen": chosen,
                **{
                    f"{q}{suffix}": getattr(iv[q], field)
                    for q in ("clean", "attacked", "pdr")
                    for suffix, field in (("", "estimate"), ("_low", "low"), ("_high", "high"))
                },
                "resamples": resamples,
                "pdr_resamples_used": iv["pdr"].used,
                "n_seeds": len(g),
                "samples_per_seed": per_seed(sizes),
                "n_rows": len({int(i) for indices in g["indices"] for i in indices}),
                "attack_seeds": seed_changes_attack(str(attack), str(search)),
                "note": _pdr_note(iv["pdr"]),
                "unit_keys": keys_cell(g["key"]),
            }
        )
    frame = pd.DataFrame(rows, columns=POINT_COLUMNS)
    order = frame.assign(
        _m=frame["method"].map(lambda m: METHOD_ORDER.get(m, len(METHOD_ORDER))),
        _d=frame["dataset"].map(lambda d: DATASET_ORDER.get(d, 9)),
        _a=frame["attack"].map(lambda a: ATTACK_ORDER.get(a, len(ATTACK_ORDER))),
        _l=frame["lambda"].astype(float).fillna(-1.0),
    )
    order = order.sort_values(["pair", "_m", "setting", "_d", "_a", "search", "m3", "_l", "model_id"])
    return order.drop(columns=["_m", "_d", "_a", "_l"]).reset_index(drop=True)


def curve_sizes(curve: pd.DataFrame) -> list[str]:
    """The sample-size line of the curve's attack rows (none when the curve is off)."""
    if curve.empty:
        return []
    cells = curve.groupby(["model_id", "dataset", "attack", "search"])
    return [
        f"Attacked lambda curve: {len(curve)} results, {curve['model_id'].nunique()} models (M3 candidates and "
        f"plain merges), {len(cells)} (model, cell) points, {per_seed(len(i) for i in curve['indices'])} rows "
        f"per seed, seeds {sorted({int(s) for s in curve['seed']})}"
    ]


def curve_provenance(curve: pd.DataFrame, resamples: int) -> list[str]:
    """How the curve's intervals were computed (none when the curve is off)."""
    if curve.empty:
        return []
    return [
        f"Attacked lambda curve: {resamples} resamples per point of the model's distinct rows, jointly across seeds, "
        "clean and attacked prediction of a row together (robustness.stats.arm_bootstrap); percentile 95% "
        "interval; each point's stream derived from the report seed and the point's name. No test is made on the "
        "curve and it is not in Holm's family."
    ]


def groups(points: pd.DataFrame) -> list[tuple[str, str]]:
    """(pair, configured method) of every curve, in the report's order (one figure each)."""
    return list(dict.fromkeys(zip(points["pair"], points["setting"], strict=True)))


def figure_name(pair: str, setting: str) -> str:
    """The file stem of one curve's figure: `attack_curve_sst2_cola_task_arithmetic`."""
    return "attack_curve_" + re.sub(r"[^A-Za-z0-9]+", "_", f"{pair}_{setting}").strip("_").lower()


def _model_text(r: dict[str, Any]) -> str:
    if not r["m3"]:
        return "plain"
    return "M3" if r["draw"] is None or pd.isna(r["draw"]) else f"M3 draw {int(r['draw'])}"


def curve_table(points: pd.DataFrame) -> Table:
    header = ["Pair", "Method", "Cell", "Model", "α", "λ", "Chosen", "Clean [95% CI]", "Attacked [95% CI]",
              "PDR [95% CI]", "n", "Note"]  # fmt: skip
    show_search = points["search"].nunique() > 1 if len(points) else False
    rows = [
        [
            r["pair"],
            method_text(r["method"], r["setting"]),
            group_label(r["dataset"], r["attack"], r["search"], show_search),
            _model_text(r),
            "" if r["alpha"] is None or pd.isna(r["alpha"]) else f"{r['alpha']:g}",
            num(r["lambda"]),
            "yes" if r["chosen"] else "",
            value_interval(r["clean"], r["clean_low"], r["clean_high"]),
            value_interval(r["attacked"], r["attacked_low"], r["attacked_high"]),
            value_interval(r["pdr"], r["pdr_low"], r["pdr_high"]),
            size_text(pd.Series(r)),
            r["note"],
        ]
        for r in points.to_dict("records")
    ]
    return Table("attack_curve", "Attacked lambda curve: every M3 candidate and the plain merge", points, header,
                 rows, CURVE_NOTES)  # fmt: skip


CURVE_NOTES = [
    "Every M3 candidate of a method (all α × draws) and its plain merge, attacked on the same rows: per attack seed "
    "a seeded sample of curve_n report rows, the same for every model (the tables' attacks use their own n rows). "
    "Clean: the metric on those rows with the clean prompt; attacked and PDR as in Table 3, mean over seeds. "
    "λ: the first model's weight.",
    "95% CI: percentile bootstrap over the distinct rows, resampled jointly across seeds (a row's clean prediction "
    "is the same in every seed). A drawn row brings its clean and its attacked prediction together, so the PDR "
    "interval keeps each row's pairing of the two. It covers row sampling and is conditional on the attacked "
    "prompts each seed found. The intervals are per point, not simultaneous over the curve: among many candidates "
    "some miss by chance, and the highest point of a curve is an optimistic pick.",
    "Chosen: the candidate selection carried forward, ranked on the selection rows only (disjoint from these rows). "
    "n = seeds × rows per seed (distinct rows); † the attack ignores its seed, so its seeds only drew rows.",
]

"""A hand-made store with the attacked lambda curve on, for the curve's and the draw table's report tests.

One pair, Task Arithmetic: the plain merge and four M3 candidates (alpha 1 with three draws at lambda 0.2, 0.5 and
0.8; alpha 2 with one draw at 0.6), every one attacked with the curve's units (`purpose: curve`) on the same rows:
SST-2 StressTest (seed 0, 10 rows), SST-2 DeepWordBug (seeds 0 and 1, 10 rows each, 5 shared) and CoLA StressTest
(seed 0, 12 rows; the plain merge answers one label there, so its PDR is undefined). The tables' own attacks (no
purpose) exist for the plain merge and the chosen candidate only, on other rows and with other numbers, so a
curve unit that leaked into Table 3 would show. Numbers are counts of right answers, so every point is known.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from robustness.store import Store, unit_key
from tests.reports.synthetic import right_on

PAIR = "sst2+cola"
PLAIN = f"{PAIR}/task_arithmetic"
# (alpha, draw, lambda); alpha 1 draw 1 is chosen
CANDIDATES = ((1.0, 0, 0.2), (1.0, 1, 0.5), (1.0, 2, 0.8), (2.0, 0, 0.6))
CHOSEN = f"{PLAIN}+m3/a1-d1"
SELECTION = {  # per candidate, in CANDIDATES' order: selection-row metrics and the criterion's score
    "sst2": (0.70, 0.90, 0.80, 0.75),
    "cola": (0.30, 0.40, 0.20, 0.35),
    "score": (0.50, 0.70, 0.60, 0.55),
}
# Right answers out of 10 SST-2 rows: clean, attacked under StressTest, attacked under DeepWordBug seeds 0 and 1.
SST2 = {
    PLAIN: (8, 5, (5, 3)),
    f"{PLAIN}+m3/a1-d0": (7, 4, (4, 2)),
    f"{PLAIN}+m3/a1-d1": (9, 7, (7, 5)),
    f"{PLAIN}+m3/a1-d2": (8, 6, (6, 6)),
    f"{PLAIN}+m3/a2-d0": (8, 5, (5, 5)),
}
ROWS = {
    ("sst2", "stresstest", 0): list(range(100, 110)),
    ("sst2", "deepwordbug", 0): list(range(200, 210)),
    ("sst2", "deepwordbug", 1): list(range(205, 215)),
    ("cola", "stresstest", 0): list(range(300, 312)),
}
TABLE_ROWS = list(range(400, 410))  # the tables' own StressTest rows
TABLE_SST2 = {PLAIN: (8, 5), CHOSEN: (9, 9)}  # (clean, attacked) right answers there


def model_ids() -> list[str]:
    return [PLAIN, *(f"{PLAIN}+m3/a{a:g}-d{d}" for a, d, _ in CANDIDATES)]


def identity(model_id: str) -> dict[str, Any]:
    if model_id == PLAIN:
        return {"model_id": PLAIN, "method": "task_arithmetic", "m3": False, "pair": PAIR}
    alpha, draw, lam = next(c for c in CANDIDATES if model_id.endswith(f"a{c[0]:g}-d{c[1]}"))
    return {"model_id": model_id, "method": "task_arithmetic", "m3": True, "alpha": alpha, "draw": draw,
            "lambdas": [lam, round(1 - lam, 10)], "m3_convention": "official", "pair": PAIR}  # fmt: skip


def attack(model_id: str, dataset: str, name: str, seed: int, rows: list[int], clean: list[int],
           attacked: list[int], labels: list[int], who: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    """One attack record; `who`: the model's identity fields (default: this store's `identity` of `model_id`)."""
    from robustness.metrics import METRICS, pdr

    metric = "accuracy" if dataset == "sst2" else "mcc"
    c, a = METRICS[metric](labels, clean), METRICS[metric](labels, attacked)
    return (who or identity(model_id)) | {
        "dataset": dataset, "prompt": "p0", "attack": name, "search": "paper", "seed": seed, "metric_name": metric,
        "clean_metric": c, "attacked_metric": a, "pdr": pdr(c, a), "attacked_prompt": "p0 attacked", "queries": 3,
        "indices": rows, "labels": labels, "clean_predictions": clean, "attacked_predictions": attacked,
    }  # fmt: skip


def sst2_labels(rows: list[int]) -> list[int]:
    return [i % 2 for i in rows]


def cola_labels(rows: list[int]) -> list[int]:
    return [1 if i % 3 else 0 for i in rows]


def put_attack(store: Store, record: dict[str, Any], curve: bool) -> str:
    inputs = {k: record[k] for k in ("model_id", "dataset", "attack", "seed")} | {"rows": record["indices"]}
    if curve:
        inputs["purpose"] = "curve"
    label = f"{record['model_id']}/{record['dataset']}/{record['attack']}/{record['seed']}" + (
        "/curve" if curve else ""
    )
    key = unit_key("attack", inputs, label)
    store.put(key, "attack", inputs, record)
    return key


def build(run_dir: Path) -> dict[str, str]:
    """Write the store; returns the curve units' keys by (model id, dataset, attack, seed) and the tables' keys."""
    keys: dict[str, str] = {}
    with Store.create_or_resume(run_dir, {"name": "curve"}) as store:
        for model_id in model_ids():
            clean_k, stress_k, dwb_k = SST2[model_id]
            cells = [("sst2", "stresstest", 0, clean_k, stress_k), ("sst2", "deepwordbug", 0, clean_k, dwb_k[0]),
                     ("sst2", "deepwordbug", 1, clean_k, dwb_k[1])]  # fmt: skip
            for dataset, name, seed, ck, ak in cells:
                rows = ROWS[(dataset, name, seed)]
                labels = sst2_labels(rows)
                record = attack(model_id, dataset, name, seed, rows, right_on(labels, ck), right_on(labels, ak), labels)
                keys[f"{model_id}/{dataset}/{name}/{seed}"] = put_attack(store, record, curve=True)
            rows = ROWS[("cola", "stresstest", 0)]
            labels = cola_labels(rows)
            clean = [1] * len(rows) if model_id == PLAIN else right_on(labels, 11)
            record = attack(model_id, "cola", "stresstest", 0, rows, clean, right_on(labels, 8), labels)
            keys[f"{model_id}/cola/stresstest/0"] = put_attack(store, record, curve=True)
        for model_id, (ck, ak) in TABLE_SST2.items():
            labels = sst2_labels(TABLE_ROWS)
            record = attack(model_id, "sst2", "stresstest", 0, TABLE_ROWS, right_on(labels, ck), right_on(labels, ak),
                            labels)  # fmt: skip
            keys[f"table/{model_id}"] = put_attack(store, record, curve=False)
        candidates = []
        for k, (alpha, draw, _) in enumerate(CANDIDATES):
            who = identity(f"{PLAIN}+m3/a{alpha:g}-d{draw}")
            candidates.append({k2: who[k2] for k2 in ("model_id", "alpha", "lambdas", "draw")}
                              | {"metrics": {d: SELECTION[d][k] for d in ("sst2", "cola")},
                                 "score": SELECTION["score"][k]})  # fmt: skip
        inputs = {"pair": PAIR, "method": "task_arithmetic", "candidates": [c["model_id"] for c in candidates]}
        record = {"pair": PAIR, "method": "task_arithmetic", "m3_convention": "official",
                  "criterion": "mean normalised gain", "criterion_name": "normalised_gain", "chosen_model_id": CHOSEN,
                  "candidates": candidates}  # fmt: skip
        store.put(unit_key("selection", inputs, PLAIN), "selection", inputs, record)
    return keys
